"""Every SQL statement of the service, one module per resource. Use as
`from db import queries` then `queries.jobs.get_job(session, job_id)`."""

from db.queries import (
    counters,
    jobs,
    keys,
    metrics,
    pages,
    projects,
    retention,
    tasks,
    violations,
)

__all__ = [
    "counters",
    "jobs",
    "keys",
    "metrics",
    "pages",
    "projects",
    "retention",
    "tasks",
    "violations",
]
