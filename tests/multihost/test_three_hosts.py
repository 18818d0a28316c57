"""The system as production runs it, on hosts that are network namespaces of one machine joined by
a bridge, each role started by the command of its systemd unit (`deployments/systemd/`):

- API host "a": a private `mariadbd` (the service's database, migrated by `migrate.sh`) on its
  address; `prefect-server.sh` with Prefect's state in PostgreSQL (the machine's server on
  127.0.0.1:5432, reached over the bridge through a relay on the bridge's address, as a database
  host would be; a database of this test's own); `api.sh`; `dask-scheduler.sh`; and `sshd`
  exporting the shared root by SFTP.
- Worker hosts "w1", "w2" (and "w3", added mid-job): the shared root mounted with `sshfs` at the
  same path (NFS_SHARE_ROOT_PATH), in the host's own mount namespace, with attribute caching on;
  `dask-worker.sh`; `prefect-worker.sh`, the Prefect process worker pulling the flow runs of the
  deployments `deploy.sh` registered from prefect.yaml on the work pool it created. Flow runs
  (archive expansion, rows, batches) run on the worker hosts.

Shows: a job's files linted on both worker hosts; results written on a worker host through its
mount are byte-equal to what the API serves, also after another host rewrote one while the
first host's mount still had its old attributes cached; a worker host cut off mid-job (not the
one running the job's flow run) and the job completing with exactly one row per file matching its
result file; a third worker host added mid-job taking work; a host cut off between an UPDATE
and its COMMIT not holding its row lock past the database's wait_timeout (without it, the
cut-off test once hung on that lock: MariaDB's default is 8 hours).

Needs root, `ip netns`, `nsenter`, FUSE, `sshfs` and `sshd` (`make multihost-tools`); it fails,
never skips, without them.
"""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from db.engine import make_engine, make_sessionmaker
from db.models import LintingJob, TaskStatus
from deployments.processes import free_port, http_ok, start, stop, tail, wait_for
from tests.multihost.sshfs_share import export_over_ssh, mount, require_tools
from tests.multihost.support import Cluster, Net, network, psql, task_rows
from tests.support.checks import assert_rows_match_files
from tests.support.corpus import CORPUS
from tests.support.databases import REPO_ROOT
from tests.support.factories import folder_entries
from tests.support.mariadb import private_mariadb

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
WAIT_TIMEOUT = 20  # the service database's wait_timeout, seconds
# Where each role's start script is: the ExecStart of its unit, relative to the checkout.
UNIT_COMMANDS = {
    unit.stem: unit.read_text().split("ExecStart=/opt/sqlfluff-service/", 1)[1].split()[0]
    for unit in (REPO_ROOT / "deployments/systemd").glob("*.service")
}


@dataclass
class MountedCluster(Cluster):
    join: Callable[[str], None]  # starts a worker host's roles (its mount first)

    def rows(self, job_id: str) -> list[Any]:
        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                return task_rows(session, job_id)
        finally:
            engine.dispose()

    def flow_run_host(self, job_id: str) -> str:
        """The worker host whose Prefect worker started the job's flow run (its log names it)."""
        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                flow_run_id = session.scalar(
                    select(LintingJob.flow_run_id).where(LintingJob.job_id == job_id)
                )
        finally:
            engine.dispose()
        assert flow_run_id, f"{job_id} has no flow run"

        def host() -> str | None:
            found = [
                log.stem.removeprefix("prefect-worker-")
                for log in self.logs.glob("prefect-worker-*.log")
                if flow_run_id in log.read_text()
            ]
            return found[0] if found else None

        return wait_for(host, 60, lambda: f"no Prefect worker ran {flow_run_id}\n{self.tails()}")

    def read_on(self, host: str, paths: list[str]) -> dict[str, dict[str, Any]]:
        """Each path (relative to the share) as `host` sees it through its mount: its size by
        stat and the sha256 and length of its bytes."""
        code = (
            "import hashlib, json, os, sys\n"
            "out = {}\n"
            "for p in sys.argv[2:]:\n"
            "    full = os.path.join(sys.argv[1], p)\n"
            "    size = os.stat(full).st_size\n"
            "    data = open(full, 'rb').read()\n"
            "    out[p] = {'stat_size': size, 'length': len(data),\n"
            "              'sha256': hashlib.sha256(data).hexdigest()}\n"
            "print(json.dumps(out))\n"
        )
        proc = subprocess.run(
            self.net.exec(host, sys.executable, "-c", code, str(self.shared), *paths),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))

    def run_on(self, host: str, code: str, *args: str) -> None:
        proc = subprocess.run(
            self.net.exec(host, sys.executable, "-c", code, *args),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
        )
        assert proc.returncode == 0, proc.stderr

    def result_bytes(self, task_id: str) -> bytes:
        response = httpx.get(f"{self.api}/tasks/{task_id}/result", timeout=30)
        assert response.status_code == 200, response.text
        return response.content


