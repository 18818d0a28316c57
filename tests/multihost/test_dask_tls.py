"""Dask over TLS, as the production kit runs it (docs/deployment.md, "Dask over TLS").

Certificates from `deployments/make-dask-certs.sh`; three hosts in network namespaces: the API
host (Prefect server, `prefect-worker.sh` running the flow runs, `dask-scheduler.sh` on tls://,
`api.sh`), a worker host (`dask-worker.sh` joining with the certificate) and an outsider host with
network access to both but not the cluster's certificate. Shows a job COMPLETED through the API
with every connection on TLS, a client with the certificate running work on the worker host, and
the outsider refused by the scheduler and by the worker, over plain tcp, over TLS without a
certificate and with a certificate of its own CA.

Needs root and `ip netns` (as CI has); it fails, never skips, without them.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployments.processes import http_ok, start, stop, tail, wait_for
from tests.multihost.support import Cluster, network
from tests.support.corpus import CORPUS
from tests.support.databases import REPO_ROOT, migrate
from tests.support.factories import folder_entries

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MAKE_CERTS = REPO_ROOT / "deployments/make-dask-certs.sh"
PROBE_TIMEOUT = 5.0  # seconds a probe's connection may take
BIN = Path(sys.executable).parent


def make_certs(folder: Path) -> dict[str, str]:
    proc = subprocess.run(
        [str(MAKE_CERTS), str(folder)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return {
        "tls_ca_file": str(folder / "ca.pem"),
        "tls_client_cert": str(folder / "cluster.pem"),
        "tls_client_key": str(folder / "cluster-key.pem"),
    }


@dataclass
class TlsCluster(Cluster):
    scheduler: str
    certs: dict[str, str]  # Security(...) arguments: the cluster's CA and certificate
    rogue: dict[str, str]  # the cluster's CA, a certificate and key of another CA
    env: dict[str, str]  # the environment without the kit's TLS settings

    def probe(self, host: str, kind: str, address: str, tls: dict[str, str] | None) -> Any:
        """Run tests/multihost/dask_probe.py on `host`; its answer, within a bounded time."""
        spec = {"kind": kind, "address": address, "tls": tls, "timeout": PROBE_TIMEOUT}
        proc = subprocess.run(
            self.net.exec(
                host, sys.executable, "-m", "tests.multihost.dask_probe", json.dumps(spec)
            ),
            capture_output=True,
            text=True,
            timeout=90,
            cwd=REPO_ROOT,
            env=self.env,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    assert os.geteuid() == 0, "the multi-host test needs root for `ip netns`"
    base = tmp_path_factory.mktemp("tls-hosts")
    shared, logs = base / "share", base / "logs"
    shared.mkdir()
    logs.mkdir()
    certs = make_certs(base / "certs")
    # An outsider's own CA and certificate; it may well know the cluster's (public) CA.
    rogue = {**make_certs(base / "rogue"), "tls_ca_file": certs["tls_ca_file"]}
    database_url = f"sqlite:///{base / 'service.db'}"
    migrate(database_url)
    procs: list[subprocess.Popen[bytes]] = []
    # "x": the outsider, on the same network, without the cluster's certificate.
    with network(("a", "w1", "x"), salt=517) as net:
        a = net.hosts["a"]
        prefect_api = f"http://{a}:4200/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DASK_"))}
        env.update(
            DATABASE_URL=database_url,
            NFS_SHARE_ROOT_PATH=str(shared),
            DATA_DIR=str(base / "data"),
            PREFECT_API_URL=prefect_api,
            PREFECT_HOME=str(base / "prefect"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            RESULT_CACHE_ENABLED="false",
            SQLFLUFF_SERVICE_HOME=str(REPO_ROOT),
            SQLFLUFF_SERVICE_VENV=str(BIN.parent),
            SQLFLUFF_SERVICE_ENV=str(base / "no.env"),
        )
        # What /etc/sqlfluff-service.env says on the cluster's hosts.
        kit = {
            **env,
            "DASK_SCHEDULER_ADDRESS": f"tls://{a}:8786",
            "DASK_TLS_CA_FILE": certs["tls_ca_file"],
            "DASK_TLS_CERT": certs["tls_client_cert"],
            "DASK_TLS_KEY": certs["tls_client_key"],
        }

        def run(host: str, role: str, args: list[str], **extra: str) -> None:
            command = net.exec(host, *args)
            procs.append(start(command, {**kit, **extra}, logs / f"{role}.log", cwd=REPO_ROOT))

        def prefect(*args: str) -> None:
            command = args if args[0].startswith("deployments/") else (str(BIN / "prefect"), *args)
            proc = subprocess.run(
                net.exec("a", *command),
                capture_output=True,
                text=True,
                timeout=180,
                cwd=REPO_ROOT,
                env=kit,
            )
            assert proc.returncode == 0, f"prefect {args}:\n{proc.stdout}\n{proc.stderr}"

        def everything() -> str:
            return "\n".join(f"--- {p.name}\n{tail(p)}" for p in sorted(logs.glob("*.log")))

        try:
            server = [str(BIN / "prefect"), "server", "start", "--host", a, "--port", "4200"]
            run("a", "prefect-server", server)
            wait_for(lambda: http_ok(f"{prefect_api}/health"), 120, everything)
            run(
                "a",
                "dask-scheduler",
                ["deployments/bin/dask-scheduler.sh"],
                DASK_SCHEDULER_HOST=a,
                DASK_DASHBOARD_ADDRESS=f"{a}:0",
            )
            run(
                "w1",
                "dask-worker-w1",
                ["deployments/bin/dask-worker.sh"],
                DASK_WORKERS_PER_HOST="1",
                DASK_WORKER_HOST=net.hosts["w1"],
                DASK_WORKER_NAME="w1",
            )
            # The production flow-run path: the deployments of prefect.yaml on a process pool,
            # their runs started by prefect-worker.sh.
            prefect("deployments/bin/deploy.sh")  # prefect.yaml's {{ $VAR }}s from the settings
            run(
                "a",
                "prefect-worker",
                ["deployments/bin/prefect-worker.sh"],
                PREFECT_WORKER_QUERY_SECONDS="1",
                PREFECT_WORKER_PREFETCH_SECONDS="5",
            )
            run("a", "api", ["deployments/bin/api.sh"], API_HOST=a, API_PORT="8000")
            api = f"http://{a}:8000"
            wait_for(lambda: http_ok(f"{api}/health"), 180, everything)
            cluster = TlsCluster(
                api,
                prefect_api,
                shared,
                database_url,
                net,
                logs,
                kit["DASK_SCHEDULER_ADDRESS"],
                certs,
                rogue,
                env,
            )
            wait_for(
                lambda: cluster.probe("a", "submit", cluster.scheduler, certs).get("ran_on"),
                120,
                everything,
                1.0,
            )
            yield cluster
        finally:
            for proc in reversed(procs):
                stop(proc, grace=15)


def worker_address(cluster: TlsCluster) -> str:
    """w1's worker, as the scheduler lists it (from its log: one worker registers)."""
    log = (cluster.logs / "dask-scheduler.log").read_text()
    [address] = {
        line.split("Register worker addr: ")[1].split()[0]
        for line in log.splitlines()
        if "Register worker addr: " in line
    }
    return address


