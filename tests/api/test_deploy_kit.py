"""The production kit: `deployments/prefect.yaml` deploys both flows on a real Prefect server
with `prefect deploy`; the start scripts and systemd units are well-formed and point at each
other."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

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


def test_prefect_yaml_deploys_both_flows(prefect_api: str) -> None:
    run("work-pool", "create", "sqlfluff", "--type", "process", "--overwrite")
    run("--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
    lint = httpx.get(f"{prefect_api}/deployments/name/lint-job/lint-job").json()
    relint = httpx.get(f"{prefect_api}/deployments/name/relint/relint").json()
    assert lint["entrypoint"] == "deployments/entrypoints.py:lint_job"
    assert lint["work_pool_name"] == relint["work_pool_name"] == "sqlfluff"
    [schedule] = relint["schedules"]
    assert schedule["schedule"]["cron"] == "0 3 * * *" and schedule["active"]
    assert relint["parameters"] == {"older_than_hours": 24, "limit": 500}
    assert lint["schedules"] == []


def test_start_scripts_and_units() -> None:
    scripts = sorted((KIT / "bin").glob("*.sh"))
    assert {s.name for s in scripts} >= {
        "api.sh",
        "prefect-worker.sh",
        "dask-scheduler.sh",
        "dask-worker.sh",
        "migrate.sh",
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
    assert {d["name"] for d in config["deployments"]} == {"lint-job", "relint"}
