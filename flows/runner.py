"""The one place the flow's task runner is chosen, and the size of the cluster it runs on."""

import logging
import os

from prefect.context import FlowRunContext
from prefect_dask import DaskTaskRunner

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
    """Threads of the Dask workers connected now to the current flow run's cluster.

    Batches are sized from it (linting/batching.py), so it must be the cluster's, not this
    host's: with three worker hosts, sizing for this host's cores makes too few batches. The
    task runner's client is created lazily; asking for it here connects the flow run to the
    cluster it will submit to anyway.
    """
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if not isinstance(runner, DaskTaskRunner):
        return os.cpu_count() or 1
    try:
        threads = sum(runner.client.nthreads().values())
    except (OSError, TimeoutError) as exc:
        logger.warning("cannot count Dask workers (%s); assuming this host's cores", exc)
        return os.cpu_count() or 1
    if threads == 0:
        # Workers may still be connecting (a cluster just restarted): Dask queues the batches
        # until they do, and sizing for this host's cores keeps the job going meanwhile.
        logger.warning("no Dask worker is connected yet; assuming this host's cores")
        return os.cpu_count() or 1
    return threads
