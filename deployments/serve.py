"""Serve the `lint-job` and `relint` deployments: registers them and runs their flow runs, each
in its own process forked from a warm fork server (flows/warm_start.py). `relint` runs on
RELINT_CRON when set, and on demand from the UI or CLI.

Run from the repository root (`python -m deployments.serve`); entrypoints are relative to it.
The runner asks Prefect for scheduled runs every FLOW_RUN_POLL_SECONDS.
"""

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner

from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit

REPO_ROOT = Path(__file__).resolve().parent.parent
# Imported once by the fork server, so that no flow run imports them again.
WARM_MODULES = ["deployments.entrypoints"]


def lint_job_options(settings: Settings) -> dict[str, Any]:
    """How the `lint-job` deployment is registered (Runner.add_flow's arguments)."""
    return {
        "name": settings.LINT_DEPLOYMENT.split("/", 1)[1],
        "description": "Lint every SQL file of one job (docs/api.md, The flow).",
    }


def relint_options(settings: Settings) -> dict[str, Any]:
    """The bulk re-lint, scheduled when RELINT_CRON is set (exits naming it when invalid)."""
    if settings.RELINT_CRON:
        try:
            CronSchedule(cron=settings.RELINT_CRON)
        except ValueError as exc:
            sys.stderr.write(f"invalid setting RELINT_CRON: {exc}\n")
            raise SystemExit(2) from None
    return {
        "name": settings.RELINT_DEPLOYMENT.split("/", 1)[1],
        "cron": settings.RELINT_CRON or None,
        "parameters": {
            "older_than_hours": settings.RELINT_OLDER_THAN_HOURS,
            "limit": settings.RELINT_LIMIT,
        },
        "description": "Re-lint stored SQL with the current SQLFluff and config "
        "(docs/api.md, The flow).",
    }


def relint_deployment(settings: Settings) -> RunnerDeployment:
    """The re-lint deployment as it is registered (for inspection; `main` registers it)."""
    from flows.relint import relint

    return relint.to_deployment(**relint_options(settings))


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    os.chdir(REPO_ROOT)
    from deployments import entrypoints
    from flows import warm_start

    warm_start.enable(WARM_MODULES)
    runner = Runner(
        name="sqlfluff-service",
        query_seconds=settings.FLOW_RUN_POLL_SECONDS,
        limit=settings.FLOW_RUN_LIMIT,
        pause_on_shutdown=False,
    )
    # Flows given as objects (not entrypoints) are run by Prefect's direct-subprocess starter,
    # which warm_start points at the fork server; an entrypoint would start `python -m
    # prefect.engine`, a new interpreter per run.
    runner.add_flow(entrypoints.lint_job, **lint_job_options(settings))
    runner.add_flow(entrypoints.relint, **relint_options(settings))
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        pass  # the runner has stopped its runs; the supervisor or systemd restarts us


if __name__ == "__main__":
    main()
