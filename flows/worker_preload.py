"""Dask worker preload: warm a lint child (SQLFluff imported, dialect built) as the worker starts.

Used as `dask worker --preload flows.worker_preload` or `LocalCluster(preload=[...])`.
"""

import logging
import signal
import threading
from typing import Any

from core.logging import configure_logging
from core.settings import get_settings
from flows.prefect_tls import share_prefect_contexts
from linting.children import warm_up
from linting.sandbox import isolation_method, policy_from_settings

logger = logging.getLogger(__name__)


def dask_setup(worker: Any) -> None:
    settings = get_settings()
    configure_logging(settings)
    share_prefect_contexts()  # the task runs' API clients
    if worker.nanny:
        # The nanny stops this process (Ctrl-C, or SIGINT to the host's process group as
        # `make up` and the tests stop roles): in ~0.3 s when it alone gets the signal; a worker
        # process that takes the SIGINT itself as well hangs until its nanny kills it 8 s later
        # (measured with `dask worker --nworkers 2`).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Fails the worker's start under LINT_NETWORK_ISOLATION=required, not its first lint.
    isolation_method(policy_from_settings(settings))

    def _warm() -> None:
        # Import the task's module (and so Prefect's engine) now, not on the first job: ~2 s of
        # CPU per worker otherwise lands on the first job (measured).
        import flows.lint_job  # noqa: F401

        outcome = warm_up(
            settings.SQLFLUFF_DIALECT,
            settings.LINT_MAX_FILE_BYTES,
            settings.NFS_SHARE_ROOT_PATH / "tmp",
        )
        if not outcome.ok:
            logger.warning("lint child warm-up failed: %s", outcome.error)

    # In a thread: the worker must not wait ~1 s for SQLFluff to import before it registers.
    threading.Thread(target=_warm, name="lint-warm-up", daemon=True).start()
