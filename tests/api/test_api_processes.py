"""The production API process, started by `deployments/bin/api.sh` (gunicorn, two uvicorn
workers): HTTP metrics are counted across workers (Prometheus multiprocess mode), so every scrape
says the same whichever worker answers; gunicorn's, uvicorn's and the service's log lines are
one JSON format."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings
from deployments.processes import free_port, http_ok, start, stop, tail, wait_for
from tests.support.databases import REPO_ROOT

REQUESTS = 24


def _livez_count(api: str) -> float:
    text = httpx.get(f"{api}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("route") == "/livez"
    )


@pytest.mark.timeout(240)
def test_gunicorn_workers_share_metrics_and_log_json(
    settings: Settings, prefect_api: str, tmp_path: Path
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a dead run's: emptied at start
    env = {
        **os.environ,
        "SQLFLUFF_SERVICE_ENV": "/nonexistent",
        "SQLFLUFF_SERVICE_VENV": str(Path(sys.executable).parent.parent),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "api.log"
    proc: subprocess.Popen[bytes] = start([str(REPO_ROOT / "deployments/bin/api.sh")], env, log)
    try:

        def up() -> bool:
            assert proc.poll() is None, f"api.sh exited:\n{tail(log)}"
            return http_ok(f"{api}/livez")

        wait_for(up, 90, lambda: f"api.sh not up:\n{tail(log)}")
        # Both workers serving (one answering is not enough: the other may still be importing).
        wait_for(
            lambda: log.read_text(errors="replace").count("Application startup complete") >= 2,
            90,
            lambda: f"the second worker never started:\n{tail(log)}",
        )
        before = _livez_count(api)
        sent = 0

        def both_counted() -> bool:
            # A new connection each: gunicorn's workers take them from one socket, so which
            # worker gets one is the kernel's choice; send until each has counted some.
            nonlocal sent
            for _ in range(REQUESTS):
                assert httpx.get(f"{api}/livez", timeout=10).status_code == 200
                sent += 1
            return len(list(metrics_dir.glob("counter_*.db"))) >= 2

        wait_for(both_counted, 90, lambda: f"one worker took every request:\n{tail(log)}")
        counts = {_livez_count(api) for _ in range(8)}
        assert counts == {before + sent}, (before, sent, counts, tail(log))
        # Each worker writes its own file, and the stale file was dropped.
        counter_files = {p.name for p in metrics_dir.glob("counter_*.db")}
        assert "counter_999999.db" not in counter_files and len(counter_files) >= 2, counter_files
        # While running (at the group's SIGINT, lint children still importing print tracebacks).
        written = log.read_text(errors="replace")
    finally:
        stop(proc, grace=20)
    lines = [line for line in written.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}\n{tail(log, 80)}")
    loggers = {r["logger"] for r in records}
    assert {"gunicorn.error", "uvicorn.error", "uvicorn.access", "api.main"} <= loggers, loggers
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/livez" in r["msg"] for r in access)
