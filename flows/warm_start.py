"""Flow runs start in a process forked from a warm fork server, not in a new interpreter.

A new interpreter spends ~2 s of CPU importing Prefect, SQLAlchemy, Dask and the flow before a
job's first file (measured on a 2-core machine): more than the whole lint of a small job. The
runner of `deployments/serve.py` runs served flows through Prefect's `run_flow_in_subprocess`,
which asks `multiprocessing` for a "spawn" context. Here it is answered with the standard
library's fork server instead: one process that imported those modules once, at start, and forks
a fresh child per flow run. Each run still has its own process, so a run that crashes or is
killed takes only itself down and Prefect marks only that run Crashed; and the fork server holds
no state of any job (it forks before any run's parameters exist).
"""

import logging
import multiprocessing
import multiprocessing.forkserver
import os
from types import ModuleType
from typing import Any

import prefect.flow_engine

logger = logging.getLogger(__name__)

# The process that imported this module. In a flow run forked from the warm server it is the
# server's pid; in a run that started a new interpreter it is the run's own.
IMPORTED_IN_PID = os.getpid()


class _ForkServerForSpawn:
    """Stands in for the `multiprocessing` module inside `prefect.flow_engine` only."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def get_context(self, method: str | None = None) -> Any:
        return self._real.get_context("forkserver" if method == "spawn" else method)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def enable(preload: list[str]) -> None:
    """Serve flow runs from a fork server that has already imported `preload`; start it now.

    Call once, in the process that runs Prefect's Runner, before it starts any run.
    """
    multiprocessing.set_forkserver_preload(preload)
    if not isinstance(prefect.flow_engine.multiprocessing, _ForkServerForSpawn):
        prefect.flow_engine.multiprocessing = _ForkServerForSpawn(multiprocessing)  # type: ignore[assignment]
    # Started here, so the first job does not wait for its imports either.
    multiprocessing.forkserver.ensure_running()
    logger.info("flow runs start from a warm fork server (preloaded: %s)", ", ".join(preload))


def started_warm() -> bool:
    """True in a flow-run process forked from the warm server (no new interpreter started)."""
    return IMPORTED_IN_PID != os.getpid()
