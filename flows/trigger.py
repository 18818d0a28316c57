"""Starting the `lint-job` deployment for a job: one flow run per job, deduplicated by job id."""

import logging

from prefect import get_client

logger = logging.getLogger(__name__)


def run_tags(dialect: str, submission: str, *more: str) -> list[str]:
    """Tags operators filter flow runs by in the Prefect UI."""
    return [f"dialect:{dialect}", f"submission:{submission}", *more]


def trigger_lint_job(
    deployment: str, job_id: str, attempt: str = "", tags: list[str] | None = None
) -> str:
    """Create the job's flow run and return its id.

    The job id is the idempotency key, so a second trigger of the same job (the reconciler, a
    client retry) returns the run that already exists instead of starting another.

    Args:
        deployment: "flow-name/deployment-name", e.g. "lint-job/lint-job".
        job_id: the job to lint.
        attempt: empty for the job's first run; a fresh value for each `POST .../retry`.
        tags: the run's tags (`run_tags`); retries add "retry".

    Returns:
        The flow run's id.

    Raises:
        prefect.exceptions.ObjectNotFound: the deployment is not registered.
        httpx.HTTPError: the Prefect API did not answer.
    """
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        run = client.create_flow_run_from_deployment(
            found.id,
            parameters={"job_id": job_id},
            idempotency_key=f"{job_id}:{attempt}" if attempt else job_id,
            tags=[*(tags or []), *(["retry"] if attempt else [])] or None,
        )
    logger.info("job triggered", extra={"job_id": job_id, "flow_run_id": str(run.id)})
    return str(run.id)
