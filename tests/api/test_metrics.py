"""GET /metrics: Prometheus text with the service's counts, counters (files linted, violations),
the lint duration histogram and HTTP request metrics; what the flows record shows up in the
next scrape, and no scrape reads linting_tasks."""

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import TaskStatus


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_follow_the_tables_and_requests(
    client: TestClient, session_maker: sessionmaker[Session]
) -> None:
    before = scrape(client)
    job_id = client.post("/jobs", json={"sql_content": "select 1\n"}).json()["job_id"]
    with session_maker.begin() as s:
        pending = queries.tasks.ensure_tasks(
            s, job_id, [queries.tasks.NewTask(f"x/{n}.sql", f"{n}.sql") for n in ("a", "b", "c")]
        )
    seconds = {"a.sql": 0.07, "b.sql": 0.3, "c.sql": 7.0}
    with session_maker.begin() as s:
        queries.tasks.mark_tasks(
            s,
            [
                queries.tasks.TaskOutcome(
                    p.task_id,
                    TaskStatus.SUCCESS,
                    "r.json",
                    None,
                    0,
                    p.file_name,
                    job_id,
                    lint_seconds=seconds[p.file_name],
                )
                for p in pending
            ],
        )
    client.get(f"/jobs/{job_id}")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("sqlfluff_jobs", status="ACCEPTED") == 1
    assert delta("sqlfluff_queue_depth") == 1
    assert delta("sqlfluff_files_linted_total", status="SUCCESS") == 3
    assert delta("sqlfluff_files_linted_total", status="FAILURE") == 0
    assert delta("sqlfluff_lint_duration_seconds_count") == 3
    assert abs(delta("sqlfluff_lint_duration_seconds_sum") - 7.37) < 1e-6
    assert delta("sqlfluff_lint_duration_seconds_bucket", le="0.1") == 1
    assert delta("sqlfluff_lint_duration_seconds_bucket", le="0.5") == 2
    assert delta("sqlfluff_lint_duration_seconds_bucket", le="5.0") == 2
    assert delta("sqlfluff_lint_duration_seconds_bucket", le="+Inf") == 3
    route = (("method", "GET"), ("route", "/jobs/{job_id}"), ("status", "200"))
    assert after[("http_requests_total", route)] >= 1
    assert delta("http_requests_total", method="POST", route="/jobs", status="202") == 1
    latency = (("method", "GET"), ("route", "/jobs/{job_id}"))
    assert after[("http_request_duration_seconds_count", latency)] >= 1


def test_a_scrape_never_reads_the_tasks_table(client: TestClient) -> None:
    """The file counts are counters kept as rows: a scrape costs the same at 10 or 10 million
    files."""
    engine = client.app.state.sessions.kw["bind"]  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get("/metrics").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert any("service_counters" in s for s in statements), statements
    assert not [s for s in statements if "linting_tasks" in s or "linting_violations" in s]
