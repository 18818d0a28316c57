"""`prefect deploy` of deployments/prefect.yaml with every `{{ $VAR }}` filled from the settings
(`deployments/bin/deploy.sh` runs it with the service's environment).

Prefect fills `{{ $VAR }}` from the environment as text, and an unset variable stays a literal
placeholder; so the variables are always set here, from validated settings with their defaults.
A schedule cannot be left out by templating: a cron setting empty or "off" deploys an inactive
schedule (never run) on a placeholder cron, and `serve` registers none; both: on demand only.
"""

import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings, load_settings_or_exit
from deployments.serve import checked_cron

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT_FILE = "deployments/prefect.yaml"
UNUSED_CRON = "0 0 1 1 *"  # the cron of an inactive schedule: never run


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
    env = {**os.environ, **template_env(settings)}
    env.setdefault("SQLFLUFF_SERVICE_HOME", str(REPO_ROOT))
    prefect = Path(sys.executable).parent / "prefect"
    command = [str(prefect), "--no-prompt", "deploy", "--all", "--prefect-file", PREFECT_FILE]
    raise SystemExit(subprocess.run(command, cwd=REPO_ROOT, env=env).returncode)


if __name__ == "__main__":
    main()
