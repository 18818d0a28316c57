"""Issue 15 end to end, on the whole system (HTTP -> Prefect -> Dask -> files -> DB): a project
whose profile and severity overrides reach the lint workers; a baseline job of real corpus SQL
(tpch, and a CRLF T-SQL file under its own folder `.sqlfluff`), then the same tree with edits
that shift lines, fix one finding and add new ones: only the real changes are `new`, the gate
verdict follows and reaches the callback; and the job's one patch, which `git apply` accepts on
a copy of the submitted tree, giving what `sqlfluff fix` gives."""

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import rendered_url
from tests.support.corpus import CORPUS
from tests.support.factories import zip_bytes
from tests.support.oracle import cli_fix
from tests.support.stand_ins import CallbackReceiver, serving
from tests.support.system import System, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MAX_BYTES = 100_000
CRLF = CORPUS / "nasty/09-tsql-create-external-tables.crlf.sql"
ADDED = "select a from t join u on t.x = u.x\n"
PROFILE = {
    "name": "warehouse",
    "dialect": "ansi",
    "exclude_rules": ["LT05"],
    "severity_overrides": {"AM05": "BLOCKER"},
    "gate": {"on": "new", "max": {"BLOCKER": 0}},
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    with serving(CallbackReceiver()) as running:
        yield running


@pytest.fixture(scope="module")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {
        "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CALLBACK_BACKOFF_SECONDS": "0.2",
        "LINT_MAX_FILE_BYTES": str(MAX_BYTES),
    }
    with running_system(database_url, tmp_path_factory.mktemp("projects"), env) as running:
        yield running


def tree() -> dict[str, bytes]:
    entries = {f"tpch/{n}": (CORPUS / "tpch" / n).read_bytes() for n in ("q01.sql", "q03.sql")}
    entries["tsql/.sqlfluff"] = b"[sqlfluff]\ndialect = tsql\n"
    entries["tsql/external.sql"] = CRLF.read_bytes()
    return entries


def edited(entries: dict[str, bytes]) -> dict[str, bytes]:
    """Lines shifted in every file, one finding fixed (a reference qualified), a statement with
    an ambiguous join (AM05) appended to q03."""
    out = dict(entries)
    out["tpch/q01.sql"] = b"-- reviewed\n\n\n" + entries["tpch/q01.sql"]
    out["tpch/q03.sql"] = (
        entries["tpch/q03.sql"]
        .replace(b"WHERE\n", b"-- filters\n\nWHERE\n")
        .replace(b"    c_mktsegment = 'BUILDING'", b"    customer.c_mktsegment = 'BUILDING'")
        + b"\n"
        + ADDED.encode()
    )
    out["tsql/external.sql"] = b"-- header\r\n\r\n" + entries["tsql/external.sql"]
    return out


def submit(system: System, entries: dict[str, bytes], **form: str) -> dict[str, Any]:
    response = httpx.post(
        f"{system.api}/jobs/upload",
        files={"file": ("tree.zip", zip_bytes(entries))},
        data=form,
        timeout=60,
    )
    assert response.status_code == 202, response.text
    body = system.wait_final(response.json()["job_id"])
    assert body["job_status"] == "COMPLETED", body
    return body


def violations(system: System, job_id: str, **params: Any) -> list[dict[str, Any]]:
    page = httpx.get(
        f"{system.api}/jobs/{job_id}/violations", params={"size": 1000, **params}, timeout=30
    ).json()
    assert page["total"] == len(page["items"])
    return list(page["items"])


@pytest.fixture(scope="module")
def jobs(system: System, receiver: CallbackReceiver) -> dict[str, Any]:
    project = httpx.post(f"{system.api}/projects", json=PROFILE, timeout=30).json()
    pid = project["project_id"]
    common = {"project_id": pid, "ref": "main", "callback_url": receiver.url}
    base = submit(system, tree(), fix="true", **common)
    change = submit(system, edited(tree()), baseline="latest", **common)
    return {"project": pid, "base": base, "change": change}


def test_the_profile_and_overrides_reach_the_workers(system: System, jobs: dict[str, Any]) -> None:
    base = jobs["base"]
    assert base["config_sources"]["dialect"]["source"] == f"project {jobs['project']} options"
    tasks = {t["file_name"]: t for t in system.job(base["job_id"], size=100)["sub_tasks"]["items"]}
    assert tasks["tpch/q03.sql"]["effective_config"]["dialect"] == "ansi"
    assert tasks["tpch/q03.sql"]["effective_config"]["exclude_rules"] == "LT05"
    # The tree's own .sqlfluff sits above the project's layer, as in SQLFluff.
    assert tasks["tsql/external.sql"]["effective_config"]["dialect"] == "tsql"
    found = violations(system, base["job_id"])
    assert found and not [v for v in found if v["rule_code"] == "LT05"]
    assert all(v["fingerprint"] for v in found)


def test_only_the_real_changes_are_new_and_the_gate_follows(
    system: System, jobs: dict[str, Any], receiver: CallbackReceiver
) -> None:
    base, change = jobs["base"], jobs["change"]
    assert base["gate"]["status"] == "passed", base["gate"]  # no BLOCKER in the legacy tree
    assert change["baseline_job_id"] == base["job_id"]
    everything = violations(system, change["job_id"])
    new = violations(system, change["job_id"], new_only=True)
    q03_lines = edited(tree())["tpch/q03.sql"].decode().splitlines()
    added_from = len(q03_lines)  # the appended statement is the last line
    on_added = [
        v for v in everything if v["file_name"] == "tpch/q03.sql" and v["start_line"] >= added_from
    ]
    assert {v["rule_code"] for v in on_added} >= {"AM05", "RF02"}
    assert sorted(v["fingerprint"] for v in new) == sorted(v["fingerprint"] for v in on_added)
    assert all(v["status"] == "existing" for v in everything if v not in on_added)
    am05 = [v for v in new if v["rule_code"] == "AM05"]
    assert [v["severity"] for v in am05] == ["BLOCKER"]  # the project's override
    assert change["gate"]["status"] == "failed"
    assert change["gate"]["reasons"] == ["1 new BLOCKER finding(s), at most 0 allowed"]

    trend = httpx.get(f"{system.api}/projects/{jobs['project']}/trend", timeout=30).json()
    assert [j["job_id"] for j in trend["jobs"]] == [base["job_id"], change["job_id"]]
    assert [(v["file_name"], v["rule_code"]) for v in trend["fixed"]] == [("tpch/q03.sql", "RF02")]
    assert {v["fingerprint"] for v in trend["introduced"]} == {v["fingerprint"] for v in new}

    def payload_of(job_id: str) -> dict[str, Any] | None:
        for headers, body in receiver.received:
            if headers.get("x-job-id") == job_id:
                return dict(json.loads(body))
        return None

    sent = system.wait_job(
        change["job_id"],
        lambda b: (b["callback_status"] or "").startswith("delivered"),
        60,
        "no callback",
    )
    payload = payload_of(sent["job_id"])
    assert payload is not None and payload["gate"] == change["gate"]
    assert payload["new_by_severity"]["BLOCKER"] == 1


def test_one_patch_applies_and_equals_sqlfluff_fix(
    system: System, jobs: dict[str, Any], tmp_path: Path
) -> None:
    job_id = jobs["base"]["job_id"]
    response = httpx.get(f"{system.api}/jobs/{job_id}/patch", timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/x-diff")
    patch = tmp_path / "job.diff"
    patch.write_bytes(response.content)
    submitted = tmp_path / "submitted"
    for name, data in tree().items():
        (submitted / name).parent.mkdir(parents=True, exist_ok=True)
        (submitted / name).write_bytes(data)
    for flags in (["--check"], []):
        proc = subprocess.run(
            ["git", "apply", *flags, str(patch)], cwd=submitted, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
    # `sqlfluff fix` on a copy of the job's folder: the same config layers, project's included.
    copy = tmp_path / "oracle"
    shutil.copytree(
        system.shared_root / f"jobs/{job_id}",
        copy,
        ignore=shutil.ignore_patterns("results", "fixes", "upload"),
    )
    sql = sorted(n for n in tree() if n.endswith(".sql"))
    cli_fix([copy / "extracted" / n for n in sql], {}, None, MAX_BYTES, tmp_path / "fix")
    changed = 0
    for name in sql:
        fixed = (copy / "extracted" / name).read_bytes()
        assert (submitted / name).read_bytes() == fixed, name
        changed += fixed != tree()[name]
    assert changed == 3
    # Byte-exact: the CRs of the submitted CRLF lines are in the patch's removed lines (`sqlfluff
    # fix` itself writes the file back with LF, and so does the patch).
    removed = [line for line in response.content.split(b"\n") if line.startswith(b"-CREATE")]
    assert removed and all(line.endswith(b"\r") for line in removed)
    not_fix = httpx.get(f"{system.api}/jobs/{jobs['change']['job_id']}/patch", timeout=30)
    assert not_fix.status_code == 409


def test_the_ui_shows_the_job_in_chromium(
    system: System, jobs: dict[str, Any], tmp_path: Path
) -> None:
    change = jobs["change"]
    dom = rendered_url(f"{system.api}/ui/jobs/{change['job_id']}", tmp_path / "profile", 2_000)
    new = violations(system, change["job_id"], new_only=True)
    total = len(violations(system, change["job_id"]))
    assert f'<td id="total">{total} ({len(new)} new)</td>' in dom
    assert "1 new BLOCKER finding(s), at most 0 allowed" in dom
    prefect_ui = system.prefect_api.removesuffix("/api")
    assert f'href="{prefect_ui}/runs/flow-run/{change["flow_run_id"]}"' in dom
    home = rendered_url(f"{system.api}/ui", tmp_path / "profile", 2_000)
    assert change["job_id"] in home and jobs["base"]["job_id"] in home


def test_the_clients_exit_code_follows_the_gate_and_it_writes_the_patch(
    system: System, jobs: dict[str, Any], tmp_path: Path
) -> None:
    """`sqlfluff-service submit --project`: exit 1 when the gate fails (a new BLOCKER), exit 0
    when it passes even though old findings remain (where --fail-on alone would exit 1), and
    `--fix --patch` writes the job's one patch."""
    client = Path(sys.executable).parent / "sqlfluff-service"

    def run(entries: dict[str, bytes], name: str, *flags: str) -> subprocess.CompletedProcess[str]:
        folder = tmp_path / name
        for rel, data in entries.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        return subprocess.run(
            [
                str(client),
                "submit",
                str(folder),
                "--url",
                system.api,
                "--format",
                "json",
                "--project",
                jobs["project"],
                *flags,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )

    failing = run(edited(tree()), "change", "--baseline", jobs["base"]["job_id"])
    assert failing.returncode == 1, failing.stderr
    assert "quality gate failed: 1 new BLOCKER finding(s)" in failing.stderr
    assert json.loads(failing.stdout), "the findings are printed as sqlfluff lint --format json"

    patch = tmp_path / "out.diff"
    base_id = jobs["base"]["job_id"]
    passing = run(tree(), "same", "--baseline", base_id, "--fix", "--patch", str(patch))
    assert passing.returncode == 0, passing.stderr
    assert "quality gate passed" in passing.stderr
    assert any(r["violations"] for r in json.loads(passing.stdout)), "old findings remain"
    applied = subprocess.run(
        ["git", "apply", "--check", str(patch)],
        cwd=tmp_path / "same",
        capture_output=True,
        text=True,
    )
    assert patch.read_bytes().startswith(b"diff --git") and applied.returncode == 0, applied.stderr
