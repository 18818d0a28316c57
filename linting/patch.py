"""One patch for a whole `fix` job: a git-style unified diff of every file SQLFluff changed,
built from the submitted bytes and the fixed bytes, so `git apply` on the submitted tree gives
exactly what `sqlfluff fix` writes (encodings and line endings untouched: lines are split on
LF only and kept as bytes, a CR stays part of its line, and a last line without a newline is
marked as git marks it).
"""

from collections.abc import Iterable
from difflib import SequenceMatcher
from pathlib import Path

NO_NEWLINE = b"\\ No newline at end of file\n"


def _lines(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _range(start: int, stop: int) -> str:
    # As `diff -u` and git write a hunk's range (difflib's unified format).
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _emit(prefix: bytes, line: bytes) -> bytes:
    return prefix + line if line.endswith(b"\n") else prefix + line + b"\n" + NO_NEWLINE


def file_diff(name: str, old: bytes, new: bytes, context: int = 3) -> bytes:
    """The git diff of one file from `old` to `new` (b"" when they are equal)."""
    if old == new:
        return b""
    a, b = _lines(old), _lines(new)
    path = name.encode("utf-8")
    out = [b"diff --git a/" + path + b" b/" + path + b"\n"]
    out += [b"--- a/" + path + b"\n", b"+++ b/" + path + b"\n"]
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n".encode())
        for tag, k1, k2, m1, m2 in group:
            if tag == "equal":
                out += [_emit(b" ", line) for line in a[k1:k2]]
                continue
            out += [_emit(b"-", line) for line in a[k1:k2]]
            out += [_emit(b"+", line) for line in b[m1:m2]]
    return b"".join(out)


def job_patch(files: Iterable[tuple[str, Path, Path]]) -> bytes:
    """The patch of a job from (name as submitted, submitted file, fixed file), in order; a
    file with no fixed copy is left out."""
    return b"".join(
        file_diff(name, source.read_bytes(), fixed.read_bytes())
        for name, source, fixed in files
        if fixed.is_file()
    )
