"""A new user's first `make up` with the shared directory elsewhere: nothing exists yet, neither
DATA_DIR (where the SQLite file and Prefect's home go) nor the share, and the system still
starts, migrates and lints a job (issue 16: it died with "unable to open database file")."""

from pathlib import Path

import pytest

from tests.support.system import running_system

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


def test_fresh_data_dir_with_the_share_elsewhere(tmp_path: Path) -> None:
    data = tmp_path / "clone" / ".data"
    share = tmp_path / "mnt" / "share"
    env = {
        "DATA_DIR": str(data),
        "DATABASE_URL": "",  # the embedded default: a SQLite file in DATA_DIR
        "NFS_SHARE_ROOT_PATH": str(share),
        "PREFECT_HOME": str(data / "prefect"),
    }
    assert not data.parent.exists() and not share.parent.exists()
    # The supervisor's own log goes beside, not into, the folders under test.
    with running_system("", tmp_path / "up", extra_env=env) as system:
        job_id = system.submit({"sql_content": "select a from t\n"})
        job = system.wait_final(job_id, timeout=240)
        assert job["job_status"] == "COMPLETED", job
    assert (data / "service.db").is_file()
    assert (share / "jobs" / job_id).is_dir()
