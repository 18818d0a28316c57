"""Issue 5's API on the real app, test DB and Prefect server (no worker: runs stay scheduled):
uploads, job lists, violations queries on stored rows, retry answers."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db import queries
from db.models import JobStatus, Severity, TaskStatus
from linting.status import finish_job
from tests.support.corpus import CORPUS
from tests.support.factories import zip_bytes


def test_upload_sql_and_zip_with_options(
    client: TestClient, session_maker: sessionmaker[Session], settings: Settings
) -> None:
    sql = (CORPUS / "tpch/q01.sql").read_bytes()
    response = client.post(
        "/jobs/upload",
        files={"file": ("my query.sql", sql)},
        data={"dialect": "postgres", "rules": "LT01, CP01", "submitter": "ci", "fix": "true"},
    )
    assert response.status_code == 202, response.text
    job = client.get(f"/jobs/{response.json()['job_id']}").json()
    assert (job["submission_type"], job["dialect"], job["submitter"]) == (
        "SINGLE_FILE",
        "postgres",
        "ci",
    )
    assert job["options"]["rules"] == ["LT01", "CP01"] and job["options"]["fix"] is True
    stored = settings.NFS_SHARE_ROOT_PATH / job["source_path"]
    assert stored.name == "my_query.sql" and stored.read_bytes() == sql

    archive = zip_bytes({"a.sql": b"select 1\n", "sub/.sqlfluff": b"[sqlfluff]\n"})
    config = "[sqlfluff]\nmax_line_length = 120\n"
    response = client.post(
        "/jobs/upload", files={"file": ("src.zip", archive)}, data={"config": config}
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = client.get(f"/jobs/{job_id}").json()
    assert job["submission_type"] == "ZIP_ARCHIVE" and job["options"]["has_config"] is True
    assert (settings.NFS_SHARE_ROOT_PATH / f"jobs/{job_id}/job.sqlfluff").read_text() == config
    assert (settings.NFS_SHARE_ROOT_PATH / f"jobs/{job_id}/.sqlfluff").read_text() == (
        "[sqlfluff]\ndialect = ansi\n"
    )


@pytest.mark.parametrize(
    ("name", "data", "form", "status", "detail"),
    [
        ("notes.txt", b"select 1", {}, 400, "upload a .sql or .zip file"),
        ("fake.zip", b"select 1", {}, 400, "fake.zip is not a ZIP archive"),
        ("empty.sql", b"", {}, 400, "empty.sql is empty"),
        ("q.sql", b"select 1", {"rules": "LT01,XX99"}, 400, "XX99"),
        ("q.sql", b"select 1", {"dialect": "nosuch"}, 400, "unknown dialect"),
        ("q.sql", b"select 1", {"callback_url": "not a url"}, 422, "URL"),
    ],
)
def test_bad_uploads(
    client: TestClient,
    settings: Settings,
    name: str,
    data: bytes,
    form: dict[str, str],
    status: int,
    detail: str,
) -> None:
    response = client.post("/jobs/upload", files={"file": (name, data)}, data=form)
    assert response.status_code == status, response.text
    assert detail in str(response.json()["detail"])
    assert not list((settings.NFS_SHARE_ROOT_PATH / "jobs").glob("*/upload/*")), "file left"


def test_upload_over_the_limit_is_413(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_MAX_BYTES", "1000")
    get_settings.cache_clear()
    big = b"select 1;\n" * 200
    response = client.post("/jobs/upload", files={"file": ("big.sql", big)})
    assert response.status_code == 413, response.text
    assert "over the limit of 1000 bytes" in response.json()["detail"]
    small = client.post("/jobs/upload", files={"file": ("small.sql", b"select 1\n")})
    assert small.status_code == 202
    assert not list(settings.NFS_SHARE_ROOT_PATH.glob("jobs/*/upload/big.sql"))


def test_job_list_filters_and_pages(
    client: TestClient, session_maker: sessionmaker[Session]
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = {
        who: [
            client.post("/jobs", json={"sql_content": "select 1\n", "submitter": who}).json()[
                "job_id"
            ]
            for _ in range(n)
        ]
        for who, n in (("list-a", 3), ("list-b", 2))
    }
    with session_maker.begin() as s:
        queries.jobs.fail_job(s, ids["list-b"][0], "broken", only_if_unfinished=False)
    page = client.get("/jobs", params={"submitter": "list-a", "size": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    second = client.get("/jobs", params={"submitter": "list-a", "size": 2, "page": 2}).json()
    listed = [i["job_id"] for i in page["items"] + second["items"]]
    assert listed == list(reversed(ids["list-a"]))  # newest first, no overlap
    failed = client.get("/jobs", params={"submitter": "list-b", "status": "FAILED"}).json()
    assert [i["job_id"] for i in failed["items"]] == [ids["list-b"][0]]
    assert failed["items"][0]["error_message"] == "broken"
    recent = client.get("/jobs", params={"since": before.isoformat(), "size": 500}).json()
    assert set(ids["list-a"] + ids["list-b"]) <= {i["job_id"] for i in recent["items"]}
    none = client.get("/jobs", params={"until": before.isoformat(), "submitter": "list-a"})
    assert none.json()["total"] == 0
    assert client.get("/jobs", params={"status": "NOPE"}).status_code == 422


def _seed_violations(sessions: sessionmaker[Session], client: TestClient) -> str:
    """A job with three linted files and their violations, as lint batches store them."""
    job_id = client.post("/jobs", json={"zip_file_path": "archives/ok.zip"}).json()["job_id"]
    with sessions.begin() as s:
        pending = queries.tasks.ensure_tasks(
            s, job_id, [queries.tasks.NewTask(f"x/{n}", n) for n in ("a.sql", "b.sql", "c.sql")]
        )

    def violation(code: str, line: int, severity: Severity) -> queries.violations.Violation:
        return queries.violations.Violation(
            code, f"rule.{code}", line, 1, line, 5, f"{code} here", severity, False
        )

    plan = {
        "a.sql": [violation("LT01", 1, Severity.INFO), violation("LT01", 3, Severity.INFO)],
        "b.sql": [violation("PRS", 2, Severity.BLOCKER), violation("RF02", 4, Severity.MAJOR)],
        "c.sql": [],
    }
    with sessions.begin() as s:
        queries.tasks.mark_tasks(
            s,
            [
                queries.tasks.TaskOutcome(
                    p.task_id,
                    TaskStatus.SUCCESS,
                    f"jobs/{job_id}/results/{p.task_id}.json",
                    None,
                    len(plan[p.file_name]),
                    p.file_name,
                    job_id,
                    {"dialect": "ansi"},
                    tuple(plan[p.file_name]),
                )
                for p in pending
            ],
        )
    return job_id


def test_violations_filters_and_summary(
    client: TestClient, session_maker: sessionmaker[Session]
) -> None:
    job_id = _seed_violations(session_maker, client)
    everything = client.get(f"/jobs/{job_id}/violations").json()
    assert everything["total"] == 4
    assert [(v["file_name"], v["start_line"]) for v in everything["items"]] == [
        ("a.sql", 1),
        ("a.sql", 3),
        ("b.sql", 2),
        ("b.sql", 4),
    ]
    by_rule = client.get(f"/jobs/{job_id}/violations", params={"rule": "lt01"}).json()
    assert {v["rule_code"] for v in by_rule["items"]} == {"LT01"} and by_rule["total"] == 2
    worst = client.get(f"/jobs/{job_id}/violations", params={"min_severity": "MAJOR"}).json()
    assert sorted(v["rule_code"] for v in worst["items"]) == ["PRS", "RF02"]
    exact = client.get(f"/jobs/{job_id}/violations", params={"severity": "BLOCKER"}).json()
    assert [v["rule_code"] for v in exact["items"]] == ["PRS"]
    in_file = client.get(f"/jobs/{job_id}/violations", params={"file": "b.sql", "size": 1})
    assert in_file.json()["total"] == 2 and len(in_file.json()["items"]) == 1

    summary = client.get(f"/jobs/{job_id}/summary", params={"top": 1}).json()
    assert summary["progress"] == {"done": 3, "total": 3, "percent": 100.0}
    assert summary["violations_total"] == 4
    assert summary["by_severity"] == {
        "INFO": 2,
        "MINOR": 0,
        "MAJOR": 1,
        "CRITICAL": 0,
        "BLOCKER": 1,
    }
    assert summary["by_rule"][0] == {
        "code": "LT01",
        "name": "rule.LT01",
        "severity": "INFO",
        "count": 2,
    }
    assert len(summary["top_files"]) == 1 and summary["top_files"][0]["violations"] == 2
    for path in ("violations", "summary", "report"):
        assert client.get(f"/jobs/job-nope/{path}").status_code == 404
    assert client.get(f"/jobs/{job_id}/report", params={"format": "pdf"}).status_code == 422


def test_violations_of_a_file_linted_again_replace_the_old_ones(
    client: TestClient, session_maker: sessionmaker[Session]
) -> None:
    job_id = _seed_violations(session_maker, client)
    with session_maker() as s:
        [task] = [t for t in queries.tasks.all_tasks(s, job_id) if t.file_name == "a.sql"]
    again = queries.tasks.TaskOutcome(
        task.task_id, TaskStatus.SUCCESS, task.result_file_path, None, 0, "a.sql", job_id
    )
    with session_maker.begin() as s:
        queries.tasks.mark_tasks(s, [again])
    assert client.get(f"/jobs/{job_id}/violations", params={"file": "a.sql"}).json()["total"] == 0


def test_retry_answers(client: TestClient, session_maker: sessionmaker[Session]) -> None:
    assert client.post("/jobs/job-nope/retry").status_code == 404
    job_id = client.post("/jobs", json={"sql_content": "select 1\n"}).json()["job_id"]
    running = client.post(f"/jobs/{job_id}/retry")
    assert running.status_code == 409 and "once it has ended" in running.json()["detail"]
    with session_maker.begin() as s:
        finish_job(s, job_id, dict.fromkeys(TaskStatus, 0) | {TaskStatus.SUCCESS: 1})
    done = client.post(f"/jobs/{job_id}/retry")
    assert done.status_code == 409 and "nothing to retry" in done.json()["detail"]
    with session_maker.begin() as s:
        queries.jobs.fail_job(s, job_id, "boom", only_if_unfinished=False)
    first_run = client.get(f"/jobs/{job_id}").json()["flow_run_id"]
    retried = client.post(f"/jobs/{job_id}/retry")
    assert retried.status_code == 202, retried.text
    job = client.get(f"/jobs/{job_id}").json()
    assert job["job_status"] == JobStatus.ACCEPTED and job["error_message"] is None
    assert job["flow_run_id"] and job["flow_run_id"] != first_run


def test_fixed_and_diff_answers(client: TestClient, session_maker: sessionmaker[Session]) -> None:
    job_id = _seed_violations(session_maker, client)
    with session_maker() as s:
        task = queries.tasks.all_tasks(s, job_id)[0]
    response = client.get(f"/tasks/{task.task_id}/fixed")
    assert response.status_code == 409 and "fix: true" in response.json()["detail"]
    assert client.get("/tasks/task-nope/diff").status_code == 404


def test_new_paths_are_in_the_docs(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/jobs/upload",
        "/jobs/{job_id}/violations",
        "/jobs/{job_id}/summary",
        "/jobs/{job_id}/report",
        "/jobs/{job_id}/retry",
        "/tasks/{task_id}/fixed",
        "/tasks/{task_id}/diff",
        "/lint",
    ):
        assert path in paths, path
