"""Safe ZIP expansion on crafted archives (docs/api.md, Bad input)."""

import json
import os
import stat
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from linting.archive import ArchiveLimits, extract_archive
from linting.errors import BadArchive
from tests.support.corpus import CORPUS
from tests.support.factories import make_zip

LIMITS = ArchiveLimits(max_entries=1000, max_total_bytes=10_000_000, max_file_bytes=4_000_000)
CAP = 1_048_576
TOO_LARGE = f"too large: over the limit of {CAP} bytes (LINT_MAX_FILE_BYTES)"
REPO = Path(__file__).resolve().parents[3]


def raw_zip(
    target: Path,
    entries: list[tuple[bytes, bytes]],
    *,
    flags: int = 0,
    declared: int | None = None,
    zip64: bool = False,
) -> Path:
    """A stored ZIP written byte by byte: names are exactly the bytes given, flags as asked."""
    local = central = b""
    for name, data in entries:
        crc, size = zlib.crc32(data), len(data)
        fields = (crc, size, size, len(name))
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 0x031E, 20, flags, 0, 0, 0, *fields, 0, 0, 0, 0,
            (stat.S_IFREG | 0o644) << 16, len(local),
        ) + name  # fmt: skip
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 0, 0, 0, *fields, 0)
        local += name + data
    count = len(entries) if declared is None else declared
    end = b""
    if zip64:
        end += struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), len(local)
        )
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(central), 1)
    short = min(count, 0xFFFF)
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, short, short, len(central), len(local), 0)
    target.write_bytes(local + central + end)
    return target


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


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


def test_configs_and_ignore_files_are_kept(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "a.zip",
        {
            ".sqlfluff": b"[sqlfluff]\n",
            "sub/setup.cfg": b"[sqlfluff]\n",
            "sub/.sqlfluffignore": b"skip/\n",
            "sub/x.sql": b"select 1\n",
            "notes.txt": b"x",
        },
    )
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert (found.sql_files, found.ignored_count) == (["sub/x.sql"], 1)
    assert found.config_files == [".sqlfluff", "sub/setup.cfg"]
    assert found.ignore_files == ["sub/.sqlfluffignore"]
    assert (tmp_path / "out/sub/.sqlfluffignore").read_bytes() == b"skip/\n"


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
    assert files_under(tmp_path) == {"a.zip", "out/fine.sql"}


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