def test_job_completes_with_the_cluster_on_tls(cluster: TlsCluster) -> None:
    entries = folder_entries(CORPUS / "tpch", "tpch")
    job_id = cluster.submit_zip("tls", entries)
    body = cluster.wait_final(job_id)
    assert body["job_status"] == "COMPLETED", body
    hosts = cluster.hosts_by_file(job_id)
    assert set(hosts) == set(entries)
    assert set(hosts.values()) == {"w1"}, hosts
    scheduler_log = (cluster.logs / "dask-scheduler.log").read_text()
    assert re.search(rf"Scheduler at: +{re.escape(cluster.scheduler)}\n", scheduler_log)
    assert worker_address(cluster).startswith(f"tls://{cluster.net.hosts['w1']}:")


def test_a_client_with_the_certificate_runs_work_on_the_worker_host(cluster: TlsCluster) -> None:
    # From the outsider's own network position: only the certificate differs from the refusals.
    answer = cluster.probe("x", "submit", cluster.scheduler, cluster.certs)
    assert answer == {"ok": True, "ran_on": "w1", "seconds": answer["seconds"]}
    for address in (cluster.scheduler, worker_address(cluster)):
        answer = cluster.probe("x", "call", address, cluster.certs)
        assert answer["ok"], (address, answer)


