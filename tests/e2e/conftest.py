"""The whole system as `make up` starts it (`python -m deployments.up`), on free ports, a temp
shared root and the session's test database; torn down with SIGINT like Ctrl-C."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployments.processes import free_port, start, stop, tail, wait_for
from tests.support.databases import REPO_ROOT


@dataclass(frozen=True)
class System:
    api: str
    prefect_api: str
    shared_root: Path
    pids: dict[str, int]
    log: Path
    logs_dir: Path

    def logs(self) -> str:
        parts = [f"--- up\n{tail(self.log)}"]
        parts += [f"--- {p.name}\n{tail(p)}" for p in sorted(self.logs_dir.glob("*.log"))]
        return "\n".join(parts)


@pytest.fixture(scope="module")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data = tmp_path_factory.mktemp("system")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        DATA_DIR=str(data),
        DATABASE_URL=database_url,
        NFS_SHARE_ROOT_PATH=str(data / "shared"),
        API_PORT=str(free_port()),
        PREFECT_SERVER_PORT=str(free_port()),
        DASK_SCHEDULER_PORT=str(free_port()),
        PREFECT_HOME=str(data / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        RECONCILE_INTERVAL_SECONDS="2",
    )
    log = data / "up.log"
    proc: subprocess.Popen[bytes] = start([sys.executable, "-m", "deployments.up"], env, log,
                                          cwd=REPO_ROOT)
    try:
        def ready() -> dict[str, object] | None:
            assert proc.poll() is None, f"deployments.up exited:\n{tail(log, 80)}"
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    return dict(json.loads(line.removeprefix("READY ")))
            return None

        info = wait_for(ready, 240, lambda: f"system not ready:\n{tail(log, 80)}", interval=0.5)
        yield System(
            api=str(info["api"]), prefect_api=str(info["prefect_api"]),
            shared_root=data / "shared", pids=dict(info["pids"]),  # type: ignore[arg-type]
            log=log, logs_dir=data / "logs",
        )
    finally:
        stop(proc, grace=30)
