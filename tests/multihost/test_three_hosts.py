"""The system as three hosts on one machine, in network namespaces joined by a bridge: an API
host (the API under gunicorn via `deployments/bin/api.sh`, the Prefect server, the serve process,
the Dask scheduler via `deployments/bin/dask-scheduler.sh`) and two worker hosts (a `dask worker`
each, via `deployments/bin/dask-worker.sh`). They share one directory as their NFS root and one
SQLite file as their database. Shows a job's files linted on both worker hosts, and a job
completing when one worker host is cut off mid-job.

Needs root and `ip netns` (as CI has); it fails, never skips, without them.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.engine import make_engine, make_sessionmaker
from db.models import TaskStatus
from deployments.processes import http_ok, start, stop, tail, wait_for
from tests.multihost.support import Cluster, Net, network, task_rows
from tests.support.corpus import CORPUS
from tests.support.databases import REPO_ROOT, migrate
from tests.support.factories import folder_entries

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert os.geteuid() == 0, "the multi-host test needs root for `ip netns`"
    base = tmp_path_factory.mktemp("hosts")
    shared, logs = base / "share", base / "logs"
    shared.mkdir()
    logs.mkdir()
    database_url = f"sqlite:///{base / 'service.db'}"
    migrate(database_url)
    procs: list[subprocess.Popen[bytes]] = []
    with network() as net:
        a = net.hosts["a"]
        prefect_api = f"http://{a}:4200/api"
        scheduler = f"tcp://{a}:8786"
        common = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        common.update(
            DATABASE_URL=database_url,
            NFS_SHARE_ROOT_PATH=str(shared),
            DATA_DIR=str(base / "data"),
            PREFECT_API_URL=prefect_api,
            PREFECT_HOME=str(base / "prefect"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DASK_SCHEDULER_ADDRESS=scheduler,
            RESULT_CACHE_ENABLED="false",
            SQLFLUFF_SERVICE_ENV=str(base / "no.env"),
            # A cut-off worker is given up after 5 s, not 5 minutes.
            DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL="5s",
            DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="3s",
        )

        def run(host: str, role: str, args: list[str], **env: str) -> None:
            command = ["ip", "netns", "exec", net.ns(host), *args]
            procs.append(start(command, {**common, **env}, logs / f"{role}.log", cwd=REPO_ROOT))

        py = sys.executable
        try:
            run(
                "a",
                "prefect-server",
                [
                    str(Path(py).parent / "prefect"),
                    "server",
                    "start",
                    "--host",
                    a,
                    "--port",
                    "4200",
                ],
            )
            wait_for(
                lambda: http_ok(f"{prefect_api}/health"),
                120,
                lambda: tail(logs / "prefect-server.log"),
            )
            run(
                "a",
                "dask-scheduler",
                ["deployments/bin/dask-scheduler.sh"],
                DASK_SCHEDULER_HOST=a,
                DASK_DASHBOARD_ADDRESS=f"{a}:0",
            )
            for host in ("w1", "w2"):
                run(
                    host,
                    f"dask-worker-{host}",
                    ["deployments/bin/dask-worker.sh"],
                    DASK_WORKERS_PER_HOST="1",
                    DASK_WORKER_HOST=net.hosts[host],
                    DASK_WORKER_NAME=host,
                    SQLFLUFF_SERVICE_VENV=str(Path(py).parent.parent),
                )
            run(
                "a",
                "serve",
                [py, "-m", "deployments.serve"],
                PREFECT_RUNNER_POLL_FREQUENCY="1",
                PREFECT_LOGGING_EXTRA_LOGGERS="flows,linting,db",
            )
            # The production start script: gunicorn with uvicorn workers.
            run(
                "a",
                "api",
                ["deployments/bin/api.sh"],
                API_HOST=a,
                API_PORT="8000",
                API_WORKERS="2",
                SQLFLUFF_SERVICE_VENV=str(Path(py).parent.parent),
            )
            api = f"http://{a}:8000"
            wait_for(
                lambda: http_ok(f"{api}/health"),
                180,
                lambda: "\n".join(tail(p) for p in logs.glob("*.log")),
            )
            wait_for(
                lambda: worker_names(net, a) == {"w1", "w2"},
                120,
                lambda: "\n".join(tail(p) for p in logs.glob("*.log")),
            )
            yield Cluster(api, prefect_api, shared, database_url, net, logs)
        finally:
            for proc in reversed(procs):
                stop(proc, grace=15)


def worker_names(net: Net, address: str) -> set[str]:
    """The names of the workers the scheduler knows, asked from inside the API host."""
    code = (
        "import json; from distributed import Client; "
        f"c = Client('tcp://{address}:8786', timeout=5); "
        "print(json.dumps([w['name'] for w in c.scheduler_info()['workers'].values()])); c.close()"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", net.ns("a"), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        return {str(n) for n in json.loads(proc.stdout)}
    except ValueError:
        return set()


def test_files_are_linted_on_both_worker_hosts(cluster: Cluster) -> None:
    entries = {
        **folder_entries(CORPUS / "tpch", "tpch"),
        **folder_entries(CORPUS / "tpcds", "tpcds"),
    }
    job_id = cluster.submit_zip("both", entries)
    body = cluster.wait_final(job_id)
    assert body["job_status"] == "COMPLETED", body
    hosts = cluster.hosts_by_file(job_id)
    assert set(hosts) == set(entries)
    assert set(hosts.values()) == {"w1", "w2"}, hosts


def test_job_completes_when_a_worker_host_is_cut_off(cluster: Cluster) -> None:
    folder = CORPUS / "dbt/cal-itp-data-infra/models"
    entries = folder_entries(folder, "m")
    job_id = cluster.submit_zip("cut", entries)

    def some_done() -> bool | None:
        body = cluster.job(job_id)
        return body["progress"]["SUCCESS"] >= 60 or None

    wait_for(some_done, 300, lambda: f"job not progressing\n{cluster.tails()}", 0.5)
    cluster.net.cut("w1")
    engine = make_engine(cluster.database_url)
    with make_sessionmaker(engine)() as session:
        on_w1 = {
            r.file_name
            for r in task_rows(session, job_id)
            if r.status == TaskStatus.SUCCESS and r.lint_host == "w1"
        }
    engine.dispose()
    assert on_w1, "w1 had linted nothing before it was cut off"
    body = cluster.wait_final(job_id, timeout=600)
    assert body["job_status"] == "COMPLETED", body
    hosts = cluster.hosts_by_file(job_id)
    assert set(hosts) == set(entries)  # one row per file, every one SUCCESS
    # What w1 finished stays: Dask re-ran its batches on w2, which skipped SUCCESS files. (The
    # cut is of the network only: w1 still reaches the shared dir and the SQLite file, so it
    # may finish the file in hand; each file still has exactly one row.)
    assert on_w1 <= {f for f, h in hosts.items() if h == "w1"}
    assert len([h for h in hosts.values() if h == "w2"]) >= len(entries) // 2
