"""A power cut: every process of the system (the supervisor included) killed at once mid-job,
then the system started again on the same database and shared root. Every accepted job
(PROCESSING, or ACCEPTED and not yet run) completes by itself: the dead run is found by its
stopped heartbeat, set Crashed, and the job re-run as a new flow run tagged `auto-retry` that
lints only the files not yet SUCCESS; each file has exactly one row and its result file."""

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.faults import FAULT_ENV
from tests.support.power_cut import assert_recovered, cut_mid_job
from tests.support.system import running_system


@pytest.mark.timeout(600)
def test_power_cut_mid_job(
    database_url: str,
    session_maker: sessionmaker[Session],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("power-cut")
    cut = cut_mid_job(database_url, session_maker, data, FAULT_ENV)
    restarted = time.monotonic()
    with running_system(database_url, data, FAULT_ENV) as system:
        figures = assert_recovered(
            system, session_maker, cut, restarted, "power cut, timed from the restart"
        )
    print(  # noqa: T201
        f"power cut: {cut.killed} processes killed; statuses seen {figures['seen']}; "
        f"attempts ended: {figures['reasons']}"
    )
