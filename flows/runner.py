"""The one place the flow's task runner is chosen."""

import logging
import os

from prefect_dask import DaskTaskRunner, get_dask_client

from core.settings import Settings

logger = logging.getLogger(__name__)


def task_runner(settings: Settings) -> DaskTaskRunner:
    """Connect to the long-lived scheduler at DASK_SCHEDULER_ADDRESS, by address.

    Without one, each flow run starts its own LocalCluster: correct, but about 2 s slower per
    run (measured on a 2-core machine), so `make up` always starts a long-lived cluster.
    """
    if settings.DASK_SCHEDULER_ADDRESS:
        return DaskTaskRunner(address=settings.DASK_SCHEDULER_ADDRESS)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": None, "threads_per_worker": 1, "dashboard_address": None}
    )


def worker_threads() -> int:
    """Dask worker threads of the current flow run's cluster (to size batches); inside a flow."""
    try:
        with get_dask_client() as client:
            return max(1, sum(client.nthreads().values()))
    except (OSError, ValueError, AttributeError, RuntimeError) as exc:
        logger.warning("cannot count Dask workers (%s); assuming this host's cores", exc)
        return os.cpu_count() or 1
