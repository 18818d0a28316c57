"""Output made here from the job's records (`sqlfluff lint --format json`'s, one per file):
`human` (as `sqlfluff lint` prints), `json`, `github-annotation-native` and `gitlab` (Code
Quality). SARIF, JUnit, CSV and HTML come from the service's `/report`."""

import hashlib
import json
from collections import Counter
from typing import Any

Record = dict[str, Any]
LOCAL_FORMATS = ("human", "json", "github-annotation-native", "gitlab")
REPORT_FORMATS = ("sarif", "junit", "csv", "html")
FORMATS = LOCAL_FORMATS + REPORT_FORMATS
# SQLFluff's `output_line_length` default: the description wraps at 80 - 25 characters.
OUTPUT_LINE_LENGTH = 80


def _split_on_spaces(text: str, line_length: int) -> list[str]:
    """SQLFluff's `split_string_on_spaces` (sqlfluff/cli/formatters.py)."""
    lines: list[str] = []
    buffer = ""
    for token in text.split(" "):
        if buffer:
            if len(buffer) + len(token) > line_length:
                lines.append(buffer)
                buffer = token
            else:
                buffer += " " + token
        else:
            buffer = token
    if buffer:
        lines.append(buffer)
    return lines


def _violation_lines(v: Record) -> str:
    line = "   -" if v.get("start_line_no") is None else f"{v['start_line_no']:4d}"
    pos = "   -" if v.get("start_line_pos") is None else f"{v['start_line_pos']:4d}"
    desc = ("WARNING: " if v.get("warning") else "") + v["description"]
    if v.get("name"):
        desc += f" [{v['name']}]"
    out = ""
    for i, part in enumerate(_split_on_spaces(desc, OUTPUT_LINE_LENGTH - 25)):
        out += f"L:{line} | P:{pos} | {v['code'].rjust(4)} | " if i == 0 else "\n" + " " * 23 + "| "
        out += part
    return out


def human(records: list[Record]) -> str:
    """What `sqlfluff lint` prints (without colour), file by file in path order."""
    out: list[str] = []
    for record in sorted(records, key=lambda r: r["filepath"]):
        violations = record["violations"]
        if not violations:
            continue
        fails = sum(1 for v in violations if not v.get("warning"))
        out.append(f"== [{record['filepath']}] {'FAIL' if fails else 'PASS'}")
        ordered = sorted(violations, key=lambda v: (v["start_line_no"], v["start_line_pos"]))
        out += [_violation_lines(v) for v in ordered]
    out.append("All Finished!")
    return "\n".join(out) + "\n"


def as_json(records: list[Record]) -> str:
    """`sqlfluff lint --format json`: the records, in path order."""
    return json.dumps(sorted(records, key=lambda r: r["filepath"]))


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(records: list[Record], level: str = "warning") -> str:
    """GitHub's workflow commands, as `sqlfluff lint --format github-annotation-native` writes
    them (escaped as GitHub documents); warnings are notices."""
    level = "error" if level == "failure" else level
    out: list[str] = []
    for record in sorted(records, key=lambda r: r["filepath"]):
        if not record["violations"]:
            continue
        path = record["filepath"]
        out.append(f"::group::{_escape_data(path)}")
        for v in record["violations"]:
            props = f"title=SQLFluff,file={_escape_property(path)}"
            props += f",line={v['start_line_no']},col={v['start_line_pos']}"
            if v.get("end_line_no") is not None:
                props += f",endLine={v['end_line_no']}"
            if v.get("end_line_pos") is not None:
                props += f",endColumn={v['end_line_pos']}"
            message = f"{v['code']}: {v['description']}"
            if v.get("name"):
                message += f" [{v['name']}]"
            kind = "notice" if v.get("warning") else level
            out.append(f"::{kind} {props}::{_escape_data(message)}")
        out.append("::endgroup::")
    return "\n".join(out) + ("\n" if out else "")


def gitlab(violations: list[Record], prefix: str) -> str:
    """GitLab Code Quality (a JSON array of issues), from the service's violation rows.

    The fingerprint is the file, rule, description and how many times that triple came before:
    it survives lines moving, so GitLab shows an issue as the same one across merge requests.
    """
    seen: Counter = Counter()
    issues = []
    for v in sorted(violations, key=lambda v: (v["file_name"], v["start_line"], v["start_pos"])):
        path = f"{prefix}/{v['file_name']}" if prefix else v["file_name"]
        key = (path, v["rule_code"], v["description"])
        seen[key] += 1
        fingerprint = hashlib.md5(  # noqa: S324 - an identifier, not a secret
            "\0".join((*key, str(seen[key]))).encode()
        ).hexdigest()
        end = v.get("end_line") or v["start_line"]
        issues.append(
            {
                "type": "issue",
                "check_name": v["rule_code"],
                "description": f"{v['rule_code']}: {v['description']}",
                "categories": ["Style"],
                "severity": v["severity"].lower(),
                "fingerprint": fingerprint,
                "location": {
                    "path": path,
                    "lines": {"begin": v["start_line"], "end": max(end, v["start_line"])},
                },
            }
        )
    return json.dumps(issues, indent=1)