@pytest.fixture(scope="module")
def prefect_database() -> Iterator[str]:
    name = f"mh_prefect_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, prefect_database: str
) -> Iterator[MountedCluster]:
    assert os.geteuid() == 0, "the multi-host test needs root for `ip netns` and FUSE mounts"
    require_tools()
    base = tmp_path_factory.mktemp("hosts")
    shared, logs = base / "share", base / "logs"
    shared.mkdir()
    logs.mkdir()

    def everything() -> str:
        return "\n".join(f"--- {p.name}\n{tail(p)}" for p in sorted(logs.glob("*.log")))

    with contextlib.ExitStack() as stack:
        net = stack.enter_context(network(("a", "w1", "w2")))
        a = net.hosts["a"]
        prefect_api = f"http://{a}:4200/api"
        # The machine's PostgreSQL listens on loopback only: a relay on the bridge's address
        # makes it the database host the API host reaches over the network.
        pg_port = free_port()
        relay = start(
            [
                "socat",
                f"TCP-LISTEN:{pg_port},bind={net.gateway},reuseaddr,fork",
                "TCP:127.0.0.1:5432",
            ],
            os.environ,
            logs / "pg-relay.log",
        )
        stack.callback(stop, relay)
        # A host cut off in the middle of a transaction keeps its row locks until the server
        # drops its connection: wait_timeout bounds that (TCP keepalive alone does not, while the
        # server still retransmits to the lost host). With pool_pre_ping the service's idle
        # pooled connections lose nothing to it. See docs/deployment.md, Database host.
        mariadb = stack.enter_context(
            private_mariadb(
                base / "mariadb",
                host=a,
                on_host=net.exec("a"),
                options=[f"--wait-timeout={WAIT_TIMEOUT}", "--tcp-keepalive-time=5"],
            )
        )
        # If the setup fails before the export is up: what started stops before the databases.
        stack.callback(net.stop_all)
        mariadb.create_database("mh_service")
        common = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DASK_"))}
        common.update(
            DATABASE_URL=mariadb.url("mh_service"),
            NFS_SHARE_ROOT_PATH=str(shared),
            DATA_DIR=str(base / "data"),
            PREFECT_API_URL=prefect_api,
            DASK_SCHEDULER_ADDRESS=f"tcp://{a}:8786",
            RESULT_CACHE_ENABLED="false",
            SQLFLUFF_SERVICE_HOME=str(REPO_ROOT),
            SQLFLUFF_SERVICE_VENV=str(BIN.parent),
            SQLFLUFF_SERVICE_ENV=str(base / "no.env"),
            # A cut-off worker is given up after 5 s, not 5 minutes.
            DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL="5s",
            DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="3s",
        )

        def env(host: str, **extra: str) -> dict[str, str]:
            return {**common, "PREFECT_HOME": str(base / f"prefect-{host}"), **extra}

        def role(host: str, unit: str, log: str, **extra: str) -> None:
            """The command of `deployments/systemd/sqlfluff-<unit>.service`, on `host`."""
            command = [str(REPO_ROOT / UNIT_COMMANDS[f"sqlfluff-{unit}"])]
            net.start(host, command, env(host, **extra), logs / f"{log}.log")

        def once(host: str, *command: str) -> None:
            proc = subprocess.run(
                net.exec(host, *command),
                capture_output=True,
                text=True,
                timeout=300,
                cwd=REPO_ROOT,
                env=env(host),
            )
            assert proc.returncode == 0, f"{command}:\n{proc.stdout}\n{proc.stderr}"

        once("a", str(REPO_ROOT / "deployments/bin/migrate.sh"))
        role(
            "a",
            "prefect-server",
            "prefect-server",
            PREFECT_API_DATABASE_CONNECTION_URL=(
                f"postgresql+asyncpg://postgres@{net.gateway}:{pg_port}/{prefect_database}"
            ),
            PREFECT_SERVER_HOST=a,
            PREFECT_SERVER_PORT="4200",
        )
        role(
            "a",
            "dask-scheduler",
            "dask-scheduler",
            DASK_SCHEDULER_HOST=a,
            DASK_DASHBOARD_ADDRESS=f"{a}:0",
        )
        role(
            "a",
            "api",
            "api",
            API_HOST=a,
            API_PORT="8000",
            API_WORKERS="2",
            PROMETHEUS_MULTIPROC_DIR=str(base / "api-metrics"),
        )
        ssh = stack.enter_context(export_over_ssh(net, "a", shared, base / "sshd", free_port()))
        # Leaving: every role and mount stops (all at once) before the export and the databases.
        stack.callback(net.stop_all)

        def join(host: str) -> None:
            """A worker host: the share mounted, then its roles."""
            if host not in net.hosts:
                net.add(host, 10 + len(net.hosts))
            mount(net, host, ssh, shared, logs / f"sshfs-{host}.log")
            role(
                host,
                "dask-worker",
                f"dask-worker-{host}",
                DASK_WORKERS_PER_HOST="1",
                DASK_WORKER_HOST=net.hosts[host],
                DASK_WORKER_NAME=host,
            )
            role(
                host,
                "prefect-worker",
                f"prefect-worker-{host}",
                PREFECT_WORKER_QUERY_SECONDS="1",
                PREFECT_WORKER_PREFETCH_SECONDS="5",
            )

        for host in ("w1", "w2"):
            join(host)
        wait_for(lambda: http_ok(f"{prefect_api}/health"), 180, everything, 1)
        # docs/deployment.md: deploy.sh creates the pool and registers prefect.yaml's deployments.
        once("a", str(REPO_ROOT / "deployments/bin/deploy.sh"))
        api = f"http://{a}:8000"
        wait_for(lambda: http_ok(f"{api}/health"), 180, everything, 1)
        wait_for(lambda: worker_names(net, a) >= {"w1", "w2"}, 120, everything, 1)
        yield MountedCluster(api, prefect_api, shared, common["DATABASE_URL"], net, logs, join=join)


