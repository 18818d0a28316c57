"""The heartbeat of a running job: its row is touched every HEARTBEAT_SECONDS while its flow
runs, so the reconciler (services.reconcile) can tell a run whose host died."""

import contextlib
import logging
import threading
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from db import queries

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def heartbeat(session_maker: sessionmaker[Session], job_id: str, every: float) -> Iterator[None]:
    """Mark the job alive every `every` seconds while the block runs (see services.reconcile)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with session_maker.begin() as session:
                    queries.jobs.beat(session, job_id)
            except DBAPIError as exc:  # a missed beat is fine; the next one may land
                logger.warning("heartbeat of %s not written: %s", job_id, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every)
