"""The multi-host tests' support: hosts on one machine as network namespaces joined by a bridge
(needs root and `ip netns`), and the running system seen from its API and database."""

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import make_engine, make_sessionmaker
from db.models import LintingTask, TaskStatus
from deployments.processes import start, stop, tail, wait_for
from tests.support.databases import REPO_ROOT
from tests.support.factories import make_zip

PG = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc"]


def psql(sql: str, database: str = "postgres") -> str:
    """`sql` on the machine's PostgreSQL (127.0.0.1:5432, trust), its output."""
    proc = subprocess.run([*PG, sql, database], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"PostgreSQL at 127.0.0.1:5432 refused {sql!r}: {proc.stderr}"
    return proc.stdout.strip()


def sh(*args: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"


@dataclass
class Net:
    """A bridge in the root namespace and one namespace per host, each with an address."""

    tag: str
    subnet: str
    hosts: dict[str, str] = field(default_factory=dict)  # host -> address
    # host -> a process holding that host's own mount namespace (see own_mounts)
    holders: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        """The bridge's address: the root namespace (the machine itself) as seen from a host."""
        return f"{self.subnet}.1"

    def ns(self, host: str) -> str:
        return f"sfs{self.tag}{host}"

    def veth(self, host: str) -> str:
        return f"v{self.tag}{host}"  # root side; the host side is this + "p"

    def exec(self, host: str, *args: str) -> list[str]:
        """A command line that runs `args` on `host` (in its mount namespace if it has one)."""
        holder = self.holders.get(host)
        if holder is not None:
            # From the checkout, as `ip netns exec` would run it (nsenter -m starts at "/").
            return ["nsenter", "-t", str(holder.pid), "-m", "-n", f"--wd={REPO_ROOT}", "--", *args]
        return ["ip", "netns", "exec", self.ns(host), *args]

    def own_mounts(self, host: str) -> None:
        """Give `host` a mount namespace of its own, kept by a sleeping process: what is mounted
        there (an sshfs share) is seen by every later `exec` on `host` and by no other host.
        (Each `ip netns exec` makes a new one, which would lose the mount.)"""
        if host in self.holders:
            return
        holder = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), "sleep", "infinity"], start_new_session=True
        )
        self.holders[host] = holder
        cmdline = Path(f"/proc/{holder.pid}/cmdline")
        # `ip netns exec` execs `sleep` once the namespaces are set up.
        wait_for(
            lambda: cmdline.read_bytes().startswith(b"sleep"), 10, f"{host}'s holder not ready"
        )

    def start(
        self, host: str, args: Sequence[str], env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """`args` on `host`, stopped (last started first) when the network is taken down."""
        proc = start(self.exec(host, *args), env, log, cwd=REPO_ROOT)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every process started on the hosts, all at once: a cut-off host's roles may
        take their whole grace period."""
        procs, self.started = self.started, []
        with ThreadPoolExecutor(max(len(procs), 1)) as pool:
            list(pool.map(lambda p: stop(p, grace=15), procs))

    def add(self, host: str, last_octet: int) -> None:
        ns, veth = self.ns(host), self.veth(host)
        address = f"{self.subnet}.{last_octet}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
        sh("ip", "link", "set", veth + "p", "netns", ns)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", veth + "p")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", veth + "p", "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "set", veth, "master", f"sfsbr{self.tag}")
        sh("ip", "link", "set", veth, "up")
        self.hosts[host] = address

    def cut(self, host: str) -> None:
        sh("ip", "link", "set", self.veth(host), "down")


@contextlib.contextmanager
def network(hosts: Sequence[str] = ("a", "w1", "w2"), salt: int = 0) -> Iterator[Net]:
    """`hosts` at .10, .11, … of a subnet picked from the pid (`salt` tells apart two networks
    of one test process)."""
    n = os.getpid() + salt
    tag = str(n % 1000)
    net = Net(tag=tag, subnet=f"10.{200 + n % 50}.{n % 250}")
    bridge = f"sfsbr{tag}"
    try:
        sh("ip", "link", "add", bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{net.subnet}.1/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        for octet, host in enumerate(hosts, start=10):
            net.add(host, octet)
        yield net
    finally:
        net.stop_all()
        for holder in net.holders.values():
            holder.kill()
            holder.wait()
        for host in list(net.hosts):
            subprocess.run(["ip", "link", "del", net.veth(host)], capture_output=True)
            subprocess.run(["ip", "netns", "del", net.ns(host)], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


FINAL = {"COMPLETED", "PARTIALLY_COMPLETED", "FAILED"}


@dataclass
class Cluster:
    api: str
    prefect_api: str
    shared: Path
    database_url: str
    net: Net
    logs: Path

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{tail(p)}" for p in sorted(self.logs.glob("*.log")))

    def submit_zip(self, name: str, entries: dict[str, bytes]) -> str:
        make_zip(self.shared / f"archives/{name}.zip", entries)
        response = httpx.post(
            f"{self.api}/jobs", json={"zip_file_path": f"archives/{name}.zip"}, timeout=30
        )
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.api}/jobs/{job_id}", timeout=30).json())

    def wait_final(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        def final() -> dict[str, Any] | None:
            body = self.job(job_id)
            return body if body["job_status"] in FINAL else None

        return wait_for(final, timeout, lambda: f"{job_id} not final\n{self.tails()}", 0.5)

    def hosts_by_file(self, job_id: str) -> dict[str, str | None]:
        """Each file's worker, after checking every row is SUCCESS."""
        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                rows = task_rows(session, job_id)
        finally:
            engine.dispose()
        assert all(r.status == TaskStatus.SUCCESS for r in rows), [
            (r.file_name, r.status, r.error_message) for r in rows if r.status != "SUCCESS"
        ]
        return {r.file_name: r.lint_host for r in rows}


def task_rows(session: Session, job_id: str) -> list[LintingTask]:
    return list(session.scalars(select(LintingTask).where(LintingTask.job_id == job_id)))