def worker_names(net: Net, address: str) -> set[str]:
    """The names of the workers the scheduler knows, asked from inside the API host."""
    code = (
        "import json; from distributed import Client; "
        f"c = Client('tcp://{address}:8786', timeout=5); "
        "print(json.dumps([w['name'] for w in c.scheduler_info()['workers'].values()])); c.close()"
    )
    proc = subprocess.run(net.exec("a", sys.executable, "-c", code), capture_output=True, text=True)
    try:
        return {str(n) for n in json.loads(proc.stdout)}
    except ValueError:
        return set()


def models(project: str, count: int) -> dict[str, bytes]:
    """The first `count` dbt models of a corpus project, as archive entries."""
    entries = folder_entries(CORPUS / f"dbt/{project}/models", project)
    return dict(list(entries.items())[:count])


@dataclass
class Job:
    job_id: str
    entries: dict[str, bytes]


@pytest.fixture(scope="module")
def job_on_both_hosts(cluster: MountedCluster) -> Job:
    """One COMPLETED job on the two worker hosts, shared by the tests that only read it."""
    entries = {**folder_entries(CORPUS / "tpch", "tpch"), **models("cal-itp-data-infra", 30)}
    job_id = cluster.submit_zip("both", entries)
    body = cluster.wait_final(job_id)
    assert body["job_status"] == "COMPLETED", body
    return Job(job_id, entries)


