"""Every SQL statement of the service, one module per resource. Use as
`from db import queries` then `queries.jobs.get_job(session, job_id)`."""

from db.queries import findings, jobs, keys, metrics, tasks

__all__ = ["findings", "jobs", "keys", "metrics", "tasks"]