def dump_beside_normal_files(target: Path) -> tuple[Path, dict[str, bytes]]:
    entries = {f"tpch/{p.name}": p.read_bytes() for p in sorted(CORPUS.glob("tpch/q0[1-6].sql"))}
    row = b"INSERT INTO film_actor VALUES (1, 1, '2006-02-15 05:05:03');\n"
    entries["dump/film_actor.sql"] = row * (3_000_000 // len(row))
    archive = make_zip(target, entries)
    with zipfile.ZipFile(archive) as zf:
        dump = zf.getinfo("dump/film_actor.sql")
        assert dump.file_size / dump.compress_size > 300  # real dumps compress like this
    return archive, entries


def test_dump_that_compresses_300x_is_extracted_in_full_under_the_cap(tmp_path: Path) -> None:
    archive, entries = dump_beside_normal_files(tmp_path / "a.zip")
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert (found.sql_files, found.rejected) == (sorted(entries), {})
    for name, data in entries.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_dump_over_the_cap_is_the_only_entry_rejected(tmp_path: Path) -> None:
    archive, entries = dump_beside_normal_files(tmp_path / "a.zip")
    limits = ArchiveLimits(max_entries=1000, max_total_bytes=10_000_000, max_file_bytes=CAP)
    found = extract_archive(archive, tmp_path / "out", limits)
    assert found.rejected == {"dump/film_actor.sql": TOO_LARGE}
    assert found.sql_files == sorted(set(entries) - {"dump/film_actor.sql"})
    assert not (tmp_path / "out/dump/film_actor.sql").exists()


def lie_about_size(archive: Path, size: int) -> Path:
    """Rewrite the entry of `size` bytes so both its headers claim 10 bytes."""
    data = archive.read_bytes()
    real, fake = size.to_bytes(4, "little"), (10).to_bytes(4, "little")
    assert data.count(real) == 2
    archive.write_bytes(data.replace(real, fake))
    return archive


BOUNDED_RUN = """
import json, resource, signal, sys
from pathlib import Path
from linting.archive import ArchiveLimits, extract_archive
cap = int(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE then fails (EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, (cap, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
limits = ArchiveLimits(max_entries=10, max_total_bytes=10**9, max_file_bytes=cap)
found = extract_archive(Path(sys.argv[1]), Path(sys.argv[2]), limits)
print(json.dumps({"sql_files": found.sql_files, "rejected": found.rejected}))
"""


def test_bomb_whose_header_lies_is_stopped_at_the_cap(tmp_path: Path) -> None:
    archive = lie_about_size(
        make_zip(tmp_path / "a.zip", {"bomb.sql": b"\0" * 50_000_000}), 50_000_000
    )
    assert archive.stat().st_size < 100_000
    # The kernel refuses any file growing past the cap, so a single byte too many fails the run.
    run = subprocess.run(
        [sys.executable, "-c", BOUNDED_RUN, str(archive), str(tmp_path / "out"), str(CAP)],
        cwd=REPO,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"sql_files": [], "rejected": {"bomb.sql": TOO_LARGE}}
    assert files_under(tmp_path / "out") == set()


def test_header_over_the_cap_is_refused_without_inflating(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"big.sql": b"-" * 2 * CAP, "next.sql": b"-" * CAP})
    # Had big.sql been inflated to the cap, next.sql would not fit the 1.5 MiB budget.
    limits = ArchiveLimits(max_entries=10, max_total_bytes=CAP * 3 // 2, max_file_bytes=CAP)
    found = extract_archive(archive, tmp_path / "out", limits)
    assert (found.sql_files, found.rejected) == (["next.sql"], {"big.sql": TOO_LARGE})


OVER_BUDGET = "not extracted: archive over 500000 bytes inflated (ZIP_MAX_TOTAL_BYTES)"
BUDGET = ArchiveLimits(max_entries=100, max_total_bytes=500_000, max_file_bytes=CAP)


def test_entries_past_the_total_budget_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    big = b"select 1;\n" * 20_000
    archive = make_zip(
        tmp_path / "a.zip", {"f0.sql": big, "f1.sql": big, "f2.sql": big, "small.sql": b"x"}
    )
    found = extract_archive(archive, tmp_path / "out", BUDGET)
    assert found.sql_files == ["f0.sql", "f1.sql", "small.sql"]
    assert found.rejected == {"f2.sql": OVER_BUDGET}


def test_budget_spent_while_inflating_rejects_every_later_entry(tmp_path: Path) -> None:
    entries = {"f0.sql": b"select 1;\n" * 20_000, "liar.sql": b"\0" * 400_000, "after.sql": b"x"}
    archive = lie_about_size(make_zip(tmp_path / "a.zip", entries), 400_000)
    found = extract_archive(archive, tmp_path / "out", BUDGET)
    assert found.sql_files == ["f0.sql"]
    assert found.rejected == {"liar.sql": OVER_BUDGET, "after.sql": OVER_BUDGET}
    assert files_under(tmp_path / "out") == {"f0.sql"}


def test_nothing_extracted_is_every_entry_rejected_not_a_failed_archive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.sql": b"x" * 600_000, "b.sql": b"y" * 600_000})
    found = extract_archive(archive, tmp_path / "out", BUDGET)
    assert found.sql_files == []
    assert found.rejected == {"a.sql": OVER_BUDGET, "b.sql": OVER_BUDGET}


@pytest.mark.parametrize("zip64", [False, True], ids=["eocd", "zip64-eocd"])
def test_declared_entry_count_is_refused_before_any_header_is_parsed(
    tmp_path: Path, zip64: bool
) -> None:
    declared = 10_000_000 if zip64 else 0xFFFF
    archive = raw_zip(tmp_path / "a.zip", [(b"a.sql", b"x")], declared=declared, zip64=zip64)
    started = time.monotonic()
    with pytest.raises(BadArchive, match=f"too many entries: the archive declares {declared}"):
        extract_archive(archive, tmp_path / "out", LIMITS)
    assert time.monotonic() - started < 1
    assert not (tmp_path / "out").exists()


def test_entries_are_counted_while_read_when_the_declared_count_lies(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"{i}.sql": b"select 1" for i in range(20)})
    data = bytearray(archive.read_bytes())
    data[-14:-10] = struct.pack("<2H", 1, 1)  # the end record's two counts
    archive.write_bytes(bytes(data))
    limits = ArchiveLimits(max_entries=10, max_total_bytes=10_000_000, max_file_bytes=CAP)
    with pytest.raises(BadArchive, match="too many entries: more than the archive declares"):
        extract_archive(archive, tmp_path / "out", limits)


