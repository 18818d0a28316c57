"""gunicorn's settings module (`gunicorn -c python:deployments.gunicorn_conf`, deployments/bin/
api.sh): the arbiter's log lines, its first included, in the service's format (each worker sets
its loggers again in create_app)."""

from typing import Any

from gunicorn.glogging import Logger

from core.logging import configure_logging
from core.settings import load_settings_or_exit


class ServiceLogger(Logger):
    """gunicorn's logger, then its console handlers swapped for the service's (at start and at
    every configuration reload)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(load_settings_or_exit())


logger_class = ServiceLogger