def test_files_are_linted_on_both_worker_hosts(
    cluster: MountedCluster, job_on_both_hosts: Job
) -> None:
    hosts = cluster.hosts_by_file(job_on_both_hosts.job_id)
    assert set(hosts) == set(job_on_both_hosts.entries)
    assert set(hosts.values()) == {"w1", "w2"}, hosts
    counts = {h: sum(1 for v in hosts.values() if v == h) for h in ("w1", "w2")}
    print(f"files per worker host: {counts}")  # noqa: T201 - the figures, with -s or -rA


def test_results_on_the_mounts_are_what_the_api_serves(
    cluster: MountedCluster, job_on_both_hosts: Job
) -> None:
    rows = cluster.rows(job_on_both_hosts.job_id)
    served = {r.result_file_path: cluster.result_bytes(r.task_id) for r in rows}
    for host in {r.lint_host for r in rows}:
        paths = [r.result_file_path for r in rows if r.lint_host == host]
        seen = cluster.read_on(host, paths)
        for path in paths:
            data = served[path]
            assert seen[path]["sha256"] == hashlib.sha256(data).hexdigest(), (host, path)
            assert data == (cluster.shared / path).read_bytes(), path

    # A rewrite from another host (with write_json, as a re-run of the batch writes it: a
    # temporary file renamed over the result) while the first host's mount has the result's
    # attributes cached, its size among them.
    row = rows[0]
    path, old = str(row.result_file_path), served[str(row.result_file_path)]
    reader = str(row.lint_host)
    writer = "w2" if reader == "w1" else "w1"
    cluster.read_on(reader, [path])
    [record] = json.loads(old)
    record["violations"] = [*record["violations"], *record["violations"]] or [{"code": "X"}]
    wanted = json.dumps([record]).encode()
    cluster.run_on(
        writer,
        "import json, sys; from pathlib import Path; from linting.storage import write_json; "
        "write_json(Path(sys.argv[1]), json.loads(sys.argv[2]))",
        str(cluster.shared / path),
        wanted.decode(),
    )
    seen = cluster.read_on(reader, [path])[path]
    # The cache is on and hides the change on the reader's host: stat gives the old size, and
    # (sshfs revalidates nothing at open, unlike NFS's close-to-open) a read there is cut to it.
    assert seen["stat_size"] == len(old) < len(wanted), (
        f"{reader}'s mount shows no attribute caching, so this test would not show what it hides",
        seen,
    )
    # What the API serves is the rewrite, whole, the moment write_json returned on the writer:
    # the data crossed the mount before the rename, and the API host reads the export itself.
    assert cluster.result_bytes(row.task_id) == wanted
    assert (cluster.shared / path).read_bytes() == wanted


