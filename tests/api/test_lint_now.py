"""`POST /lint`: answers equal to the SQLFluff CLI from a warm pool, with its limits (413 for
size, 503 when every process is busy, 504 past the time limit)."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from core.settings import Settings, get_settings
from deployments.processes import wait_for
from tests.support.corpus import CORPUS
from tests.support.oracle import cli_job_violations

QUERY = (CORPUS / "tpch/q10.sql").read_text()  # 20-odd lines
SLOW = (CORPUS / "nasty/07-mysql-Chinook_MySql.sql").read_text()  # far more than 1 s of work
JOB_CONFIG = "[sqlfluff]\nmax_line_length = 30\n"


def oracle(tmp_path: Path, sql: str, options: dict[str, Any], config: str | None) -> Any:
    folder = tmp_path / "lint"
    folder.mkdir()
    (folder / ".sqlfluff").write_text("[sqlfluff]\ndialect = ansi\n")  # the default layer
    (folder / "input.sql").write_text(sql)
    by_path = cli_job_violations([folder / "input.sql"], options, config, 1024**2, tmp_path)
    return by_path[str((folder / "input.sql").resolve())]


@pytest.mark.parametrize(
    ("options", "config"),
    [
        ({}, None),
        ({"dialect": "postgres", "exclude_rules": ["LT09"]}, None),
        ({"rules": ["LT05", "CP01", "AL01", "LT02"]}, JOB_CONFIG),
    ],
    ids=["defaults", "dialect-exclude", "rules-config"],
)
def test_answer_equals_the_cli(
    client: TestClient, tmp_path: Path, options: dict[str, Any], config: str | None
) -> None:
    response = client.post("/lint", json={"sql": QUERY, **options, "config": config})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = oracle(tmp_path, QUERY, options, config)
    assert expected, "no violations: the comparison would prove nothing"
    got = [{k: v for k, v in item.items() if k != "severity"} for item in body["violations"]]
    assert got == expected
    assert body["violation_count"] == len(expected)
    assert all(v["severity"] in {"INFO", "MINOR", "MAJOR"} for v in body["violations"])
    assert body["effective_config"]["dialect"] == options.get("dialect", "ansi")


def test_templating_and_lexing_errors_carry_the_clis_keys_only(
    client: TestClient, tmp_path: Path
) -> None:
    """SQLFluff's TMP and LXR records have no end position: none is made up (no nulls)."""
    sql = "select {{ undefined_thing }} from t\nwhere a = 'never closed\n"
    response = client.post("/lint", json={"sql": sql})
    assert response.status_code == 200, response.text
    got = [
        {k: v for k, v in item.items() if k != "severity"} for item in response.json()["violations"]
    ]
    expected = oracle(tmp_path, sql, {}, None)
    assert {"TMP", "LXR"} <= {v["code"] for v in expected}, expected
    assert got == expected


def test_bad_requests(client: TestClient) -> None:
    assert client.post("/lint", json={"sql": "  "}).status_code == 400
    unknown = client.post("/lint", json={"sql": "select 1", "rules": ["XX99"]})
    assert unknown.status_code == 400 and "XX99" in unknown.json()["detail"]
    assert client.post("/lint", json={}).status_code == 422


@pytest.fixture
def tight_client(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, lint_deployment: str
) -> Iterator[TestClient]:
    """One lint process, no queue, a 1 s limit and a 100 KB cap."""
    from api.main import create_app

    for name, value in {
        "INLINE_POOL_SIZE": "1",
        "INLINE_MAX_WAITING": "0",
        "INLINE_TIMEOUT_SECONDS": "1",
        "INLINE_MAX_BYTES": str(1024**2),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        yield client


def test_too_big_is_413(tight_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "select 1;\n" * (1024**2 // 10 + 1)
    response = tight_client.post("/lint", json={"sql": sql})
    assert response.status_code == 413 and "submit it as a job" in response.json()["detail"]


def test_busy_is_503_and_slow_is_504(tight_client: TestClient) -> None:
    pool = tight_client.app.state.lint_pool  # type: ignore[attr-defined]
    # The pool is warm before the race starts.
    assert tight_client.post("/lint", json={"sql": "select 1\n"}).status_code == 200
    answers: dict[str, httpx.Response] = {}
    slow = threading.Thread(
        target=lambda: answers.update(slow=tight_client.post("/lint", json={"sql": SLOW}))
    )
    slow.start()
    wait_for(lambda: pool._admitted == 1, 10, "the slow request never reached the pool", 0.01)
    busy = tight_client.post("/lint", json={"sql": "select 1\n"})
    slow.join(30)
    assert busy.status_code == 503, busy.text
    assert "busy" in busy.json()["detail"] and busy.headers["retry-after"] == "1"
    assert answers["slow"].status_code == 504, answers["slow"].text
    assert "INLINE_TIMEOUT_SECONDS" in answers["slow"].json()["detail"]
    # The killed process was replaced: the next request is served.
    after = tight_client.post("/lint", json={"sql": "SELECT 1\n", "dialect": "ansi"})
    assert after.status_code == 200 and after.json()["violation_count"] == 0
