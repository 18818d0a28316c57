"""Library loggers (Prefect, Dask, the root for the rest) write the service's JSON lines in
place of their own console handlers; handlers that send elsewhere stay."""

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from core.logging import LIBRARY_LOGGERS, configure_logging
from core.settings import Settings


@pytest.fixture
def restored() -> Iterator[None]:
    names = (*LIBRARY_LOGGERS, "")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names}
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def test_library_console_handlers_become_json_lines(
    restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    dask = logging.getLogger("distributed")
    dask.handlers[:] = [logging.StreamHandler(sys.stderr)]  # as distributed's config leaves it
    elsewhere = logging.StreamHandler(io.StringIO())  # e.g. a file: kept
    logging.getLogger("prefect").handlers[:] = [elsewhere]
    configure_logging(Settings(LOG_FORMAT="json"))
    dask.warning("worker %s lost", "w-1")
    logging.getLogger("prefect.client").warning("run crashed")
    logging.getLogger("some.library").warning("via the root")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["logger"], r["msg"]) for r in lines] == [
        ("distributed", "worker w-1 lost"),
        ("prefect.client", "run crashed"),
        ("some.library", "via the root"),
    ]
    assert elsewhere in logging.getLogger("prefect").handlers
    assert elsewhere.stream.getvalue() == "run crashed\n"
