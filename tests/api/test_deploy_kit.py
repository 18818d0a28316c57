"""The production kit: `deployments/prefect.yaml`, deployed by `deployments/bin/deploy.sh`
(`prefect deploy`; `make up` runs it too) on a real Prefect server, registers what prefect.yaml
says with every setting honoured; the start scripts and systemd units are well-formed and point
at each other."""

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

from core.settings import Settings
from deployments.deploy import checked_cron, template_env
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


def _expected(yaml_deployment: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What prefect.yaml says a deployment is, with the settings' work pool and schedules."""
    name = yaml_deployment["name"]
    setting = {"relint": settings.RELINT_CRON, "cleanup": settings.CLEANUP_CRON}.get(name)
    cron = checked_cron(name, setting) if setting is not None else None
    return {
        "entrypoint": yaml_deployment["entrypoint"],
        "description": yaml_deployment["description"],
        "tags": sorted(yaml_deployment["tags"]),
        "parameters": {},
        "work_pool": settings.PREFECT_WORK_POOL,
        "schedules": [(cron, "UTC")] if cron else [],
    }


@pytest.mark.parametrize("changed", [{}, CHANGED], ids=["defaults", "changed-settings"])
def test_deploy_registers_prefect_yaml_with_the_settings(
    prefect_api: str, changed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`deployments/bin/deploy.sh`, which `make up` runs too, creates the work pool and
    registers prefect.yaml's deployments with every setting honoured: nothing hard-coded."""
    for name in {*CHANGED, "RELINT_OLDER_THAN_HOURS", "CLEANUP_DEPLOYMENT", "RELINT_DEPLOYMENT"}:
        monkeypatch.delenv(name, raising=False)
    for name, value in changed.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
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
    pool = httpx.get(f"{prefect_api}/work_pools/{settings.PREFECT_WORK_POOL}").json()
    assert pool["type"] == "process"
    for expected in yaml_deployments():
        flow_name = expected["entrypoint"].rsplit(":", 1)[1].replace("_", "-")
        url = f"{prefect_api}/deployments/name/{flow_name}/{expected['name']}"
        registered = httpx.get(url).json()
        assert _shape(registered) == _expected(expected, settings), expected["name"]
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
