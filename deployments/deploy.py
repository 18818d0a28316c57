"""`prefect deploy` of deployments/prefect.yaml with every `{{ $VAR }}` filled from the settings
(`deployments/bin/deploy.sh` runs it with the service's environment; so does `make up`), after
creating the work pool if it is missing.

Prefect fills `{{ $VAR }}` from the environment as text, and an unset variable stays a literal
placeholder; so the variables are always set here, from validated settings with their defaults.
A schedule cannot be left out by templating: a cron setting empty or "off" deploys an inactive
schedule (never run) on a placeholder cron: on demand only.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectAlreadyExists
from prefect.workers.process import ProcessWorker

from core.settings import Settings, load_settings_or_exit

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT_FILE = "deployments/prefect.yaml"
UNUSED_CRON = "0 0 1 1 *"  # the cron of an inactive schedule: never run


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


async def ensure_work_pool(name: str) -> None:
    """The process work pool the worker (deployments/worker.py) pulls from; kept if it exists."""
    async with get_client() as client:
        try:
            template = ProcessWorker.get_default_base_job_template()
            await client.create_work_pool(
                WorkPoolCreate(name=name, type="process", base_job_template=template)
            )
        except ObjectAlreadyExists:
            pass


def template_env(settings: Settings) -> dict[str, str]:
    """The values of prefect.yaml's `{{ $VAR }}`s but SQLFLUFF_SERVICE_HOME (the checkout)."""
    env = {"PREFECT_WORK_POOL": settings.PREFECT_WORK_POOL}
    for name, value in (("RELINT", settings.RELINT_CRON), ("CLEANUP", settings.CLEANUP_CRON)):
        cron = checked_cron(f"{name}_CRON", value)
        env[f"{name}_CRON"] = cron or UNUSED_CRON
        env[f"{name}_SCHEDULE_ACTIVE"] = "true" if cron else "false"
    return env


def main() -> None:
    settings = load_settings_or_exit()
    asyncio.run(ensure_work_pool(settings.PREFECT_WORK_POOL))
    env = {**os.environ, **template_env(settings)}
    env.setdefault("SQLFLUFF_SERVICE_HOME", str(REPO_ROOT))
    prefect = Path(sys.executable).parent / "prefect"
    command = [str(prefect), "--no-prompt", "deploy", "--all", "--prefect-file", PREFECT_FILE]
    raise SystemExit(subprocess.run(command, cwd=REPO_ROOT, env=env).returncode)


if __name__ == "__main__":
    main()
