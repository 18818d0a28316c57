"""Retrying a unit of work while the database is briefly away (a restart, a failover, a lock).

Every write of the job path is idempotent (upserts on natural keys, updates by id), so running a
transaction again after a lost connection writes nothing twice.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_transient(exc: Exception) -> bool:
    """A lost or refused connection, or a lock timeout: worth trying again."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def in_transaction(
    sessions: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    give_up_after: float = 300.0,
    first_delay: float = 0.5,
    max_delay: float = 5.0,
) -> T:
    """Run `work` in one transaction, again on transient errors, for up to `give_up_after` s.

    Raises:
        OperationalError, DBAPIError: the database stayed away longer than `give_up_after`,
            or the error is not transient.
    """
    deadline = time.monotonic() + give_up_after
    delay = first_delay
    while True:
        try:
            with sessions.begin() as session:
                return work(session)
        except DBAPIError as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "database unavailable (%s); retrying in %.1f s", type(exc).__name__, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