@pytest.mark.parametrize(
    ("target", "kind", "scheme", "credentials"),
    [
        ("scheduler", "submit", "tcp", "no-cert"),
        ("scheduler", "submit", "tls", "own-ca"),
        ("scheduler", "call", "tcp", "no-cert"),
        ("scheduler", "call", "tls", "no-cert"),
        ("scheduler", "call", "tls", "own-ca"),
        ("worker", "call", "tcp", "no-cert"),
        ("worker", "call", "tls", "no-cert"),
        ("worker", "call", "tls", "own-ca"),
    ],
    ids=lambda v: str(v),
)
def test_a_host_without_the_certificate_is_refused(
    cluster: TlsCluster, target: str, kind: str, scheme: str, credentials: str
) -> None:
    """Plain tcp, TLS with no certificate, TLS with a certificate of another CA: each refused
    within the probe's timeout, by the scheduler and straight at the worker, whose log names the
    outsider's failed handshake (the refusal is the server's, not a client-side mistake)."""
    address = cluster.scheduler if target == "scheduler" else worker_address(cluster)
    address = address.replace("tls://", f"{scheme}://")
    log = cluster.logs / ("dask-scheduler.log" if target == "scheduler" else "dask-worker-w1.log")
    refused = f"TLS handshake failed with remote 'tls://{cluster.net.hosts['x']}:"
    before = log.read_text().count(refused)
    tls = cluster.rogue if credentials == "own-ca" else None
    answer = cluster.probe("x", kind, address, tls)
    assert not answer["ok"], answer
    assert answer["seconds"] < PROBE_TIMEOUT + 10, answer
    wait_for(lambda: log.read_text().count(refused) > before or None, 30, lambda: tail(log))


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"DASK_TLS_CA_FILE": "/nonexistent/ca.pem"}, "DASK_TLS_CA_FILE"),
        ({"DASK_TLS_KEY": ""}, "DASK_TLS_KEY"),
        ({"DASK_SCHEDULER_ADDRESS": "tcp://scheduler:8786"}, "DASK_SCHEDULER_ADDRESS"),
    ],
    ids=["missing-file", "one-unset", "tcp-address"],
)
@pytest.mark.parametrize("script", ["dask-scheduler.sh", "dask-worker.sh", "prefect-worker.sh"])
def test_half_configured_tls_stops_the_start_script(
    tmp_path: Path, script: str, settings: dict[str, str], named: str
) -> None:
    """No silent fallback to plain tcp: the script exits 2 naming the variable, before starting."""
    certs = make_certs(tmp_path)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DASK_"))},
        "SQLFLUFF_SERVICE_ENV": str(tmp_path / "no.env"),
        "DASK_SCHEDULER_ADDRESS": "tls://scheduler:8786",
        "DASK_TLS_CA_FILE": certs["tls_ca_file"],
        "DASK_TLS_CERT": certs["tls_client_cert"],
        "DASK_TLS_KEY": certs["tls_client_key"],
        **settings,
    }
    proc = subprocess.run(
        [str(REPO_ROOT / "deployments/bin" / script)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith(f"invalid setting {named}:"), proc.stderr
