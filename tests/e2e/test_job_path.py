"""End to end, as a user's job runs: HTTP -> Prefect deployment -> flow on Dask -> result files
-> rows; every result equal to the SQLFluff CLI on the same file with the same config."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import LintingTask
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.oracle import cli_violations
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MAX_BYTES = 1_048_576  # LINT_MAX_FILE_BYTES default


def all_items(system: System, job_id: str, size: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = httpx.get(f"{system.api}/jobs/{job_id}", params={"page": page, "size": size}).json()
        sub = body["sub_tasks"]
        assert (sub["page"], sub["size"]) == (page, size)
        if not sub["items"]:
            assert len(items) == sub["total"]
            return items
        assert len(sub["items"]) <= size
        items += sub["items"]
        page += 1


def assert_results_equal_cli(
    system: System,
    job_id: str,
    items: list[dict[str, Any]],
    dialect: str,
    tmp: Path,
    source_of: Any,
) -> None:
    sources = {item["file_name"]: source_of(item["file_name"]) for item in items}
    expected = cli_violations(list(sources.values()), dialect, MAX_BYTES, tmp)
    for item in items:
        response = httpx.get(f"{system.api}/tasks/{item['task_id']}/result")
        assert response.status_code == 200, response.text
        [record] = response.json()
        assert record["filepath"] == item["file_name"]
        assert record["violations"] == expected[str(sources[item["file_name"]].resolve())], item
        assert item["result_file_path"] == f"jobs/{job_id}/results/{item['task_id']}.json"
        assert item["violation_count"] == len(record["violations"])


def test_inline_sql(system: System, tmp_path: Path) -> None:
    sql = (CORPUS / "tpch/q07.sql").read_text()
    response = httpx.post(f"{system.api}/jobs", json={"sql_content": sql})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    body = system.wait_final(job_id)
    assert body["job_status"] == "COMPLETED", body
    assert body["submission_type"] == "SINGLE_FILE"
    [item] = all_items(system, job_id, 10)
    assert (item["file_name"], item["status"]) == ("input.sql", "SUCCESS")
    assert_results_equal_cli(
        system, job_id, [item], "ansi", tmp_path, lambda _: system.shared_root / body["source_path"]
    )
    # The run's own end is its last step, just after the job's final status.
    system.wait_run_state(body["flow_run_id"], "COMPLETED")
    run = httpx.get(f"{system.prefect_api}/flow_runs/{body['flow_run_id']}").json()
    assert run["name"] == job_id


def test_zip_archives_of_real_folders(
    system: System, tmp_path: Path, session_maker: sessionmaker[Session]
) -> None:
    archives = {
        "tpch": (
            "ansi",
            {
                **folder_entries(CORPUS / "tpch", "queries/tpc-h"),
                "README.txt": b"not sql",
                "queries/notes/data.csv": b"1,2",
            },
        ),
        "sqlite": ("sqlite", folder_entries(CORPUS / "mixed/sqlite", "sqlite")),
    }
    jobs: dict[str, str] = {}
    for name, (dialect, entries) in archives.items():
        make_zip(system.shared_root / f"archives/{name}.zip", entries)
        response = httpx.post(
            f"{system.api}/jobs", json={"zip_file_path": f"archives/{name}.zip", "dialect": dialect}
        )
        assert response.status_code == 202, response.text
        jobs[name] = response.json()["job_id"]

    for name, job_id in jobs.items():
        dialect, entries = archives[name]
        sql_names = sorted(n for n in entries if n.endswith(".sql"))
        body = system.wait_final(job_id)
        assert body["job_status"] == "COMPLETED", body
        assert body["ignored_file_count"] == len(entries) - len(sql_names)
        assert body["progress"]["SUCCESS"] == len(sql_names)
        items = all_items(system, job_id, size=7)
        assert sorted(i["file_name"] for i in items) == sql_names
        assert {i["status"] for i in items} == {"SUCCESS"}
        with session_maker() as s:
            rows = s.scalars(select(LintingTask).where(LintingTask.job_id == job_id)).all()
        assert sorted(r.file_name for r in rows) == sql_names  # exactly one row per file
        for row in rows:
            assert (system.shared_root / str(row.result_file_path)).is_file()
        extracted = system.shared_root / f"jobs/{job_id}/extracted"
        assert_results_equal_cli(
            system, job_id, items, dialect, tmp_path / name, extracted.joinpath
        )
        task_runs = httpx.post(
            f"{system.prefect_api}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [body["flow_run_id"]]}}},
        ).json()
        assert task_runs and all(t["name"].startswith("lint ") for t in task_runs)
    assert httpx.get(f"{system.api}/jobs/job-unknown").status_code == 404
