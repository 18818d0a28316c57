"""Every rejected request is a 4xx with a clear `detail` (SPEC §5, §8)."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import TaskStatus
from tests.support.factories import make_job

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "bad_input.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(client: TestClient, case: dict[str, Any]) -> None:
    response = client.post("/jobs", json=case["body"])
    assert response.status_code == case["status"], response.text
    assert case["detail"] in str(response.json()["detail"])


def test_unknown_job(client: TestClient) -> None:
    response = client.get("/jobs/job-00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"detail": "Job not found"}


@pytest.mark.parametrize("query", ["page=0", "size=0", "size=1001", "page=x"])
def test_bad_page_parameters(client: TestClient, query: str) -> None:
    job_id = client.post("/jobs", json={"sql_content": "select 1\n"}).json()["job_id"]
    assert client.get(f"/jobs/{job_id}?{query}").status_code == 422


def test_result_answers(
    client: TestClient, session_maker: sessionmaker[Session], shared_root: Path
) -> None:
    assert client.get("/tasks/task-nope/result").json() == {"detail": "Task not found"}
    job_id = make_job(session_maker)
    with session_maker.begin() as s:
        pending, failed, done, lost = queries.tasks.ensure_tasks(
            s,
            job_id,
            [
                queries.tasks.NewTask(f"jobs/{job_id}/extracted/{n}.sql", f"{n}.sql")
                for n in ("a", "b", "c", "d")
            ],
        )
        queries.tasks.mark_tasks(
            s,
            [
                queries.tasks.TaskOutcome(
                    failed.task_id, TaskStatus.FAILURE, None, "time limit of 1 s exceeded", None
                ),
                queries.tasks.TaskOutcome(
                    done.task_id, TaskStatus.SUCCESS, "jobs/r/done.json", None, 0
                ),
                queries.tasks.TaskOutcome(
                    lost.task_id, TaskStatus.SUCCESS, "jobs/r/lost.json", None, 0
                ),
            ],
        )
    (shared_root / "jobs/r").mkdir(parents=True)
    (shared_root / "jobs/r/done.json").write_text('[{"filepath": "c.sql", "violations": []}]')

    response = client.get(f"/tasks/{pending.task_id}/result")
    assert (response.status_code, response.json()["detail"]) == (
        409,
        "Task is PENDING, its result is not ready yet",
    )
    response = client.get(f"/tasks/{failed.task_id}/result")
    assert response.status_code == 409
    assert "time limit of 1 s exceeded" in response.json()["detail"]
    response = client.get(f"/tasks/{done.task_id}/result")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"filepath": "c.sql", "violations": []}]
    response = client.get(f"/tasks/{lost.task_id}/result")
    assert (response.status_code, response.json()) == (404, {"detail": "Result file not found"})