def test_job_completes_when_a_worker_host_is_cut_off(cluster: MountedCluster) -> None:
    entries = models("cal-itp-data-infra", 120)
    job_id = cluster.submit_zip("cut", entries)

    def some_done() -> bool | None:
        return cluster.job(job_id)["progress"]["SUCCESS"] >= 30 or None

    wait_for(some_done, 300, lambda: f"job not progressing\n{cluster.tails()}", 0.5)
    # The worker host that is not running the job's flow run: its Dask worker is lost mid-job.
    # (A cut flow-run host is the stale-run path: failed after STALE_AFTER_SECONDS, retried.)
    flow_host = cluster.flow_run_host(job_id)
    victim = next(h for h in ("w1", "w2") if h != flow_host)
    cluster.net.cut(victim)
    cut_at = time.monotonic()
    on_victim = {
        r.file_name
        for r in cluster.rows(job_id)
        if r.status == TaskStatus.SUCCESS and r.lint_host == victim
    }
    assert on_victim, f"{victim} had linted nothing before it was cut off"
    body = cluster.wait_final(job_id, timeout=600)
    print(f"job completed {time.monotonic() - cut_at:.1f} s after {victim} was cut off")  # noqa: T201 - the figures, with -s or -rA
    assert body["job_status"] == "COMPLETED", body
    engine = make_engine(cluster.database_url)
    try:
        assert_rows_match_files(make_sessionmaker(engine), cluster.shared, job_id, set(entries))
    finally:
        engine.dispose()
    hosts = cluster.hosts_by_file(job_id)
    # What the victim finished stays: Dask re-ran its batches on the other host, which skipped
    # SUCCESS files. (Cut off, it reaches neither the share nor the database any more.)
    assert on_victim <= {f for f, h in hosts.items() if h == victim}
    assert sum(h == flow_host for h in hosts.values()) >= len(entries) // 3


def test_a_worker_host_added_mid_job_takes_work(cluster: MountedCluster) -> None:
    entries = models("tuva", 400)
    job_id = cluster.submit_zip("added", entries)

    def some_done() -> bool | None:
        return cluster.job(job_id)["progress"]["SUCCESS"] >= 10 or None

    wait_for(some_done, 300, lambda: f"job not progressing\n{cluster.tails()}", 0.5)
    assert cluster.job(job_id)["job_status"] == "PROCESSING"
    cluster.join("w3")
    body = cluster.wait_final(job_id, timeout=600)
    assert body["job_status"] == "COMPLETED", body
    hosts = cluster.hosts_by_file(job_id)
    assert set(hosts) == set(entries)
    on_w3 = sum(h == "w3" for h in hosts.values())
    print(f"w3, added mid-job, linted {on_w3} of {len(entries)} files")  # noqa: T201 - the figures, with -s or -rA
    assert on_w3 > 0, hosts


def test_a_host_cut_off_mid_transaction_does_not_hold_its_locks(
    cluster: MountedCluster, job_on_both_hosts: Job
) -> None:
    """What made the cut-off test hang once: a host lost between an UPDATE and its COMMIT keeps
    the row locked until the database server drops its connection (TCP keepalive)."""
    job_id = job_on_both_hosts.job_id
    cluster.net.add("x", 10 + len(cluster.net.hosts))
    holder = subprocess.Popen(
        cluster.net.exec(
            "x",
            sys.executable,
            "-c",
            "import sys, time; from sqlalchemy import create_engine, text\n"
            "conn = create_engine(sys.argv[1]).connect()\n"
            "conn.execute(text('UPDATE linting_jobs SET error_message = :m WHERE job_id = :j'),"
            " {'m': 'held by x', 'j': sys.argv[2]})\n"
            "print('locked', flush=True)\n"
            "time.sleep(600)\n",
            cluster.database_url,
            job_id,
        ),
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        cluster.net.cut("x")
        cut_at = time.monotonic()
        engine = make_engine(cluster.database_url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"SET SESSION innodb_lock_wait_timeout = {WAIT_TIMEOUT * 3}"))
                conn.execute(
                    text("UPDATE linting_jobs SET error_message = NULL WHERE job_id = :j"),
                    {"j": job_id},
                )
        finally:
            engine.dispose()
        released = time.monotonic() - cut_at
        print(f"the lost host's lock went {released:.1f} s after the cut")  # noqa: T201
    finally:
        holder.kill()
        holder.wait()
