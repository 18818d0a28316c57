"""A private MariaDB server on a free port with its own data directory, so a test owns what it
restarts (the machine's shared server is never touched)."""

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from deployments.processes import free_port, start, stop, tail, wait_for

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"


@dataclass
class PrivateMariaDB:
    base: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # Where it listens, and a command prefix to start it on another host (e.g. `ip netns exec`).
    host: str = "127.0.0.1"
    on_host: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)  # more mariadbd options

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    def url(self, database: str) -> str:
        return f"mysql+pymysql://root@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        self.proc = start(
            [
                *self.on_host,
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                f"--bind-address={self.host}",
                f"--socket={self.base / 'mysqld.sock'}",
                f"--pid-file={self.base / 'mysqld.pid'}",
                "--user=root",
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=64M",
                "--skip-log-bin",
                *self.options,
            ],
            {"PATH": "/usr/sbin:/usr/bin:/bin"},
            self.base / "mariadbd.log",
        )
        wait_for(
            self._answers,
            60,
            lambda: f"private MariaDB did not start:\n{tail(self.base / 'mariadbd.log')}",
        )

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, tail(self.base / "mariadbd.log")
        engine = create_engine(self.url("mysql"))
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - not up yet; the wait's timeout reports why
            return False
        finally:
            engine.dispose()

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would; InnoDB recovers on the next start."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def create_database(self, name: str) -> None:
        engine = create_engine(self.url("mysql"))
        with engine.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        engine.dispose()


@contextlib.contextmanager
def private_mariadb(
    base: Path,
    host: str = "127.0.0.1",
    on_host: list[str] | None = None,
    options: list[str] | None = None,
) -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB(base, host=host, on_host=on_host or [], options=options or [])
    base.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            INSTALL_DB,
            "--no-defaults",
            f"--datadir={server.datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            stop(server.proc)
