"""The API process killed while an upload streams in: the client's request fails, no job row
is left for it, no file of it is on the shared directory (the upload is held in the API
process's unlinked temp file until whole, then copied under a temp name and renamed: nothing
half-written ever carries a job's name), and the supervisor's restarted API accepts the next
upload, which completes."""

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import LintingJob
from deployments.processes import http_ok, wait_for
from tests.support.checks import assert_rows_match_files
from tests.support.faults import print_recovery
from tests.support.system import System

MIB = 1024**2
BOUNDARY = "upload-killed"
LINE = b"select a, b from t where a = 1;\n"


def _slow_multipart(first: int, gate: threading.Event, total: int) -> Iterator[bytes]:
    """A multipart body of one .sql file of `total` MiB: `first` MiB at once, then one MiB
    each time `gate` is set (the test holds the rest back until the API has been killed)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.sql"\r\n'
        "Content-Type: application/sql\r\n\r\n"
    ).encode()
    mib = LINE * (MIB // len(LINE))
    for sent in range(total):
        if sent >= first:
            gate.wait(60)
        yield mib
    dialect = 'Content-Disposition: form-data; name="dialect"\r\n\r\nansi'
    yield f"\r\n--{BOUNDARY}\r\n{dialect}\r\n".encode()
    yield f"--{BOUNDARY}--\r\n".encode()


def _spooled_bytes(pid: int) -> int:
    """The largest unlinked file the process holds open: where Starlette spools an upload
    past 1 MiB while it arrives."""
    largest = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).endswith(" (deleted)"):
                largest = max(largest, os.stat(fd).st_size)
    return largest


def _job_ids(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(LintingJob.job_id)))


def test_api_killed_mid_upload_leaves_no_job_and_no_file(
    system: System, session_maker: sessionmaker[Session]
) -> None:
    jobs_before = _job_ids(session_maker)
    [api] = system.api_workers()
    gate = threading.Event()
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(
                httpx.post(
                    f"{system.api}/jobs/upload",
                    content=_slow_multipart(4, gate, 12),
                    headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
                    timeout=60,
                )
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        # Mid-stream: the API has spooled part of the file, not all of it.
        wait_for(lambda: _spooled_bytes(api) >= 2 * MIB, 60, "the API never began the upload")
        system.kill(api)
        killed = time.monotonic()
    finally:
        gate.set()
        sender.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError), outcome

    def restarted() -> bool:
        return system.api_workers() not in ([], [api]) and http_ok(f"{system.api}/health")

    wait_for(restarted, 120, lambda: f"gunicorn started no new API process\n{system.logs()}", 0.2)
    print_recovery("API killed mid-upload", killed, "the API serving again")
    assert _job_ids(session_maker) == jobs_before, "a job row for the killed upload"
    shared = system.shared_root / "jobs"
    strays = [p for p in shared.glob("*") if p.name not in jobs_before]
    assert strays == [], f"files of the killed upload on the share: {strays}"

    response = httpx.post(
        f"{system.api}/jobs/upload",
        files={"file": ("after.sql", b"select a from t\n")},
        data={"dialect": "ansi"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    body = system.wait_final(job_id, 120)
    assert body["job_status"] == "COMPLETED", body
    assert_rows_match_files(session_maker, system.shared_root, job_id, {"after.sql"})
    leftovers = list(shared.glob("*/upload/.tmp-*"))
    assert leftovers == [], leftovers
    print_recovery("API killed mid-upload", killed, "the next upload COMPLETED")
