"""The whole system as `make up` starts it (`python -m deployments.up`), on free ports, a temp
data dir and a given database; torn down with SIGINT like Ctrl-C. Used by e2e and fault tests."""

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deployments.processes import free_port, start, stop, tail, wait_for
from tests.support.databases import REPO_ROOT

FINAL = {"COMPLETED", "PARTIALLY_COMPLETED", "FAILED"}
RUN_FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class System:
    api: str
    prefect_api: str
    data: Path
    log: Path

    @property
    def shared_root(self) -> Path:
        return self.data / "shared"

    def logs(self) -> str:
        parts = [f"--- up\n{tail(self.log)}"]
        parts += [f"--- {p.name}\n{tail(p)}" for p in sorted((self.data / "logs").glob("*.log"))]
        return "\n".join(parts)

    def pids(self) -> dict[str, int]:
        """The current pid of each role (the supervisor rewrites the file after a restart)."""
        return dict(json.loads((self.data / "run/pids.json").read_text()))

    def descendants(self, role: str, marker: bytes) -> list[int]:
        """Pids under a role's process whose command line contains `marker`."""
        found: list[int] = []
        stack = [self.pids()[role]]
        while stack:
            pid = stack.pop()
            stack += children(pid)
            if runs(pid, marker):
                found.append(pid)
        return found

    def api_workers(self) -> list[int]:
        """The API's processes that serve requests: gunicorn's workers under its arbiter (the
        `api` role's pid), which starts a new one when one dies."""
        return [pid for pid in children(self.pids()["api"]) if runs(pid, b"gunicorn")]

    def flow_run_processes(self) -> list[int]:
        """Pids of the flow runs now running: with FLOW_RUN_WARM_START, the children of the
        worker's fork server (flows/warm_start.py), itself the worker's child."""
        worker = self.pids()["prefect-worker"]
        runs: list[int] = []
        servers = self.descendants("prefect-worker", b"multiprocessing.forkserver")
        for server in servers:
            with contextlib.suppress(OSError):
                if parent_pid(server) == worker:
                    runs += children(server)
        # Without FLOW_RUN_WARM_START, each run is a new interpreter: `python -m prefect.engine`.
        return runs if servers else self.descendants("prefect-worker", b"prefect.engine")

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def submit(self, body: dict[str, Any]) -> str:
        response = httpx.post(f"{self.api}/jobs", json=body, timeout=30)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def job(self, job_id: str, **params: int) -> dict[str, Any]:
        response = httpx.get(f"{self.api}/jobs/{job_id}", params=params, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_job(self, job_id: str, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            try:
                body = self.job(job_id)
            except (httpx.HTTPError, AssertionError):
                return None  # the API may be restarting or 503 during an outage
            return body if predicate(body) else None

        return wait_for(probe, timeout, lambda: f"job {job_id}: {what}\n{self.logs()}", 0.3)

    def wait_final(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        return self.wait_job(job_id, lambda b: b["job_status"] in FINAL, timeout, "not final")

    def wait_run_state(self, flow_run_id: str, state_type: str, timeout: float = 60) -> None:
        """Wait for the flow run to reach a state (it lags the job row by the run's last step)."""

        def reached() -> bool:
            run = httpx.get(f"{self.prefect_api}/flow_runs/{flow_run_id}", timeout=30).json()
            return run["state_type"] == state_type

        wait_for(
            reached, timeout, lambda: f"flow run {flow_run_id} not {state_type}\n{self.logs()}", 0.3
        )

    def wait_rerun_final(
        self, job_id: str, flow_run_id: str, timeout: float = 300
    ) -> dict[str, Any]:
        """After a retry: wait for the run's second attempt to end, then return the job."""

        def rerun_done() -> bool:
            run = httpx.get(f"{self.prefect_api}/flow_runs/{flow_run_id}", timeout=30).json()
            return run["run_count"] >= 2 and run["state_type"] in RUN_FINAL

        wait_for(
            rerun_done, timeout, lambda: f"retried run of {job_id} not over\n{self.logs()}", 0.3
        )
        return self.wait_final(job_id, timeout=30)


def runs(pid: int, marker: bytes) -> bool:
    """Whether the process's command line contains `marker` (False once it is gone)."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def parent_pid(pid: int) -> int:
    # The field after the command name, which is in parentheses and may hold spaces.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


@contextlib.contextmanager
def running_system(
    database_url: str, data: Path, extra_env: Mapping[str, str] = {}
) -> Iterator[System]:
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
    env.update(extra_env)
    log = data / "up.log"
    if log.exists():  # a restart on the same data dir: its READY line is the one to wait for
        log.rename(data / f"up.{len(list(data.glob('up.*.log'))) + 1}.log")
    proc: subprocess.Popen[bytes] = start(
        [sys.executable, "-m", "deployments.up"], env, log, cwd=REPO_ROOT
    )
    try:

        def ready() -> dict[str, Any] | None:
            assert proc.poll() is None, f"deployments.up exited:\n{tail(log, 80)}"
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    return dict(json.loads(line.removeprefix("READY ")))
            return None

        info = wait_for(ready, 240, lambda: f"system not ready:\n{tail(log, 80)}", interval=0.5)
        yield System(api=str(info["api"]), prefect_api=str(info["prefect_api"]), data=data, log=log)
    finally:
        stop(proc, grace=30)
