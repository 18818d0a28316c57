"""One patch for a fix job (linting/patch.py), checked with `git apply` itself on files whose
bytes are awkward: CRLF, GBK, a BOM, no newline at the end, a file emptied."""

import shutil
import subprocess
from pathlib import Path

from linting.patch import file_diff, job_patch

CASES = {
    "crlf.sql": (b"SELECT a\r\nfrom t\r\nwhere x=1\r\n", b"SELECT a\r\nFROM t\r\nWHERE x = 1\r\n"),
    "nested/gbk.sql": (
        "select '中文' as c\nfrom t\n".encode("gbk"),
        "SELECT '中文' AS c\nFROM t\n".encode("gbk"),
    ),
    "bom.sql": (b"\xef\xbb\xbfselect 1\n", b"\xef\xbb\xbfSELECT 1\n"),
    "no eol.sql": (b"select 1\nfrom t", b"SELECT 1\nFROM t\n"),
    "long.sql": (
        b"".join(b"select %d;\n" % i for i in range(40)),
        b"".join(b"select %d;\n" % i for i in range(40))
        .replace(b"select 5;", b"SELECT 5;")
        .replace(b"select 30;", b"SELECT 30;"),
    ),
    "same.sql": (b"SELECT 1\n", b"SELECT 1\n"),
    "emptied.sql": (b"\n\n", b""),
}


def _git_apply(tree: Path, patch: Path, *flags: str) -> None:
    subprocess.run(["git", "apply", *flags, str(patch)], cwd=tree, check=True, capture_output=True)


def test_git_applies_the_patch_and_gets_the_fixed_bytes(tmp_path: Path) -> None:
    submitted, fixes = tmp_path / "submitted", tmp_path / "fixes"
    files = []
    for name, (old, new) in CASES.items():
        (submitted / name).parent.mkdir(parents=True, exist_ok=True)
        (submitted / name).write_bytes(old)
        fixed = fixes / name.replace("/", "_")
        fixed.parent.mkdir(exist_ok=True)
        fixed.write_bytes(new)
        files.append((name, submitted / name, fixed))
    files.append(("failed.sql", submitted / "crlf.sql", fixes / "missing.sql"))
    patch = tmp_path / "job.diff"
    patch.write_bytes(job_patch(files))
    assert patch.read_bytes().count(b"diff --git ") == len(CASES) - 1  # same.sql is unchanged
    tree = tmp_path / "copy"
    shutil.copytree(submitted, tree)
    _git_apply(tree, patch, "--check")
    _git_apply(tree, patch)
    for name, (_, new) in CASES.items():
        assert (tree / name).read_bytes() == new, name
    # Two separate hunks for two distant changes, each with three lines of context.
    assert file_diff("long.sql", *CASES["long.sql"]).count(b"\n@@ ") == 2
    assert file_diff("same.sql", *CASES["same.sql"]) == b""
