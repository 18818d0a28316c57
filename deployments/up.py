"""One-host supervisor behind `make up`: migrate (waiting for a database that does not answer
yet), then start and watch every part of the system.

Starts, in order, each ready before the next, every role by the script its production unit
runs (deployments/bin/, deployments/systemd/), on 127.0.0.1: the Prefect server (on SQLite
here), the Dask scheduler and one host's Dask workers (a LocalCluster's parts), then deploys
prefect.yaml (deploy.sh) and starts the Prefect worker that runs its flow runs, and the API
(gunicorn). Only addresses and the databases differ from production. Prints where the API docs
and the Prefect UI are, then a `READY {json}` line with each role's pid; the current pids are
also in DATA_DIR/run/pids.json (fault tests kill by role). A role that dies is started again
(its leftovers killed first; at most 5 times a minute). Ctrl-C or SIGTERM stops them all: SIGINT
to each role's process group, a grace period, then SIGKILL.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from alembic.config import Config

from alembic import command
from core.settings import Settings, load_settings_or_exit
from db.retry import is_transient
from deployments.processes import http_ok, start, stop, tail, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KIT_BIN = REPO_ROOT / "deployments" / "bin"
STARTUP_TIMEOUT = 120.0


def migrate(database_url: str) -> None:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def migrate_when_reachable(database_url: str, stopping: threading.Event) -> bool:
    """Migrate, waiting as long as it takes for a database that does not answer yet: after a
    power cut everything starts at once and the database may come back last; no role starts
    before it. False if stopped while waiting."""
    warned = False
    while not stopping.is_set():
        try:
            migrate(database_url)
            return True
        except Exception as exc:
            if not is_transient(exc):
                raise
            if not warned:
                warned = True
                sys.stderr.write(f"database unavailable ({exc.__class__.__name__}); waiting\n")
        stopping.wait(1)
    return False


def child_env(settings: Settings, prefect_api: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATA_DIR=str(settings.DATA_DIR),
        DATABASE_URL=settings.DATABASE_URL,
        NFS_SHARE_ROOT_PATH=str(settings.NFS_SHARE_ROOT_PATH),
        PREFECT_HOME=env.get("PREFECT_HOME") or str(settings.DATA_DIR / "prefect"),
        PREFECT_API_URL=prefect_api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_EXTRA_LOGGERS="flows,linting,db",
        # Our loggers outside a flow run (the API's trigger, the worker) write to their own
        # logs; only flow runs' lines go to the Prefect UI.
        PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW="ignore",
        PYTHONUNBUFFERED="1",
    )
    # Dask's housekeeping (20 ms event-loop ticks, a 10 ms profiler, 100 ms memory monitors and
    # work stealing) cost an idle 2-worker cluster 0.07 s of CPU per second, taken from SQLFluff;
    # with these, 0.03 (measured). Stealing is moot: the scheduler queues root tasks until a
    # worker is free.
    for name, value in (
        ("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "False"),
        ("DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL", "1s"),
        ("DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL", "5s"),
        ("DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL", "1s"),
        ("DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING", "False"),
    ):
        env.setdefault(name, value)
    return env


def worker_started(log: Path, pid: int) -> bool:
    """The worker of process `pid` has started polling its pool (Prefect prints this; the name,
    deployments/worker.py's, holds the pid, so no earlier worker's line counts)."""
    from deployments.worker import worker_name

    started = f"Worker {worker_name(pid)!r} started!"
    return log.exists() and started in log.read_text(errors="replace")


SCHEDULER_AT = re.compile(r"Scheduler at:\s+((?:tcp|tls)://[^\s\"]+)")


def scheduler_address(log_text: str) -> str | None:
    """The address the Dask scheduler listens on, as it logs it."""
    found = SCHEDULER_AT.search(log_text)
    return found.group(1) if found else None


def registered(n_workers: int) -> Callable[[str], str | None]:
    """Whether all `n_workers` Dask workers have joined the scheduler, as they log it."""
    return lambda log_text: "yes" if log_text.count("Registered to:") >= n_workers else None


class Supervisor:
    """Starts the roles in order, restarts one that dies, stops them all in reverse order."""

    MAX_RESTARTS = 5  # per role within RESTART_WINDOW seconds; past that, stop everything
    RESTART_WINDOW = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.logs = settings.DATA_DIR / "logs"
        self.pids_file = settings.DATA_DIR / "run" / "pids.json"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.stopping = threading.Event()

    def launch(self, role: str, args: list[str], env: dict[str, str]) -> Path:
        log = self.logs / f"{role}.log"
        self.commands[role] = (args, env)
        self.procs[role] = start(args, env, log, cwd=REPO_ROOT)
        self.write_pids()
        return log

    def write_pids(self) -> None:
        self.pids_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({role: p.pid for role, p in self.procs.items()}))
        os.replace(tmp, self.pids_file)

    def ready(self, role: str, probe: Callable[[], object], log: Path) -> None:
        proc = self.procs[role]

        def check() -> object:
            if proc.poll() is not None:
                raise RuntimeError(f"{role} exited with {proc.returncode}:\n{tail(log)}")
            return probe()

        wait_for(check, STARTUP_TIMEOUT, lambda: f"{role} not ready:\n{tail(log)}")

    def launch_from_log(
        self, role: str, script: str, env: dict[str, str], parse: Callable[[str], str | None]
    ) -> str:
        """Start a role's script and wait until `parse` finds what it waits for in what this
        start writes to the log (appended to across restarts: an earlier start's lines never
        count)."""
        log = self.logs / f"{role}.log"
        offset = log.stat().st_size if log.exists() else 0
        self.launch(role, [str(KIT_BIN / script)], env)

        def found() -> str | None:
            with open(log, "rb") as f:
                f.seek(offset)
                return parse(f.read().decode(errors="replace"))

        self.ready(role, found, log)
        return found() or ""

    def restart(self, role: str) -> bool:
        """Start a role again after it died; False once it keeps dying."""
        now = time.monotonic()
        recent = [t for t in self.restarts.get(role, []) if now - t < self.RESTART_WINDOW]
        if len(recent) >= self.MAX_RESTARTS:
            return False
        self.restarts[role] = [*recent, now]
        # What the dead process leaves in its group goes too: gunicorn's workers outlive a killed
        # arbiter and hold the port its successor must bind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[role].pid, signal.SIGKILL)
        args, env = self.commands[role]
        self.launch(role, args, env)
        return True

    def deploy(self, env: dict[str, str]) -> None:
        """Register prefect.yaml's deployments as production does (deploy.sh)."""
        log = self.logs / "deploy.log"
        with open(log, "ab") as out:
            code = subprocess.run(
                [str(KIT_BIN / "deploy.sh")], env=env, cwd=REPO_ROOT, stdout=out, stderr=out
            ).returncode
        if code:
            raise RuntimeError(f"deploy.sh exited with {code}:\n{tail(log)}")

    def stop_all(self) -> None:
        self.stopping.set()
        for role in reversed(list(self.procs)):
            stop(self.procs[role])

    def run(self) -> int:
        s = self.settings
        s.NFS_SHARE_ROOT_PATH.mkdir(parents=True, exist_ok=True)
        if not migrate_when_reachable(s.DATABASE_URL, self.stopping):
            return 0
        prefect_api = os.environ.get("PREFECT_API_URL") or (
            f"http://127.0.0.1:{s.PREFECT_SERVER_PORT}/api"
        )
        env = child_env(s, prefect_api)
        server_log: Path | None = None
        if not os.environ.get("PREFECT_API_URL"):
            env.update(
                PREFECT_SERVER_HOST="127.0.0.1",
                PREFECT_SERVER_PORT=str(s.PREFECT_SERVER_PORT),
                PREFECT_API_DATABASE_CONNECTION_URL=env.get(
                    "PREFECT_API_DATABASE_CONNECTION_URL",
                    f"sqlite+aiosqlite:///{env['PREFECT_HOME']}/prefect.db",
                ),
                # One host, one user: SQLite will do (production refuses it, docs/deployment.md).
                PREFECT_SERVER_ALLOW_SQLITE="true",
            )
            server_log = self.launch("prefect-server", [str(KIT_BIN / "prefect-server.sh")], env)
        if not s.DASK_SCHEDULER_ADDRESS:
            env.update(
                DASK_SCHEDULER_HOST="127.0.0.1",
                DASK_SCHEDULER_PORT=str(s.DASK_SCHEDULER_PORT),
                DASK_DASHBOARD_ADDRESS=env.get("DASK_DASHBOARD_ADDRESS", "127.0.0.1:0"),
            )
            scheduler = self.launch_from_log(
                "dask-scheduler", "dask-scheduler.sh", env, scheduler_address
            )
            env.update(
                DASK_SCHEDULER_ADDRESS=scheduler,
                DASK_WORKER_HOST="127.0.0.1",
                DASK_WORKERS_PER_HOST=str(s.DASK_N_WORKERS),
            )
            self.launch_from_log("dask-worker", "dask-worker.sh", env, registered(s.DASK_N_WORKERS))
        # The cluster starts while the Prefect server does (~8 s, most of a start).
        if server_log is not None:
            self.ready("prefect-server", lambda: http_ok(f"{prefect_api}/health"), server_log)
        # Flow runs as production starts them: prefect.yaml deployed by deploy.sh to the work
        # pool, the worker of prefect-worker.sh pulling from it (only addresses differ).
        env.update(
            SQLFLUFF_SERVICE_HOME=str(REPO_ROOT),
            SQLFLUFF_SERVICE_VENV=str(BIN.parent),
            SQLFLUFF_SERVICE_ENV=str(s.DATA_DIR / "run" / "no-env-file"),  # this env, not /etc
        )
        self.deploy(env)
        worker_log = self.launch("prefect-worker", [str(KIT_BIN / "prefect-worker.sh")], env)
        pid = self.procs["prefect-worker"].pid
        env.update(
            API_HOST=s.API_HOST,
            API_PORT=str(s.API_PORT),
            # One host: one API process is plenty (production's default is 2).
            API_WORKERS=env.get("API_WORKERS", "1"),
            # This system's own metrics folder: api.sh empties it at start.
            PROMETHEUS_MULTIPROC_DIR=str(s.DATA_DIR / "run" / "metrics"),
        )
        log = self.launch("api", [str(KIT_BIN / "api.sh")], env)  # while the worker starts
        self.ready("prefect-worker", lambda: worker_started(worker_log, pid), worker_log)
        api = f"http://{s.API_HOST}:{s.API_PORT}"
        # Our API, not whatever else might hold the port: its health answer is ours.
        self.ready("api", lambda: http_ok(f"{api}/health", expect={"status": "ok"}), log)
        ui = prefect_api.removesuffix("/api")
        sys.stdout.write(
            f"sqlfluff-service is up.\n  API docs:   {api}/docs\n  Prefect UI: {ui}\n"
            f"  logs:       {self.logs}\n  shared dir: {s.NFS_SHARE_ROOT_PATH}\n"
            "Ctrl-C stops everything.\n"
        )
        pids = {role: p.pid for role, p in self.procs.items()}
        sys.stdout.write(
            "READY "
            + json.dumps(
                {
                    "pids": pids,
                    "api": api,
                    "prefect_api": prefect_api,
                    "dask": env.get("DASK_SCHEDULER_ADDRESS"),
                }
            )
            + "\n"
        )
        sys.stdout.flush()
        while not self.stopping.is_set():
            for role, proc in list(self.procs.items()):
                if proc.poll() is None or self.stopping.is_set():
                    continue
                sys.stderr.write(f"{role} exited with {proc.returncode}; restarting it.\n")
                if not self.restart(role):
                    sys.stderr.write(
                        f"{role} keeps exiting; stopping.\n{tail(self.logs / f'{role}.log')}\n"
                    )
                    return 1
            self.stopping.wait(0.5)
        return 0


def main() -> None:
    settings = load_settings_or_exit()
    supervisor = Supervisor(settings)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: supervisor.stopping.set())
    code = 1
    try:
        code = supervisor.run()
    except (RuntimeError, TimeoutError) as exc:
        sys.stderr.write(f"start-up failed: {exc}\n")
    finally:
        supervisor.stop_all()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
