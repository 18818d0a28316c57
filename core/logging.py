"""Structured logs: one JSON object per line (or plain text), from every process of the service.

Each entry point calls `configure_logging(settings)`: the API, the serve process, every flow
run (deployments/entrypoints.py), Dask workers (flows/worker_preload.py) and lint children.
Every room's loggers (`OUR_LOGGERS`) get one handler on stderr; so do the libraries' loggers that
write to the console (`LIBRARY_LOGGERS`: gunicorn, uvicorn, Prefect, Dask) and the root logger,
in place of their console handlers, so one process writes one format. Handlers that send
elsewhere stay: Prefect's to its API (PREFECT_LOGGING_EXTRA_LOGGERS also sends `flows`, `linting`
and `db` records to the Prefect UI), files. Prefect and Dask keep their own levels.
`job_id`, `task_id` and `flow_run_id` come from `extra=` or from `log_context(...)`.
"""

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

from core.settings import Settings

CONTEXT_FIELDS = ("job_id", "task_id", "flow_run_id", "task_run_id")
OUR_LOGGERS = ("api", "services", "flows", "linting", "db", "core", "deployments", "client")
LIBRARY_LOGGERS = (
    "gunicorn.error",
    "gunicorn.access",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "prefect",
    "distributed",
)
_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "log_context", default=()
)


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add these fields to every record logged in this block (this thread or task)."""
    merged = {**dict(_context.get()), **{k: v for k, v in fields.items() if v}}
    token = _context.set(tuple(merged.items()))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None):
                line[name] = str(getattr(record, name))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{n}={getattr(record, n)}" for n in CONTEXT_FIELDS if getattr(record, n, None)
        )
        base = super().format(record)
        return f"{base} [{context}]" if context else base


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring twice replaces it."""


def _writes_to_console(handler: logging.Handler) -> bool:
    return isinstance(handler, _OurHandler) or (
        type(handler) is not logging.FileHandler
        and isinstance(handler, logging.StreamHandler)
        and getattr(handler, "stream", None) in (sys.stderr, sys.stdout)
    )


def configure_logging(settings: Settings) -> None:
    handler = _OurHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if settings.LOG_FORMAT == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in OUR_LOGGERS:
        log = logging.getLogger(name)
        log.handlers[:] = [h for h in log.handlers if not isinstance(h, _OurHandler)] + [handler]
        log.setLevel(settings.LOG_LEVEL)
        log.propagate = False
    for name in (*LIBRARY_LOGGERS, ""):  # "": the root logger, for every other library
        log = logging.getLogger(name)
        log.handlers[:] = [h for h in log.handlers if not _writes_to_console(h)] + [handler]
        if name:
            log.propagate = False
        if name.startswith(("gunicorn", "uvicorn")):
            # The API server's own lines (start, access): Prefect's logging setup leaves them
            # at its server level (WARNING), which would drop every access line.
            log.setLevel(settings.LOG_LEVEL)