def test_too_many_entries(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"{i}.sql": b"select 1" for i in range(20)})
    limits = ArchiveLimits(max_entries=10, max_total_bytes=10_000_000, max_file_bytes=CAP)
    with pytest.raises(BadArchive, match="declares 20, over the limit of 10 .ZIP_MAX_ENTRIES."):
        extract_archive(archive, tmp_path / "out", limits)


def test_zip64_end_records_are_read(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [(b"a.sql", b"select 1"), (b"b.sql", b"")], zip64=True)
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert (found.sql_files, found.rejected) == (["a.sql", "b.sql"], {})


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_not_a_zip(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "x.zip"
    archive.write_bytes(content)
    with pytest.raises(BadArchive, match="not a valid ZIP"):
        extract_archive(archive, tmp_path / "out", LIMITS)


def test_corrupt_central_directory_fails_the_archive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.sql": b"select 1", "b.sql": b"select 2"})
    data = archive.read_bytes()
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)
    archive.write_bytes(data[:second] + b"XX" + data[second + 2 :])
    with pytest.raises(BadArchive, match="corrupt central directory") as caught:
        extract_archive(archive, tmp_path / "out", LIMITS)
    assert str(tmp_path) not in str(caught.value)


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
    assert files_under(tmp_path / "out") == {"good.sql"}


def test_encrypted_and_unsupported_entries_are_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bz.sql", "select 1", compress_type=zipfile.ZIP_BZIP2)
        zf.writestr("ok.sql", "select 2")
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.rejected == {
        "bz.sql": "entry uses compression method 12; only Stored and Deflate are read"
    }
    secret = raw_zip(tmp_path / "e.zip", [(b"secret.sql", b"garbled")], flags=0x1)
    found = extract_archive(secret, tmp_path / "out", LIMITS)
    assert found.rejected == {"secret.sql": "entry is encrypted"}


def test_rerun_replaces_previous_extraction(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.sql": b"select 1", "d/.sqlfluff": b"[sqlfluff]\n"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out/stale.sql").write_bytes(b"old")
    first = extract_archive(archive, tmp_path / "out", LIMITS)
    assert first.sql_files == ["x.sql"]
    assert not (tmp_path / "out/stale.sql").exists()
    assert extract_archive(archive, tmp_path / "out", LIMITS) == first
    assert files_under(tmp_path / "out") == {"x.sql", "d/.sqlfluff"}


LONG_PATH = b"/".join([b"d" * 200] * 6) + b"/x.sql"


