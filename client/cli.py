"""`sqlfluff-service submit PATH`: send a .sql file, a .zip or a folder to the service, wait for
the job, print a report, and exit non-zero when violations at or above a severity exist (for CI).

Exit codes: 0 no violations at or above --fail-on; 1 there are; 2 the job or the request failed.
"""

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

SEVERITIES = ("INFO", "MINOR", "MAJOR", "CRITICAL", "BLOCKER")
FINAL = {"COMPLETED", "PARTIALLY_COMPLETED", "FAILED"}
FORMATS = ("json", "sarif", "junit", "csv", "html")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqlfluff-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", help="lint a .sql file, a .zip or a folder of .sql files")
    submit.add_argument("path", type=Path)
    submit.add_argument("--api", default="http://127.0.0.1:8000", help="the service's base URL")
    submit.add_argument("--dialect")
    submit.add_argument("--templater", choices=("raw", "jinja", "placeholder", "python"))
    submit.add_argument("--rules", help="comma-separated rule codes")
    submit.add_argument("--exclude-rules", help="comma-separated rule codes")
    submit.add_argument("--config", type=Path, help="a .sqlfluff file for the whole job")
    submit.add_argument("--fix", action="store_true", help="also compute fixes")
    submit.add_argument("--submitter", help="recorded on the job")
    submit.add_argument("--wait", action="store_true", help="wait for the job to end")
    submit.add_argument("--format", choices=FORMATS, default="json", help="report to print")
    submit.add_argument("--output", type=Path, help="write the report here instead of stdout")
    submit.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="MAJOR",
        help="exit 1 when violations of this severity or worse exist (with --wait)",
    )
    submit.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")
    submit.add_argument("--api-key", help="the service's API key (or SQLFLUFF_SERVICE_API_KEY)")
    return parser


def _payload(path: Path) -> tuple[str, bytes]:
    """The upload's file name and bytes; a folder is zipped on the fly."""
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(path).as_posix())
        return f"{path.resolve().name or 'folder'}.zip", buffer.getvalue()
    return path.name, path.read_bytes()


def submit(args: argparse.Namespace, http: httpx.Client, err: Console) -> str:
    name, data = _payload(args.path)
    form = {
        "dialect": args.dialect,
        "templater": args.templater,
        "rules": args.rules,
        "exclude_rules": args.exclude_rules,
        "config": args.config.read_text() if args.config else None,
        "fix": "true" if args.fix else None,
        "submitter": args.submitter,
    }
    response = http.post(
        "/jobs/upload",
        data={k: v for k, v in form.items() if v is not None},
        files={"file": (name, data)},
    )
    if response.status_code != 202:
        raise SystemExit(_fail(err, f"rejected ({response.status_code}): {_detail(response)}"))
    job_id: str = response.json()["job_id"]
    err.print(f"job {job_id} accepted")
    return job_id


def wait(http: httpx.Client, job_id: str, timeout: float, err: Console) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        bar = progress.add_task("linting", total=None)
        while True:
            response = http.get(f"/jobs/{job_id}/summary")
            if response.status_code != 200:
                raise SystemExit(_fail(err, f"cannot read the job: {_detail(response)}"))
            summary: dict[str, Any] = response.json()
            done, total = summary["progress"]["done"], summary["progress"]["total"]
            progress.update(bar, completed=done, total=total or None)
            progress.update(bar, description=summary["job_status"].lower())
            if summary["job_status"] in FINAL:
                return summary
            if time.monotonic() > deadline:
                raise SystemExit(_fail(err, f"job {job_id} not finished after {timeout:g} s"))
            time.sleep(0.5)


def report(http: httpx.Client, job_id: str, fmt: str, summary: dict[str, Any]) -> bytes:
    """The report to print; `json` is the final summary already read."""
    if fmt == "json":
        return json.dumps(summary).encode()
    response = http.get(f"/jobs/{job_id}/report", params={"format": fmt})
    response.raise_for_status()
    return response.content


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]


def _fail(err: Console, message: str) -> int:
    err.print(f"[red]error:[/red] {message}")
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True)
    if not args.path.exists():
        return _fail(err, f"{args.path} does not exist")
    try:
        key = args.api_key or os.environ.get("SQLFLUFF_SERVICE_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with httpx.Client(base_url=args.api, timeout=60, headers=headers) as http:
            job_id = submit(args, http, err)
            if not args.wait:
                print(job_id)
                return 0
            summary = wait(http, job_id, args.timeout, err)
            body = report(http, job_id, args.format, summary)
    except httpx.HTTPError as exc:
        return _fail(err, f"the service at {args.api} did not answer: {exc}")
    if args.output:
        args.output.write_bytes(body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    if summary["job_status"] == "FAILED":
        return _fail(err, f"job FAILED: {summary['error_message']}")
    threshold = SEVERITIES.index(args.fail_on)
    blocking = sum(n for s, n in summary["by_severity"].items() if SEVERITIES.index(s) >= threshold)
    err.print(
        f"{summary['job_status']}: {summary['violations_total']} violation(s), "
        f"{blocking} at {args.fail_on} or worse"
    )
    return 1 if blocking else 0


if __name__ == "__main__":
    raise SystemExit(main())
