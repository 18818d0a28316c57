"""Issue 15's API on the real app, test DB and Prefect server (no worker: runs stay scheduled):
projects and their checked profiles, a job layered over its project's profile, baselines,
new-vs-existing findings, the gate verdict, the trend, and projects shared between API keys.
Findings are seeded from SQLFluff's own lint of real corpus SQL, fingerprinted as the lint
batch does (linting.batch.violation_rows)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db import queries
from services.keys import hash_key, new_key
from tests.support.corpus import CORPUS
from tests.support.findings import lint_into

PROFILE = {
    "name": "warehouse",
    "dialect": "postgres",
    "exclude_rules": ["LT05"],
    "config": "[sqlfluff]\nmax_line_length = 120\n"
    "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = upper\n",
    "severity_overrides": {"CP01": "MAJOR"},
    "gate": {"on": "new", "max": {"BLOCKER": 0, "MAJOR": 0}},
}


def test_project_create_read_change_list(client: TestClient) -> None:
    created = client.post("/projects", json=PROFILE)
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["project_id"].startswith("proj-")
    assert (project["dialect"], project["exclude_rules"], project["config"]) == (
        "postgres",
        ["LT05"],
        PROFILE["config"],
    )
    assert project["severity_overrides"] == {"CP01": "MAJOR"}
    assert project["gate"] == {
        "on": "new",
        "max": {"BLOCKER": 0, "MAJOR": 0},
        "allow_failed_files": False,
    }
    pid = project["project_id"]
    assert client.get(f"/projects/{pid}").json() == project
    changed = client.patch(f"/projects/{pid}", json={"name": "dwh", "rules": ["CP01", "LT01"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "dwh" and changed.json()["rules"] == ["CP01", "LT01"]
    assert changed.json()["dialect"] == "postgres"  # the rest of the profile stays
    refused = client.patch(f"/projects/{pid}", json={"exclude_rules": ["XX99"]})
    assert refused.status_code == 400 and "XX99" in refused.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["exclude_rules"] == ["LT05"]
    listed = client.get("/projects", params={"size": 500}).json()
    assert pid in {p["project_id"] for p in listed["items"]}
    assert client.get("/projects/proj-nope").status_code == 404


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"dialect": "nosuch"}, "unknown dialect"),
        ({"templater": "dbt"}, "unknown templater"),
        ({"rules": ["LT01", "ZZ01"]}, "ZZ01"),
        ({"config": "[sqlfluff:templater:jinja]\nlibrary_path = /etc\n"}, "library_path"),
        ({"config": "[sqlfluff]\nrules = QQ42\n"}, "QQ42"),
        ({"severity_overrides": {"LT99": "MAJOR"}}, "LT99"),
    ],
)
def test_a_profile_is_checked_like_a_jobs_options(
    client: TestClient, change: dict[str, object], detail: str
) -> None:
    response = client.post("/projects", json={**PROFILE, **change})
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    job = client.post(
        "/jobs",
        json={
            "sql_content": "select 1\n",
            **{k: v for k, v in change.items() if k != "severity_overrides"},
        },
    )
    if "severity_overrides" not in change:
        assert job.status_code == 400 and detail in job.json()["detail"]  # the same check


def test_a_job_layers_its_options_over_its_projects_profile(
    client: TestClient, settings: Settings
) -> None:
    pid = client.post("/projects", json=PROFILE).json()["project_id"]
    job_id = client.post(
        "/jobs",
        json={
            "sql_content": "select 1\n",
            "project_id": pid,
            "rules": ["CP01"],
            "config": "[sqlfluff]\nmax_line_length = 80\n",
        },
    ).json()["job_id"]
    job = client.get(f"/jobs/{job_id}").json()
    assert job["project_id"] == pid and job["dialect"] == "postgres"
    sources = job["config_sources"]
    assert sources["dialect"] == {"value": "postgres", "source": f"project {pid} options"}
    assert sources["exclude_rules"] == {"value": "LT05", "source": f"project {pid} options"}
    assert sources["max_line_length"] == {"value": "80", "source": "job config"}
    assert sources["rules"] == {"value": "CP01", "source": "job options"}
    layer = (settings.NFS_SHARE_ROOT_PATH / f"jobs/{job_id}/.sqlfluff").read_text()
    assert "dialect = postgres" in layer and "capitalisation_policy = upper" in layer
    # SQLFluff itself reads the layers as documented: the job's config and options win.
    from sqlfluff.core import FluffConfig

    config = FluffConfig.from_path(
        str(settings.NFS_SHARE_ROOT_PATH / f"jobs/{job_id}/source"),
        extra_config_path=str(settings.NFS_SHARE_ROOT_PATH / f"jobs/{job_id}/job.sqlfluff"),
        overrides={"rules": "CP01"},
    )
    assert config.get("dialect") == "postgres" and config.get("max_line_length") == 80
    assert config.get("exclude_rules") == ["LT05"] or config.get("exclude_rules") == "LT05"

    missing = client.post("/jobs", json={"sql_content": "select 1\n", "project_id": "proj-nope"})
    assert missing.status_code == 404
    latest = client.post("/jobs", json={"sql_content": "select 1\n", "baseline": "latest"})
    assert latest.status_code == 400 and "needs a 'project_id'" in latest.json()["detail"]
    both = client.post(
        "/jobs",
        json={
            "sql_content": "x\n",
            "project_id": pid,
            "baseline": "latest",
            "baseline_job_id": job_id,
        },
    )
    assert both.status_code == 400
    upload = client.post(
        "/jobs/upload",
        files={"file": ("q.sql", b"select 1\n")},
        data={"project_id": pid, "ref": "main"},
    )
    assert upload.status_code == 202, upload.text
    assert client.get(f"/jobs/{upload.json()['job_id']}").json()["ref"] == "main"


ADDED = "select a from t join u on t.x = u.x\n"


def edited_tree(q01: str, q03: str) -> dict[str, str]:
    """The same tree with lines shifted in both files, one finding fixed (a reference
    qualified) and a statement with new findings appended to q03."""
    q03 = q03.replace("WHERE\n", "-- filters\n\nWHERE\n").replace(
        "    c_mktsegment = 'BUILDING'", "    customer.c_mktsegment = 'BUILDING'"
    )
    return {"q01.sql": "-- reviewed\n\n\n" + q01, "q03.sql": q03 + "\n" + ADDED}


def test_baseline_new_findings_gate_and_trend(
    client: TestClient, session_maker: sessionmaker[Session], settings: Settings
) -> None:
    root = settings.NFS_SHARE_ROOT_PATH
    tree = {n: (CORPUS / "tpch" / n).read_text() for n in ("q01.sql", "q03.sql")}
    pid = client.post(
        "/projects", json={"name": "tpch", "gate": {"on": "new", "max": {"MAJOR": 0}}}
    ).json()["project_id"]

    def job(files: dict[str, str], **extra: str) -> dict[str, Any]:
        body = {"sql_content": "x\n", "project_id": pid, "ref": "main", **extra}
        job_id = client.post("/jobs", json=body).json()["job_id"]
        lint_into(session_maker, root, job_id, files, {})
        return dict(client.get(f"/jobs/{job_id}").json())

    base = job(tree)
    # Without a baseline every finding is new: the legacy tree's MAJOR findings fail the gate.
    assert base["job_status"] == "COMPLETED" and base["gate"]["status"] == "failed"
    assert base["gate"]["counts"]["MAJOR"] == 17

    edited = job(edited_tree(tree["q01.sql"], tree["q03.sql"]), baseline="latest")
    job_id = edited["job_id"]
    assert edited["baseline_job_id"] == base["job_id"]
    new = client.get(f"/jobs/{job_id}/violations", params={"new_only": True, "size": 1000}).json()
    everything = client.get(f"/jobs/{job_id}/violations", params={"size": 1000}).json()
    added_from = len(edited_tree(tree["q01.sql"], tree["q03.sql"])["q03.sql"].splitlines())
    on_added = [
        v
        for v in everything["items"]
        if v["file_name"] == "q03.sql" and v["start_line"] >= added_from
    ]
    # Exactly the findings of the added statement are new; every shifted one is existing.
    assert {v["rule_code"] for v in on_added} >= {"AM05", "RF02"}
    assert sorted(v["fingerprint"] for v in new["items"]) == sorted(
        v["fingerprint"] for v in on_added
    )
    assert [v["status"] for v in everything["items"]].count("new") == new["total"]
    assert edited["gate"]["status"] == "failed"
    majors = sum(v["severity"] == "MAJOR" for v in on_added)
    assert edited["gate"]["reasons"] == [f"{majors} new MAJOR finding(s), at most 0 allowed"]

    summary = client.get(f"/jobs/{job_id}/summary", params={"new_only": True}).json()
    assert summary["violations_total"] == new["total"] and summary["gate"] == edited["gate"]
    assert summary["new_by_severity"] == summary["by_severity"]
    csv_new = client.get(f"/jobs/{job_id}/report", params={"format": "csv", "new_only": True}).text
    assert len(csv_new.strip().splitlines()) == new["total"] + 1  # and a header line

    trend = client.get(f"/projects/{pid}/trend").json()
    assert [j["job_id"] for j in trend["jobs"]] == [base["job_id"], job_id]
    assert [j["gate"] for j in trend["jobs"]] == ["failed", "failed"]
    assert trend["jobs"][1]["total"] == everything["total"]
    assert trend["compared"] == {"from": base["job_id"], "to": job_id}
    assert {v["fingerprint"] for v in trend["introduced"]} == {
        v["fingerprint"] for v in new["items"]
    }
    # The one fixed finding: the reference that was qualified (line 11 of q03 in the baseline).
    assert [(v["file_name"], v["rule_code"], v["start_line"]) for v in trend["fixed"]] == [
        ("q03.sql", "RF02", 11)
    ]

    # Shifting lines again adds nothing new against the edited job: the gate passes.
    again = edited_tree(tree["q01.sql"], tree["q03.sql"])
    again = {n: "-- again\n" + text for n, text in again.items()}
    third = job(again, baseline_job_id=job_id)
    assert third["gate"] == {
        "status": "passed",
        "on": "new",
        "reasons": [],
        "counts": dict.fromkeys(["INFO", "MINOR", "MAJOR", "CRITICAL", "BLOCKER"], 0),
        "baseline_job_id": job_id,
    }


def _key(sessions: sessionmaker[Session], name: str) -> tuple[str, str]:
    key_id, key = new_key()
    with sessions.begin() as s:
        queries.keys.add_api_key(s, key_id, hash_key(key), name, False)
    return key_id, key


@pytest.fixture
def keyed_client(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, lint_deployment: str, shared_files: Path
) -> Iterator[TestClient]:
    from api.main import create_app

    monkeypatch.setenv("API_KEYS_REQUIRED", "true")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        yield client


def test_a_project_belongs_to_keys_and_its_jobs_are_visible_to_them(
    keyed_client: TestClient, session_maker: sessionmaker[Session]
) -> None:
    (alice_id, alice), (bob_id, bob), (_, eve) = (
        _key(session_maker, n) for n in ("alice", "bob", "eve")
    )
    as_ = {k: {"X-API-Key": k} for k in (alice, bob, eve)}
    pid = keyed_client.post("/projects", json={"name": "shared"}, headers=as_[alice]).json()[
        "project_id"
    ]
    assert keyed_client.get(f"/projects/{pid}", headers=as_[bob]).status_code == 403
    job = keyed_client.post(
        "/jobs", json={"sql_content": "select 1\n", "project_id": pid}, headers=as_[alice]
    ).json()["job_id"]
    assert keyed_client.get(f"/jobs/{job}", headers=as_[bob]).status_code == 403
    assert (
        keyed_client.post(
            "/jobs", json={"sql_content": "select 1\n", "project_id": pid}, headers=as_[bob]
        ).status_code
        == 403
    )
    shared = keyed_client.patch(
        f"/projects/{pid}", json={"key_ids": [alice_id, bob_id]}, headers=as_[alice]
    )
    assert shared.json()["key_ids"] == sorted([alice_id, bob_id])
    assert keyed_client.get(f"/jobs/{job}", headers=as_[bob]).status_code == 200
    assert keyed_client.get(f"/jobs/{job}/violations", headers=as_[bob]).status_code == 200
    assert keyed_client.get(f"/jobs/{job}", headers=as_[eve]).status_code == 403
    assert [
        p["project_id"] for p in keyed_client.get("/projects", headers=as_[bob]).json()["items"]
    ] == [pid]
    assert keyed_client.get("/projects", headers=as_[eve]).json()["total"] == 0
    dropped = keyed_client.patch(f"/projects/{pid}", json={"key_ids": [bob_id]}, headers=as_[alice])
    assert dropped.status_code == 400 and "your own key" in dropped.json()["detail"]
