"""The flow objects a Prefect runner loads, with the task runner chosen from settings.

The one module that reads settings at import: the runner imports it in a fresh process for
every flow run, with the environment of the worker process.
"""

from sqlalchemy.orm import configure_mappers

from core.logging import configure_logging
from core.settings import load_settings_or_exit
from flows.cleanup import cleanup
from flows.lint_job import lint_job as _lint_job
from flows.prefect_tls import share_prefect_contexts
from flows.relint import relint
from flows.runner import task_runner

_settings = load_settings_or_exit()
configure_logging(_settings)
share_prefect_contexts()
# Here, in the fork server, not on each warm flow run's first query (~30 ms each, profiled).
configure_mappers()
lint_job = _lint_job.with_options(task_runner=task_runner(_settings))

__all__ = ["cleanup", "lint_job", "relint"]
