"""The Prefect server as production runs it: `deployments/bin/prefect-server.sh` (the command of
`sqlfluff-prefect-server.service`) with its state in PostgreSQL (127.0.0.1:5432, trust auth, a
database of this test's own). The service's deployments are registered on it by `deploy.sh` and
are found in PostgreSQL's tables; the script refuses a SQLite URL."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deployments.processes import free_port, http_ok, start, stop, tail, wait_for
from tests.multihost.support import psql
from tests.support.databases import REPO_ROOT

BIN = REPO_ROOT / "deployments/bin"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def prefect_database() -> Iterator[str]:
    name = f"prefect_h16_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        SQLFLUFF_SERVICE_ENV="/nonexistent",
        SQLFLUFF_SERVICE_VENV=str(Path(sys.executable).parent.parent),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        **extra,
    )
    return env


def test_prefect_server_keeps_its_state_in_postgresql(
    prefect_database: str, tmp_path: Path
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = _env(
        tmp_path,
        PREFECT_API_DATABASE_CONNECTION_URL=(
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefect_database}"
        ),
        PREFECT_SERVER_HOST="127.0.0.1",
        PREFECT_SERVER_PORT=str(port),
    )
    log = tmp_path / "prefect-server.log"
    server = start([str(BIN / "prefect-server.sh")], env, log)
    try:

        def up() -> bool:
            assert server.poll() is None, f"prefect-server.sh exited:\n{tail(log)}"
            return http_ok(f"{api}/health")

        wait_for(up, 180, lambda: f"Prefect server not up:\n{tail(log)}", 1)
        client_env = _env(tmp_path, PREFECT_API_URL=api)
        deploy = subprocess.run(
            [str(BIN / "deploy.sh")], env=client_env, capture_output=True, text=True, timeout=180
        )
        assert deploy.returncode == 0, f"{deploy.stdout}\n{deploy.stderr}"
        names = {d["name"] for d in httpx.post(f"{api}/deployments/filter", json={}).json()}
        assert names == {"lint-job", "relint", "cleanup"}
        # What the API answered is what PostgreSQL holds: no SQLite file behind it.
        stored = psql("SELECT name FROM deployment ORDER BY name", prefect_database)
        assert stored.split() == ["cleanup", "lint-job", "relint"]
        assert not list((tmp_path / "prefect-home").glob("*.db"))
    finally:
        stop(server, grace=20)


def test_prefect_server_script_refuses_sqlite(tmp_path: Path) -> None:
    env = _env(tmp_path, PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path}/p.db")
    proc = subprocess.run(
        [str(BIN / "prefect-server.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "invalid setting PREFECT_API_DATABASE_CONNECTION_URL" in proc.stderr
