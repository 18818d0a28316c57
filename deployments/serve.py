"""Serve the `lint-job` deployment: registers it and runs its flow runs in subprocesses.

Run from the repository root (`python -m deployments.serve`); the entrypoint path is relative.
Set PREFECT_RUNNER_POLL_FREQUENCY=1 for runs to start ~2 s after a trigger (10 s by default).
"""

import os
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from db.settings import load_settings_or_exit

REPO_ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = "deployments/entrypoints.py:lint_job"


def main() -> None:
    settings = load_settings_or_exit()
    os.chdir(REPO_ROOT)
    flow_name, deployment_name = settings.LINT_DEPLOYMENT.split("/", 1)
    deployment = RunnerDeployment.from_entrypoint(
        ENTRYPOINT,
        name=deployment_name,
        flow_name=flow_name,
        description="Lint every SQL file of one job (SPEC §7).",
    )
    serve(deployment, limit=settings.FLOW_RUN_LIMIT, print_starting_message=False)


if __name__ == "__main__":
    main()
