"""A real Prefect server for the tests that trigger flow runs.

Prefect reads PREFECT_API_URL once, when it is first imported, so `pytest_configure` picks the
port and sets the variable before any test module imports Prefect; this starts the server there.
"""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from deployments.processes import free_port, http_ok, start, stop, tail, wait_for

BIN = Path(sys.executable).parent


def reserve_api_url() -> str:
    return f"http://127.0.0.1:{free_port()}/api"


@contextlib.contextmanager
def running_server(api_url: str, home: Path) -> Iterator[subprocess.Popen[bytes]]:
    port = api_url.rsplit(":", 1)[1].split("/", 1)[0]
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = home / "server.log"
    proc = start(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port], env, log
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or http_ok(f"{api_url}/health"),
            90,
            lambda: f"Prefect server did not start:\n{tail(log)}",
        )
        assert proc.poll() is None, f"Prefect server exited:\n{tail(log)}"
        yield proc
    finally:
        stop(proc)
