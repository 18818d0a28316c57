"""MariaDB dies mid-job and comes back: the job completes, every file has exactly one row with
the right status, and the API answers 503 (not 500) while the database is away. Runs against a
private `mariadbd` the test owns; part of the MariaDB suite (`make test-mysql`)."""

import time

import httpx
import pytest

from db.engine import make_engine, make_sessionmaker
from tests.support.checks import assert_rows_match_files
from tests.support.factories import make_zip
from tests.support.faults import FAULT_ENV, job_in_progress, print_recovery, workload_entries
from tests.support.mariadb import private_mariadb
from tests.support.system import running_system

pytestmark = pytest.mark.mysql


# Its own server and system: past the default 120 s on a busy 2-core machine.
@pytest.mark.timeout(300)
def test_mariadb_restarted_mid_job(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("mariadb")
    with private_mariadb(base / "db") as server:
        server.create_database("sqlfluff_test_private")
        url = server.url("sqlfluff_test_private")
        with running_system(url, base / "system", FAULT_ENV) as system:
            entries = workload_entries()
            make_zip(system.shared_root / "archives/pg.zip", entries)
            job_id = job_in_progress(system, "archives/pg.zip")

            server.kill()
            killed = time.monotonic()
            response = httpx.get(f"{system.api}/jobs/{job_id}", timeout=30)
            assert response.status_code == 503, response.text
            assert response.json()["detail"] == "database unavailable"
            health = httpx.get(f"{system.api}/health", timeout=30)
            assert health.status_code == 503 and "database" in health.text
            time.sleep(3)  # the outage itself: the server stays down for a few seconds
            server.start()

            body = system.wait_final(job_id)
            print_recovery("MariaDB killed, back after 3 s", killed)
            assert body["job_status"] == "COMPLETED", body
            engine = make_engine(url)
            try:
                assert_rows_match_files(
                    make_sessionmaker(engine), system.shared_root, job_id, set(entries)
                )
            finally:
                engine.dispose()
