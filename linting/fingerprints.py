"""Fingerprints of findings: the same finding keeps its fingerprint when lines are added or
removed above it, so a job can be compared with a baseline job by fingerprint, not by line.

A fingerprint hashes the file's path, the rule code, the normalised text of the offending
segment and its neighbourhood (the whole offending line or lines, whitespace runs collapsed),
and the finding's rank among identical ones in the file (two equal findings stay two). Lines
around the offending one are left out on purpose: fixing a finding on the next line must not
turn an untouched finding into a new one.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def decode_source(data: bytes) -> list[str]:
    """The lines of a source file as SQLFluff numbers them. Bytes that are not UTF-8 (GBK,
    Latin-1) are replaced the same way on every run: only stability matters here."""
    return data.decode("utf-8-sig", errors="replace").splitlines()


def _segment(lines: Sequence[str], v: dict[str, Any]) -> tuple[str, str]:
    """The offending segment and its lines, normalised; empty when SQLFluff gave no place."""
    start = int(v.get("start_line_no") or 0)
    end = int(v.get("end_line_no") or start)
    if start < 1 or start > len(lines):
        return "", ""
    end = min(max(end, start), len(lines))
    around = "\n".join(lines[start - 1 : end])
    first = int(v.get("start_line_pos") or 1) - 1
    last = v.get("end_line_pos")
    if end == start and last is not None:
        segment = lines[start - 1][first : max(int(last) - 1, first + 1)]
    else:
        segment = lines[start - 1][first:]
    return normalise(segment), normalise(around)


def fingerprints(
    file_name: str, lines: Sequence[str], violations: Iterable[dict[str, Any]]
) -> list[str]:
    """One fingerprint per violation, in the order given (SQLFluff's: by position)."""
    seen: Counter[str] = Counter()
    out: list[str] = []
    for v in violations:
        segment, around = _segment(lines, v)
        base = "\x1f".join((file_name, str(v.get("code") or ""), segment, around))
        rank = seen[base]
        seen[base] += 1
        out.append(hashlib.sha1(f"{base}\x1f{rank}".encode(), usedforsecurity=False).hexdigest())
    return out