@pytest.mark.parametrize(
    ("name", "flags", "reason"),
    [
        (b"bad\xff\xfe.sql", 0x800, "name is not valid UTF-8"),
        (b"a" * 256 + b".sql", 0, "over 255 bytes a part"),
        (LONG_PATH, 0, "or 1024 in all"),
        (b"a//b.sql", 0, "empty or '.' folder"),
        (b"./a.sql", 0, "empty or '.' folder"),
        (b"a/./b.sql", 0, "empty or '.' folder"),
        (b"a\x00.sql", 0, "NUL or control character"),
        (b"a\\b.sql", 0, "backslash"),
        (b"a\x1b[31m.sql", 0, "control character"),
        ("evil\u202elqs.sql".encode(), 0x800, "control character"),
        (b"/abs.sql", 0, "absolute path"),
        (b"C:/x.sql", 0, "absolute path"),
        (b"C:x.sql", 0, "absolute path"),
        (b"../x.sql", 0, "escapes the extraction directory"),
        (b"a/../../x.sql", 0, "escapes the extraction directory"),
    ],
)
def test_bad_name_is_a_rejected_entry(tmp_path: Path, name: bytes, flags: int, reason: str) -> None:
    archive = raw_zip(
        tmp_path / "a.zip", [(name, b"select 1"), (b"ok.sql", b"select 2")], flags=flags
    )
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == ["ok.sql"]
    [(shown, why)] = found.rejected.items()
    assert reason in why
    assert shown.isprintable() and len(shown) <= 301
    assert str(tmp_path) not in why and str(tmp_path) not in shown
    assert files_under(tmp_path) == {"a.zip", "out/ok.sql"}


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ("a.sql", "a.sql/b.sql", "a folder in the entry's path is a file in the archive"),
        ("a.sql/b.sql", "a.sql", "entry name is also a folder in the archive"),
        ("a.sql", "a.sql", "duplicate entry name in the archive"),
        ("q.sql", "Q.SQL", "only in letter case or Unicode form"),
        ("d/q.sql", "D/q.sql", "only in letter case or Unicode form"),
        ("caf\u00e9.sql", "cafe\u0301.sql", "only in letter case or Unicode form"),
    ],
)
def test_second_of_two_colliding_entries_is_rejected(
    tmp_path: Path, first: str, second: str, reason: str
) -> None:
    entries = [(first.encode(), b"select 1"), (second.encode(), b"select 2")]
    found = extract_archive(raw_zip(tmp_path / "a.zip", entries), tmp_path / "out", LIMITS)
    assert found.sql_files == [first]
    assert (tmp_path / "out" / first).read_bytes() == b"select 1"
    label = second if second != first else f"{second} (entry 2)"  # never the kept file's name
    assert list(found.rejected) == [label]
    assert reason in found.rejected[label]


def test_unicode_names_with_the_utf8_flag_survive(tmp_path: Path) -> None:
    entries = {"données/é.sql": b"select 1", "中文/查询.sql": b"select 2"}
    found = extract_archive(make_zip(tmp_path / "a.zip", entries), tmp_path / "out", LIMITS)
    assert found.sql_files == sorted(entries)
    for name, data in entries.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_names_without_the_utf8_flag(tmp_path: Path) -> None:
    gbk, utf8 = "中文.sql".encode("gbk"), "查询.sql".encode()
    archive = raw_zip(tmp_path / "a.zip", [(gbk, b"select 1"), (utf8, b"select 2")])
    with zipfile.ZipFile(archive) as zf:  # the crafted archive is a valid ZIP
        assert zf.read(gbk.decode("cp437")) == b"select 1"
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    # Undeclared UTF-8 is read as UTF-8; anything else as IBM 437, the ZIP default: garbled
    # for a GBK name, but the file is linted.
    assert found.sql_files == sorted([gbk.decode("cp437"), "查询.sql"])
    assert (tmp_path / "out" / gbk.decode("cp437")).read_bytes() == b"select 1"
    assert found.rejected == {}


def test_rejected_entries_never_share_a_row_path_with_another_entry(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("link.sql")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("link.sqx", "select 1")
    archive.write_bytes(archive.read_bytes().replace(b"link.sqx", b"link.sql"))
    found = extract_archive(archive, tmp_path / "out", LIMITS)
    assert found.sql_files == []
    assert found.rejected == {
        "link.sql": "entry is a symbolic link",
        "link.sql (entry 2)": "entry name is taken by an earlier rejected entry",
    }
