"""Dask preload of the scheduler and the worker nannies (deployments/bin/dask-*.sh): their log
lines in the service's format (the workers themselves preload flows.worker_preload)."""

from typing import Any

from core.logging import configure_logging
from core.settings import load_settings_or_exit


def dask_setup(_: Any) -> None:
    configure_logging(load_settings_or_exit())
