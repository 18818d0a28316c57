"""A power cut that takes the database down too, and the system started again while it is
still down, for longer than DB_RETRY_SECONDS: the supervisor waits for the database before it
starts any role (it migrates first), so no role gives up on it; once the database is back
every accepted job completes by itself, as after a plain power cut (test_power_cut.py). On a
private `mariadbd` the test owns; part of the MariaDB suite (`make test-mysql`)."""

import threading
import time
from pathlib import Path

import pytest

from db.engine import make_engine, make_sessionmaker
from deployments.processes import wait_for
from tests.support.faults import FAULT_ENV
from tests.support.mariadb import PrivateMariaDB, private_mariadb
from tests.support.power_cut import assert_recovered, cut_mid_job
from tests.support.system import running_system

pytestmark = pytest.mark.mysql

DB_RETRY_SECONDS = 3.0
ENV = {**FAULT_ENV, "DB_RETRY_SECONDS": str(DB_RETRY_SECONDS)}


def _back_after_outage(
    server: PrivateMariaDB, up_log: Path, outage: float, done: threading.Event
) -> None:
    """Once the restarted supervisor says it is waiting for the database, keep the database
    down `outage` seconds more, then start it, and live until `done`: the server gets SIGTERM
    when the thread that started it ends (PR_SET_PDEATHSIG, deployments/processes.py)."""
    wait_for(
        lambda: up_log.exists() and "database unavailable" in up_log.read_text(errors="replace"),
        120,
        "the supervisor never waited for the database",
    )
    time.sleep(outage)  # the outage itself, past DB_RETRY_SECONDS
    server.start()
    done.wait()


@pytest.mark.timeout(600)
def test_power_cut_with_the_database_down(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("power-cut-db")
    with private_mariadb(base / "db") as server:
        server.create_database("sqlfluff_test_private")
        url = server.url("sqlfluff_test_private")
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        try:
            data = base / "system"
            # 140 files, not the 175 of test_power_cut: sooner done, yet still mid-job at the
            # cut (with 60, the faster service once ended the job before the cut came; 100 held
            # until the lint children got ~20% faster in session 12).
            cut = cut_mid_job(url, sessions, data, ENV, big_files=140)
            server.kill()  # the same cut takes the database down
            engine.dispose()
            restarted = time.monotonic()
            done = threading.Event()
            outage = threading.Thread(
                target=_back_after_outage,
                args=(server, data / "up.log", 2 * DB_RETRY_SECONDS, done),
            )
            outage.start()
            try:
                with running_system(url, data, ENV) as system:
                    figures = assert_recovered(
                        system,
                        sessions,
                        cut,
                        restarted,
                        "power cut with the DB down, timed from the restart",
                    )
            finally:
                done.set()
                outage.join(180)
        finally:
            engine.dispose()
    print(  # noqa: T201
        f"power cut with the database down {2 * DB_RETRY_SECONDS:g} s past the restart "
        f"(DB_RETRY_SECONDS={DB_RETRY_SECONDS:g}); statuses seen {figures['seen']}"
    )
