"""Serve the deployments of the embedded run: registers `lint-job`, `relint` and `cleanup` and
runs their flow runs, each in its own process forked from a warm fork server
(flows/warm_start.py).

The same deployments as production's `deployments/prefect.yaml` (`tests/api/test_deploy_kit.py`
fails if the two drift): same names, entrypoints, tags and descriptions; schedules from the same
settings (RELINT_CRON, CLEANUP_CRON; empty or "off": on demand only); no parameters, so each flow
reads its settings (RELINT_LIMIT, RETENTION_DAYS...) from the environment of the process that
runs it, here as in production.

Run from the repository root (`python -m deployments.serve`); the entrypoint path is relative.
The runner asks Prefect for runs to start every FLOW_RUN_POLL_SECONDS.
"""

import asyncio
import os
import sys
from pathlib import Path

from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner
from prefect.schedules import Cron

from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit

REPO_ROOT = Path(__file__).resolve().parent.parent
TAGS = ["sqlfluff-service"]
# Imported once by the fork server, so that no flow run imports them again.
WARM_MODULES = ["deployments.entrypoints"]


def checked_cron(name: str, value: str) -> str | None:
    """A cron setting checked (exits naming it when invalid); None when empty or "off" (an
    empty variable means the default, so "off" is how to switch a default schedule off)."""
    if value.strip().lower() in ("", "off"):
        return None
    try:
        CronSchedule(cron=value)
    except ValueError as exc:
        sys.stderr.write(f"invalid setting {name}: {exc}\n")
        raise SystemExit(2) from None
    return value


def _deployment(
    setting: str,
    function: str,
    description: str,
    cron: str | None = None,
    tags: tuple[str, ...] = (),
) -> RunnerDeployment:
    flow_name, deployment_name = setting.split("/", 1)
    return RunnerDeployment.from_entrypoint(
        f"deployments/entrypoints.py:{function}",
        name=deployment_name,
        flow_name=flow_name,
        schedules=[Cron(cron, timezone="UTC")] if cron else None,
        tags=[*TAGS, *tags],
        description=description,
    )


def relint_deployment(settings: Settings) -> RunnerDeployment:
    """The bulk re-lint, scheduled when RELINT_CRON is set."""
    return _deployment(
        settings.RELINT_DEPLOYMENT,
        "relint",
        "Re-lint stored SQL with the current SQLFluff and config (docs/api.md, The flow).",
        checked_cron("RELINT_CRON", settings.RELINT_CRON),
        ("relint",),
    )


def deployments(settings: Settings) -> list[RunnerDeployment]:
    """Every deployment of the service, as prefect.yaml defines them for production."""
    return [
        _deployment(
            settings.LINT_DEPLOYMENT,
            "lint_job",
            "Lint every SQL file of one job (docs/api.md, The flow). Triggered by the API, one "
            "run per job.",
        ),
        relint_deployment(settings),
        _deployment(
            settings.CLEANUP_DEPLOYMENT,
            "cleanup",
            "Retention: remove jobs ended over RETENTION_DAYS ago and evict the result cache "
            "past CACHE_MAX_BYTES (docs/deployment.md, Retention).",
            checked_cron("CLEANUP_CRON", settings.CLEANUP_CRON),
            ("cleanup",),
        ),
    ]


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    os.chdir(REPO_ROOT)
    from deployments import entrypoints
    from flows import warm_start

    if settings.FLOW_RUN_WARM_START:
        warm_start.enable(WARM_MODULES)
    runner = Runner(
        name="sqlfluff-service",
        query_seconds=settings.FLOW_RUN_POLL_SECONDS,
        limit=settings.FLOW_RUN_LIMIT,
        pause_on_shutdown=False,
    )
    for deployment in deployments(settings):
        deployment_id = runner.add_deployment(deployment)
        if not settings.FLOW_RUN_WARM_START:
            continue  # runs start as `python -m prefect.engine`, a new interpreter each
        # What Runner.add_flow does for a flow object: the runner then starts this
        # deployment's runs with Prefect's direct-subprocess starter (which warm_start points at
        # the fork server), not as `python -m prefect.engine`, a new interpreter per run.
        function = str(deployment.entrypoint).rsplit(":", 1)[1]
        runner._deployment_registry.register_flow(deployment_id, getattr(entrypoints, function))
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        pass  # the runner has stopped its runs; the supervisor or systemd restarts us


if __name__ == "__main__":
    main()
