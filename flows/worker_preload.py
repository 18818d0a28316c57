"""Dask worker preload: warm a lint child (SQLFluff imported, dialect built) as the worker starts.

Used as `dask worker --preload flows.worker_preload` or `LocalCluster(preload=[...])`.
"""

import logging
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
