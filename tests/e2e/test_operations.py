"""Operations end to end: the `relint` deployment run on demand through Prefect's API (as the
UI's Run button does) re-lints a stored job as a new linked job and records what changed; logs
are JSON lines with the job's context in every process; the Prefect UI shows the job's run."""

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import LintingViolation, Severity
from deployments.processes import wait_for
from tests.support.browser import rendered_url
from tests.support.corpus import CORPUS
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_relint_on_demand_records_changes(
    system: System, session_maker: sessionmaker[Session], tmp_path: Path
) -> None:
    original = system.submit({"sql_content": (CORPUS / "tpch/q07.sql").read_text()})
    assert system.wait_final(original)["job_status"] == "COMPLETED"
    # What an older SQLFluff might have said: two violations fewer, one that no longer fires.
    with session_maker.begin() as s:
        rows = list(
            s.scalars(
                select(LintingViolation)
                .where(LintingViolation.job_id == original)
                .order_by(LintingViolation.id)
            )
        )
        assert len(rows) >= 3, "q07 needs violations for this test"
        dropped = rows[:2]
        s.execute(delete(LintingViolation).where(LintingViolation.id.in_([r.id for r in dropped])))
        s.add(
            LintingViolation(
                job_id=original,
                task_id=rows[2].task_id,
                file_name=rows[2].file_name,
                rule_code="ZZ99",
                rule_name="gone.rule",
                start_line=1,
                start_pos=1,
                description="a rule of an older version",
                severity=Severity.MINOR,
                warning=False,
            )
        )
    deployment = httpx.get(f"{system.prefect_api}/deployments/name/relint/relint").json()
    # Off by default: prefect.yaml deploys an inactive schedule (deployments/deploy.py).
    assert [x for x in deployment["schedules"] if x["active"]] == []
    # The test database is shared by the whole session: older jobs of other tiers (whose sources
    # live in other systems' shared roots, so they are skipped) must not crowd this one out.
    # As the UI's Run button; a busy Prefect server may answer 5xx once, so the request is
    # repeated under one idempotency key until it is created (never twice).
    key = f"relint-test-{original}"

    def create() -> dict[str, object] | None:
        answer = httpx.post(
            f"{system.prefect_api}/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": {"older_than_hours": 0, "limit": 10_000}, "idempotency_key": key},
            timeout=30,
        )
        assert answer.status_code < 400 or answer.status_code >= 500, answer.text
        return dict(answer.json()) if answer.status_code == 201 else None

    run = wait_for(create, 60, "Prefect did not create the relint run", 1)

    def ended() -> dict[str, object] | None:
        state = httpx.get(f"{system.prefect_api}/flow_runs/{run['id']}").json()
        return state if state["state_type"] in {"COMPLETED", "FAILED", "CRASHED"} else None

    final = wait_for(ended, 180, lambda: f"relint run not over\n{system.logs()}", 0.5)
    assert final["state_type"] == "COMPLETED", final

    relints = httpx.get(f"{system.api}/jobs/{original}/relints").json()
    assert len(relints) == 1
    [relinted] = relints
    assert relinted["relint_of"] == original and relinted["job_status"] == "COMPLETED"
    assert relinted["submitter"] == "relint"
    expected_added: dict[str, int] = {}
    for r in dropped:
        expected_added[r.rule_code] = expected_added.get(r.rule_code, 0) + 1
    assert relinted["relint_changes"] == {
        "original": original,
        "added": 2,
        "removed": 1,
        "added_by_rule": dict(sorted(expected_added.items())),
        "removed_by_rule": {"ZZ99": 1},
    }
    # Same stored SQL, same config: the same result as the original's.
    results = []
    for job_id in (original, relinted["job_id"]):
        [task] = system.job(job_id)["sub_tasks"]["items"]
        results.append(httpx.get(f"{system.api}/tasks/{task['task_id']}/result").json())
    assert results[0] == results[1]
    new_job = system.job(relinted["job_id"])
    assert new_job["source_path"] == system.job(original)["source_path"]
    run = httpx.get(f"{system.prefect_api}/flow_runs/{new_job['flow_run_id']}").json()
    assert {"relint", "dialect:ansi", "submission:SINGLE_FILE"} <= set(run["tags"])


def json_lines(path: Path) -> list[dict[str, object]]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def test_logs_are_json_lines_with_job_context(system: System) -> None:
    job_id = system.submit({"sql_content": "select a from t\n"})
    body = system.wait_final(job_id)
    run_id = body["flow_run_id"]
    [task] = body["sub_tasks"]["items"]
    logs = system.data / "logs"

    def ours(role: str) -> list[dict[str, object]]:
        return [e for e in json_lines(logs / f"{role}.log") if e.get("job_id") == job_id]

    api = ours("api")
    assert any(e["msg"] == "job accepted" for e in api), api
    flow = [e for e in ours("prefect-worker") if e["logger"] == "flows.lint_job"]
    assert any("files to lint" in str(e["msg"]) and e["flow_run_id"] == run_id for e in flow)
    batch = [e for e in ours("dask-worker") if str(e["msg"]).startswith("linted 1 files")]
    assert batch and batch[0]["flow_run_id"] == run_id and batch[0]["task_run_id"]
    assert task["status"] == "SUCCESS"

    # The same records reach the Prefect UI (sent in batches, so they may trail the job).
    def in_ui() -> list[dict[str, object]] | None:
        entries = httpx.post(
            f"{system.prefect_api}/logs/filter",
            json={"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200},
        ).json()
        return entries if any("files to lint" in e["message"] for e in entries) else None

    wait_for(in_ui, 30, f"the flow's log lines never reached the Prefect API\n{system.logs()}")


def test_prefect_ui_shows_the_jobs_flow_run(system: System, tmp_path: Path) -> None:
    """An operator's view: the Prefect UI, rendered by headless Chromium, shows the job's run
    (named after the job), its state and its tags."""
    job_id = system.submit({"sql_content": "select a from t\n", "dialect": "postgres"})
    run_id = system.wait_final(job_id)["flow_run_id"]
    run = httpx.get(f"{system.prefect_api}/flow_runs/{run_id}").json()
    assert {"dialect:postgres", "submission:SINGLE_FILE"} <= set(run["tags"])
    ui = system.prefect_api.removesuffix("/api")
    page = rendered_url(f"{ui}/runs/flow-run/{run_id}", tmp_path / "chromium")
    assert job_id in page, page[-3000:]
    assert "dialect:postgres" in page and "Completed" in page, page[-3000:]
