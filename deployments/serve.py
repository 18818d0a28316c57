"""Serve the `lint-job` and `relint` deployments: registers them and runs their flow runs in
subprocesses. `relint` runs on RELINT_CRON when set, and on demand from the UI or CLI.

Run from the repository root (`python -m deployments.serve`); the entrypoint path is relative.
Set PREFECT_RUNNER_POLL_FREQUENCY=1 for runs to start ~2 s after a trigger (10 s by default).
"""

import os
import sys
from pathlib import Path

from prefect import serve
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment

from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit

REPO_ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = "deployments/entrypoints.py:lint_job"
RELINT_ENTRYPOINT = "deployments/entrypoints.py:relint"


def relint_deployment(settings: Settings) -> RunnerDeployment:
    """The bulk re-lint, scheduled when RELINT_CRON is set (exits naming it when invalid)."""
    if settings.RELINT_CRON:
        try:
            CronSchedule(cron=settings.RELINT_CRON)
        except ValueError as exc:
            sys.stderr.write(f"invalid setting RELINT_CRON: {exc}\n")
            raise SystemExit(2) from None
    flow_name, deployment_name = settings.RELINT_DEPLOYMENT.split("/", 1)
    return RunnerDeployment.from_entrypoint(
        RELINT_ENTRYPOINT,
        name=deployment_name,
        flow_name=flow_name,
        cron=settings.RELINT_CRON or None,
        parameters={
            "older_than_hours": settings.RELINT_OLDER_THAN_HOURS,
            "limit": settings.RELINT_LIMIT,
        },
        description="Re-lint stored SQL with the current SQLFluff and config "
        "(docs/api.md, The flow).",
    )


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    os.chdir(REPO_ROOT)
    flow_name, deployment_name = settings.LINT_DEPLOYMENT.split("/", 1)
    deployment = RunnerDeployment.from_entrypoint(
        ENTRYPOINT,
        name=deployment_name,
        flow_name=flow_name,
        description="Lint every SQL file of one job (docs/api.md, The flow).",
    )
    serve(
        deployment,
        relint_deployment(settings),
        limit=settings.FLOW_RUN_LIMIT,
        print_starting_message=False,
    )


if __name__ == "__main__":
    main()
