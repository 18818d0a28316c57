"""Safe ZIP expansion on crafted archives (SPEC §8)."""

import stat
import zipfile
from pathlib import Path

import pytest

from linting.archive import ArchiveLimits, extract_archive
from linting.errors import BadArchive
from tests.support.factories import make_zip

LIMITS = ArchiveLimits(max_entries=1000, max_total_bytes=10_000_000, max_ratio=200)


def test_nested_folders_kept_and_non_sql_counted(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "a.zip",
        {
            "top.sql": b"select 1\n",
            "a/b/deep.SQL": b"select 2\n",
            "README.md": b"hi",
            "a/data.csv": b"1,2",
        },
    )
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == ["a/b/deep.SQL", "top.sql"]
    assert found.ignored_count == 2
    assert found.rejected == {}
    assert (tmp_path / "out/a/b/deep.SQL").read_bytes() == b"select 2\n"
    assert not (tmp_path / "out/README.md").exists()


def test_zip_slip_and_absolute_entries_are_rejected_not_written(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "a.zip",
        {"../evil.sql": b"x", "/abs.sql": b"x", "ok/../../up.sql": b"x", "fine.sql": b"select 1"},
    )
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == ["fine.sql"]
    assert set(found.rejected) == {"../evil.sql", "/abs.sql", "ok/../../up.sql"}
    assert "escapes" in found.rejected["../evil.sql"]
    assert "absolute" in found.rejected["/abs.sql"]
    assert not (tmp_path / "evil.sql").exists() and not (tmp_path / "up.sql").exists()


def test_symlink_entry_is_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link.sql")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
        zf.writestr("real.sql", "select 1")
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == ["real.sql"]
    assert found.rejected == {"link.sql": "entry is a symbolic link"}
    assert not (tmp_path / "out/link.sql").exists()


def test_bomb_by_ratio_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.sql": b"\0" * 5_000_000})
    with pytest.raises(BadArchive, match="zip bomb"):
        extract_archive(archive, tmp_path / "out", LIMITS)


def test_bomb_by_total_size_is_refused(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "big.zip", {f"f{i}.sql": b"select 1;\n" * 20_000 for i in range(3)}
    )
    limits = ArchiveLimits(max_entries=1000, max_total_bytes=500_000, max_ratio=10_000)
    with pytest.raises(BadArchive, match="500000 bytes"):
        extract_archive(archive, tmp_path / "out", limits)


def test_lying_header_sizes_are_caught_while_inflating(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "liar.zip", {"a.sql": b"select 1;\n" * 50_000})
    # Rewrite the declared uncompressed size in both headers to 10 bytes.
    data = bytearray(archive.read_bytes())
    real = (500_000).to_bytes(4, "little")
    fake = (10).to_bytes(4, "little")
    assert data.count(real) == 2
    archive.write_bytes(bytes(data).replace(real, fake))
    limits = ArchiveLimits(max_entries=1000, max_total_bytes=100_000, max_ratio=10_000)
    # zipfile inflates no more than the declared size, then fails the CRC: the entry is
    # rejected, and nothing near the real size is ever written.
    found = extract_archive(archive, tmp_path / "out", limits)
    assert found.sql_files == []
    assert "Bad CRC-32" in found.rejected["a.sql"]
    assert not (tmp_path / "out/a.sql").exists()


def test_too_many_entries(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"{i}.sql": b"select 1" for i in range(20)})
    with pytest.raises(BadArchive, match="20 entries"):
        extract_archive(archive, tmp_path / "out", ArchiveLimits(10, 10_000_000, 200))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_not_a_zip(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "x.zip"
    archive.write_bytes(content)
    with pytest.raises(BadArchive, match="not a valid ZIP"):
        extract_archive(archive, tmp_path / "out", LIMITS)


def test_corrupt_entry_is_rejected_and_others_extracted(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "c.zip", {"bad.sql": b"select 1;\n" * 1000, "good.sql": b"select 2"}
    )
    data = bytearray(archive.read_bytes())
    offset = data.index(b"bad.sql") + len(b"bad.sql") + 5  # inside bad.sql's deflate stream
    data[offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == ["good.sql"]
    assert "cannot be read" in found.rejected["bad.sql"]


def test_rerun_replaces_previous_extraction(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.sql": b"select 1"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out/stale.sql").write_bytes(b"old")
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == ["x.sql"]
    assert not (tmp_path / "out/stale.sql").exists()
