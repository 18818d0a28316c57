"""`resolve_under_root`: client paths must stay inside the shared root."""

import os
from pathlib import Path

import pytest

from linting.errors import SourceMissing, UnsafePath
from linting.storage import resolve_under_root, write_json


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "archives").mkdir(parents=True)
    (root / "archives/x.zip").write_bytes(b"PK")
    (tmp_path / "outside.zip").write_bytes(b"PK")
    os.symlink(tmp_path / "outside.zip", root / "archives/escape.zip")
    os.symlink(root / "archives/x.zip", root / "archives/inside.zip")
    return root


def test_plain_relative_path(root: Path) -> None:
    assert resolve_under_root(root, "archives/x.zip") == root / "archives/x.zip"


def test_symlink_inside_root_is_followed(root: Path) -> None:
    assert resolve_under_root(root, "archives/inside.zip") == root / "archives/x.zip"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("../outside.zip", "escapes"),
        ("archives/../../outside.zip", "escapes"),
        ("/etc/passwd", "relative"),
        ("C:/x.zip", "relative"),
        ("archives/escape.zip", "outside the shared root"),
        ("", "invalid path"),
    ],
)
def test_unsafe_paths(root: Path, path: str, fragment: str) -> None:
    with pytest.raises(UnsafePath, match=fragment):
        resolve_under_root(root, path)


def test_missing_file(root: Path) -> None:
    with pytest.raises(SourceMissing, match="archives/none.zip"):
        resolve_under_root(root, "archives/none.zip")


def test_write_json_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a/b/r.json"
    write_json(target, [{"x": 1}])
    write_json(target, [{"x": 2}])
    assert target.read_text() == '[{"x": 2}]'
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
