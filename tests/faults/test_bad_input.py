"""Hostile archives through the running system (docs/api.md, Bad input): every file ends
SUCCESS or FAILURE with a reason, the job ends, and the workers stay up for the next job."""

import stat
import zipfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files
from tests.support.corpus import CORPUS
from tests.support.factories import make_zip
from tests.support.faults import FAULT_ENV
from tests.support.oracle import cli_violations
from tests.support.system import System

NASTY = CORPUS / "nasty"
LIMIT = int(FAULT_ENV["LINT_MAX_FILE_BYTES"])


def gbk_sample() -> bytes:
    """The first 40 lines of the real GBK dump: small enough to lint in a test."""
    return b"".join((NASTY / "06-mysql-mall.gbk.sql").read_bytes().splitlines(keepends=True)[:40])


def hostile_archive(target: Path) -> dict[str, str]:
    """Writes the archive; returns, per `.sql` entry, the expected status or failure reason."""
    entries = {
        "enc/utf16le.sql": (NASTY / "04-tsql-CustomerOrders.utf16le.sql").read_bytes(),
        "enc/crlf.sql": (NASTY / "09-tsql-create-external-tables.crlf.sql").read_bytes(),
        "enc/gbk.sql": gbk_sample(),
        "empty.sql": b"",
        "big/copy-dump.sql": (NASTY / "01-postgres-sakila-insert-data-using-copy.sql").read_bytes(),
        # 3,000 conditions took 6.2 s once the lint children got faster; 6,000 take ~14 s.
        # Not more: past ~100,000 parse nodes SQLFluff gives up at once (a PRS finding).
        "slow/6000-conditions.sql": (
            "select 1 from t where " + " and ".join(f"a{i} = {i}" for i in range(6000)) + "\n"
        ).encode(),
        "deep/nesting.sql": b"select " + b"(" * 3000 + b"1" + b")" * 3000 + b"\n",
        "../../escape.sql": b"select 1",
        "README.md": b"not sql",
        "data/rows.csv": b"1,2,3",
    }
    make_zip(target, entries)
    with zipfile.ZipFile(target, "a") as zf:
        link = zipfile.ZipInfo("link.sql")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    return {
        "enc/utf16le.sql": "SUCCESS",
        "enc/crlf.sql": "SUCCESS",
        "enc/gbk.sql": "SUCCESS",
        "empty.sql": "SUCCESS",
        "deep/nesting.sql": "SUCCESS",  # SQLFluff reports its parse-depth limit as a violation
        "big/copy-dump.sql": f"over the limit of {LIMIT} bytes",
        "slow/6000-conditions.sql": "time limit of 8 s exceeded",
        "../../escape.sql": "not linted: entry escapes the extraction directory",
        "link.sql": "not linted: entry is a symbolic link",
    }


def test_hostile_archive(
    system: System, session_maker: sessionmaker[Session], tmp_path: Path
) -> None:
    expected = hostile_archive(system.shared_root / "archives/hostile.zip")
    job_id = system.submit({"zip_file_path": "archives/hostile.zip", "dialect": "tsql"})
    body = system.wait_final(job_id)
    assert body["job_status"] == "PARTIALLY_COMPLETED", body
    assert body["ignored_file_count"] == 2
    rows = assert_rows_match_files(session_maker, system.shared_root, job_id, set(expected))
    for name, want in expected.items():
        row = rows[name]
        if want == "SUCCESS":
            assert row.status == "SUCCESS", (name, row.error_message)
        else:
            assert row.status == "FAILURE" and want in str(row.error_message), (
                name,
                row.error_message,
            )
    assert not (system.shared_root / f"jobs/{job_id}/escape.sql").exists()
    # The files SQLFluff could read are linted exactly as the CLI does, encodings included.
    extracted = system.shared_root / f"jobs/{job_id}/extracted"
    linted = [n for n, w in expected.items() if w == "SUCCESS"]
    oracle = cli_violations([extracted / n for n in linted], "tsql", LIMIT, tmp_path)
    for name in linted:
        result = httpx.get(f"{system.api}/tasks/{rows[name].task_id}/result").json()
        assert result[0]["violations"] == oracle[str((extracted / name).resolve())], name
    # ...and the workers are still there for the next job.
    next_job = system.submit({"sql_content": "select 1\n"})
    assert system.wait_final(next_job, timeout=60)["job_status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        (
            {"README.md": b"x", "a.csv": b"1"},
            "archive holds no SQL files: none named .sql, .sql.j2, .dml, .ddl, .pkb (SQLFluff's "
            "sql_file_exts; 2 other files ignored)",
        ),
    ],
    ids=["no-sql"],
)
def test_archive_refused_as_a_whole(system: System, entries: dict[str, bytes], reason: str) -> None:
    name = f"archives/whole-{len(entries)}.zip"
    make_zip(system.shared_root / name, entries)
    job_id = system.submit({"zip_file_path": name})
    body = system.wait_final(job_id, timeout=60)
    assert body["job_status"] == "FAILED"
    assert reason in body["error_message"]
    assert body["sub_tasks"]["total"] == 0


def test_zip_bomb_is_one_failed_file(system: System, session_maker: sessionmaker[Session]) -> None:
    """A bomb (20 MB of zeros, ~1000x) is stopped at the per-file cap; the rest is linted."""
    make_zip(
        system.shared_root / "archives/bomb.zip",
        {"bomb.sql": b"\0" * 20_000_000, "ok.sql": b"select 1\n"},
    )
    job_id = system.submit({"zip_file_path": "archives/bomb.zip"})
    body = system.wait_final(job_id, timeout=60)
    assert body["job_status"] == "PARTIALLY_COMPLETED", body
    rows = assert_rows_match_files(
        session_maker, system.shared_root, job_id, {"bomb.sql", "ok.sql"}
    )
    assert rows["ok.sql"].status == "SUCCESS"
    assert rows["bomb.sql"].status == "FAILURE"
    assert f"too large: over the limit of {LIMIT} bytes" in str(rows["bomb.sql"].error_message)
