"""Every SQL statement of the service, one module per resource. Use as
`from db import queries` then `queries.jobs.get_job(session, job_id)`."""

from db.queries import jobs, keys, metrics, pages, projects, tasks, violations

__all__ = ["jobs", "keys", "metrics", "pages", "projects", "tasks", "violations"]
