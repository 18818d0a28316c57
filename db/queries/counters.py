"""Service-wide counters (`service_counters`): added to in the caller's transaction, read whole
by GET /metrics. Rows are updated in a fixed order, so two writers never deadlock."""

from collections.abc import Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ServiceCounter, TaskStatus

FILES_LINTED = "files_linted"  # label: the file's final status
VIOLATIONS = "violations"
LINT_SECONDS_BUCKET = "lint_seconds_bucket"  # label: the bucket's upper bound
LINT_SECONDS_SUM = "lint_seconds_sum"
LINT_SECONDS_COUNT = "lint_seconds_count"
LINT_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Key = tuple[str, str]


def for_files(outcomes: Sequence[tuple[TaskStatus, int | None, float | None]]) -> dict[Key, float]:
    """What finishing these files adds: (status, violation count, lint seconds) each."""
    found: dict[Key, float] = {}

    def add(key: Key, n: float) -> None:
        found[key] = found.get(key, 0.0) + n

    for status, violations, seconds in outcomes:
        add((FILES_LINTED, status.value), 1)
        add((VIOLATIONS, ""), violations or 0)
        if seconds is not None:
            add((LINT_SECONDS_SUM, ""), seconds)
            add((LINT_SECONDS_COUNT, ""), 1)
            for bound in LINT_SECONDS_BUCKETS:
                if seconds <= bound:
                    add((LINT_SECONDS_BUCKET, str(bound)), 1)
    return found


def add(session: Session, increments: Mapping[Key, float]) -> None:
    for (name, label), n in sorted(increments.items()):
        if not n:
            continue
        done = session.execute(
            update(ServiceCounter)
            .where(ServiceCounter.name == name, ServiceCounter.label == label)
            .values(value=ServiceCounter.value + n)
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            # The migration creates every row; a counter added later starts here.
            session.add(ServiceCounter(name=name, label=label, value=n))
            session.flush()


def read_all(session: Session) -> dict[Key, float]:
    return {(c.name, c.label): c.value for c in session.scalars(select(ServiceCounter))}
