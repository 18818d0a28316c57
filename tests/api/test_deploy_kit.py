"""The production kit: `deployments/prefect.yaml`, deployed by `deployments/bin/deploy.sh`
(`prefect deploy`) on a real Prefect server, registers exactly what `make up` serves, from the
same settings; the start scripts and systemd units are well-formed and point at each other."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect.deployments.runner import RunnerDeployment

from core.settings import Settings
from deployments.deploy import template_env
from deployments.serve import deployments
from tests.support.databases import REPO_ROOT

KIT = REPO_ROOT / "deployments"
PREFECT = Path(sys.executable).parent / "prefect"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(PREFECT), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "SQLFLUFF_SERVICE_HOME": str(REPO_ROOT)},
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


# The settings the deployments depend on, changed from their defaults.
CHANGED = {
    "RELINT_CRON": "15 2 * * 1",
    "RELINT_LIMIT": "7",
    "CLEANUP_CRON": "off",
    "PREFECT_WORK_POOL": "sqlfluff-drift",
}


def _shape(deployment: dict[str, Any]) -> dict[str, Any]:
    """What a deployment is, as the Prefect server holds it: a schedule counts when active."""
    return {
        "entrypoint": deployment["entrypoint"],
        "description": deployment["description"],
        "tags": sorted(deployment["tags"]),
        "parameters": deployment["parameters"],
        "work_pool": deployment["work_pool_name"],
        "schedules": sorted(
            (s["schedule"]["cron"], s["schedule"]["timezone"])
            for s in deployment["schedules"]
            if s["active"]
        ),
    }


def _served(deployment: RunnerDeployment, settings: Settings) -> dict[str, Any]:
    """The same for a deployment `make up` serves; its work pool is the one production's
    worker (prefect-worker.sh) pulls from."""
    return {
        "entrypoint": deployment.entrypoint,
        "description": deployment.description,
        "tags": sorted(deployment.tags),
        "parameters": deployment.parameters,
        "work_pool": settings.PREFECT_WORK_POOL,
        "schedules": sorted(
            (s.schedule.cron, s.schedule.timezone) for s in deployment.schedules if s.active
        ),
    }


@pytest.mark.parametrize("changed", [{}, CHANGED], ids=["defaults", "changed-settings"])
def test_production_deploys_what_make_up_serves(
    prefect_api: str, changed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`deployments/bin/deploy.sh` (prefect.yaml through `prefect deploy`) registers the same
    deployments, from the same settings, as deployments/serve.py: nothing hard-coded drifts."""
    for name in {*CHANGED, "RELINT_OLDER_THAN_HOURS", "CLEANUP_DEPLOYMENT", "RELINT_DEPLOYMENT"}:
        monkeypatch.delenv(name, raising=False)
    for name, value in changed.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    run("work-pool", "create", settings.PREFECT_WORK_POOL, "--type", "process", "--overwrite")
    deploy = subprocess.run(
        [str(KIT / "bin/deploy.sh")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "SQLFLUFF_SERVICE_ENV": "/nonexistent",
             "SQLFLUFF_SERVICE_VENV": str(Path(sys.executable).parent.parent)},
    )  # fmt: skip
    assert deploy.returncode == 0, f"{deploy.stdout}\n{deploy.stderr}"
    served = deployments(settings)
    assert {d.name for d in served} == {d["name"] for d in yaml_deployments()}
    for deployment in served:
        url = f"{prefect_api}/deployments/name/{deployment.flow_name}/{deployment.name}"
        registered = httpx.get(url).json()
        assert _shape(registered) == _served(deployment, settings), deployment.name
    relint = httpx.get(f"{prefect_api}/deployments/name/relint/relint").json()
    cleanup = httpx.get(f"{prefect_api}/deployments/name/cleanup/cleanup").json()
    if changed:
        assert _shape(relint)["schedules"] == [("15 2 * * 1", "UTC")]
        assert _shape(cleanup)["schedules"] == []  # CLEANUP_CRON=off: on demand only
        assert cleanup["schedules"] and not cleanup["schedules"][0]["active"]
    else:
        assert _shape(relint)["schedules"] == []  # RELINT_CRON is empty by default
        assert _shape(cleanup)["schedules"] == [("30 3 * * *", "UTC")]
    assert relint["parameters"] == {}  # RELINT_LIMIT is read where the flow runs


def yaml_deployments() -> list[dict[str, Any]]:
    return list(yaml.safe_load((KIT / "prefect.yaml").read_text())["deployments"])


def test_every_template_variable_of_prefect_yaml_is_filled() -> None:
    """An unset {{ $VAR }} would reach Prefect as literal text: deploy.py sets each one."""
    config = json.dumps(yaml.safe_load((KIT / "prefect.yaml").read_text()))  # not the comments
    found = set(re.findall(r"{{\s*\$(\w+)\s*}}", config))
    assert found == {*template_env(Settings()), "SQLFLUFF_SERVICE_HOME"}


def test_start_scripts_and_units() -> None:
    scripts = sorted((KIT / "bin").glob("*.sh"))
    assert {s.name for s in scripts} >= {
        "api.sh",
        "prefect-worker.sh",
        "dask-scheduler.sh",
        "dask-worker.sh",
        "migrate.sh",
        "deploy.sh",
        "prefect-server.sh",
    }
    for script in scripts:
        check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert check.returncode == 0, (script, check.stderr)
        if script.name != "_env.sh":
            assert os.access(script, os.X_OK), f"{script} is not executable"
    for unit in (KIT / "systemd").glob("*.service"):
        text = unit.read_text()
        [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
        script = exec_start.split("/deployments/bin/")[1]
        assert (KIT / "bin" / script).is_file(), unit
    config = yaml.safe_load((KIT / "prefect.yaml").read_text())
    assert {d["name"] for d in config["deployments"]} == {"lint-job", "relint", "cleanup"}
