"""Every rejected request is a 4xx with a clear `detail` (docs/api.md, HTTP API and Bad input)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db import queries
from db.models import TaskStatus
from tests.support.factories import make_job

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "bad_input.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(client: TestClient, case: dict[str, Any]) -> None:
    response = client.post("/jobs", json=case["body"])
    assert response.status_code == case["status"], response.text
    assert case["detail"] in str(response.json()["detail"])


# JSON may spell a lone surrogate (`"\\ud800"`), which no file, database or parser takes.
SURROGATE_BODIES = {
    "sql_content": ("/jobs", '{"sql_content": "select \\ud800 from t"}'),
    "config": ("/jobs", '{"sql_content": "select 1", "config": "[sqlfluff]\\nx = \\ud800"}'),
    "zip_file_path": ("/jobs", '{"zip_file_path": "archives/\\udcff.zip"}'),
    "lint sql": ("/lint", '{"sql": "select \\ud800"}'),
    "lint config": ("/lint", '{"sql": "select 1", "config": "\\ud800"}'),
    "submitter": ("/jobs", '{"sql_content": "select 1", "submitter": "\\ud800"}'),
    "name": ("/projects", '{"name": "p\\ud800"}'),
}


@pytest.mark.parametrize("field", list(SURROGATE_BODIES))
def test_text_that_is_not_unicode_is_refused_naming_the_field(
    client: TestClient, field: str
) -> None:
    path, body = SURROGATE_BODIES[field]
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]  # pydantic's own words for a field with constraints
    assert field.split()[-1] in detail and "unicode" in detail.lower(), detail


def test_unknown_job(client: TestClient) -> None:
    response = client.get("/jobs/job-00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Job not found",
    }


@pytest.mark.parametrize(
    "query",
    ["page=0", "size=0", "size=1001", "page=x", "page=1000001", "page=99999999999999999999"],
)
def test_bad_page_parameters(client: TestClient, query: str) -> None:
    job_id = client.post("/jobs", json={"sql_content": "select 1\n"}).json()["job_id"]
    assert client.get(f"/jobs/{job_id}?{query}").status_code == 422


def test_result_answers(
    client: TestClient, session_maker: sessionmaker[Session], shared_root: Path
) -> None:
    assert client.get("/tasks/task-nope/result").json()["detail"] == "Task not found"
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
    assert (response.status_code, response.json()["detail"]) == (404, "Result file not found")


def test_chunked_body_over_the_limit_is_cut_at_413(
    settings: Settings, lint_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body with no Content-Length is counted as it arrives and cut at the limit; one that
    declares too much is refused before it is read. (TestClient buffers what it sends; that
    the server stops reading is shown against a real server in tests/security.)"""
    from api.body_limit import ENVELOPE_BYTES
    from api.main import create_app

    monkeypatch.setenv("UPLOAD_MAX_BYTES", "100000")
    get_settings.cache_clear()
    limit = 100_000 + ENVELOPE_BYTES

    def chunks() -> Iterator[bytes]:
        yield b'{"sql_content": "'
        for _ in range(2 * limit // (64 * 1024) + 1):
            yield b"x" * 64 * 1024
        yield b'"}'

    with TestClient(create_app()) as small:
        response = small.post(
            "/jobs", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert "over the limit of 100000 bytes" in response.json()["detail"]
        declared = small.post(
            "/jobs",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": str(limit + 1)},
        )
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert "over the limit of 100000 bytes" in declared.json()["detail"]
        upload = small.post("/jobs/upload", files={"file": ("a.zip", b"x" * (2 * limit))})
        assert upload.status_code == 413


def test_health_and_metrics_leak_nothing_unbounded(client: TestClient) -> None:
    for method in ("BREW", "X-CUSTOM", "PROPFIND"):
        client.request(method, "/jobs")
    metrics = client.get("/metrics").text
    assert 'method="OTHER"' in metrics
    assert "BREW" not in metrics and "PROPFIND" not in metrics
