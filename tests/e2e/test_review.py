"""Issue 5 end to end, on the whole system: a ZIP uploaded with a job config, rule options,
folder `.sqlfluff` files and `fix`; its results, fixes, violations, summary and reports checked
against the SQLFluff CLI and the formats' own readers (SARIF schema, XML, CSV, Chromium); the
signed callback; the retry endpoint; the command-line client."""

import csv
import hashlib
import hmac
import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from services.webhooks import verify_signature
from tests.support.browser import rendered_dom, screenshot
from tests.support.corpus import CORPUS
from tests.support.factories import make_zip, zip_bytes
from tests.support.oracle import cli_fix, cli_job_violations
from tests.support.sarif import sarif_schema
from tests.support.stand_ins import CallbackReceiver, serving
from tests.support.system import System, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SECRET = "callback-secret-for-tests"
MAX_BYTES = 100_000
JOB_CONFIG = (
    "[sqlfluff]\nmax_line_length = 70\n"
    "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = lower\n"
)
OPTIONS = {"exclude_rules": ["AM04"]}
KRATOS = sorted((CORPUS / "mixed/postgres/ory-kratos").glob("*.sql"))[:5]


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    with serving(CallbackReceiver(fail_first=1)) as running:
        yield running


@pytest.fixture(scope="module")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {
        "CALLBACK_SECRET": SECRET,
        "CALLBACK_BACKOFF_SECONDS": "0.2",
        # The receiver runs on this host: loopback is refused unless an operator allows it.
        "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LINT_MAX_FILE_BYTES": str(MAX_BYTES),
    }
    with running_system(database_url, tmp_path_factory.mktemp("review"), env) as running:
        yield running


def archive_entries() -> dict[str, bytes]:
    entries = {f"tpch/{n}": (CORPUS / "tpch" / n).read_bytes() for n in ("q01.sql", "q02.sql")}
    entries["tpch/quiet/.sqlfluff"] = b"[sqlfluff]\nexclude_rules = LT05,LT02\n"
    entries["tpch/quiet/q09.sql"] = (CORPUS / "tpch/q09.sql").read_bytes()
    entries["pg/.sqlfluff"] = b"[sqlfluff]\ndialect = postgres\n"
    entries.update({f"pg/{p.name}": p.read_bytes() for p in KRATOS})
    entries["README.md"] = b"not sql"
    return entries


def all_tasks(system: System, job_id: str) -> list[dict[str, Any]]:
    return list(system.job(job_id, size=1000)["sub_tasks"]["items"])


@pytest.fixture(scope="module")
def fix_job(
    system: System, receiver: CallbackReceiver, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The uploaded job, ended; with what the CLI says about the same files."""
    entries = archive_entries()
    response = httpx.post(
        f"{system.api}/jobs/upload",
        files={"file": ("review.zip", zip_bytes(entries))},
        data={
            "config": JOB_CONFIG,
            "exclude_rules": ",".join(OPTIONS["exclude_rules"]),
            "fix": "true",
            "submitter": "review-e2e",
            "callback_url": receiver.url,
        },
        timeout=60,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    body = system.wait_final(job_id)
    assert body["job_status"] == "COMPLETED", body
    extracted = system.shared_root / f"jobs/{job_id}/extracted"
    tasks = all_tasks(system, job_id)
    files = [extracted / t["file_name"] for t in tasks]
    work = tmp_path_factory.mktemp("oracle")
    expected = cli_job_violations(files, OPTIONS, JOB_CONFIG, MAX_BYTES, work / "lint")
    # `sqlfluff fix` on a copy of the job's folder (same config layers), in place.
    copy = work / "copy"
    shutil.copytree(
        system.shared_root / f"jobs/{job_id}",
        copy,
        ignore=shutil.ignore_patterns("results", "fixes", "upload"),
    )
    copies = [copy / "extracted" / t["file_name"] for t in tasks]
    cli_fix(copies, OPTIONS, JOB_CONFIG, MAX_BYTES, work / "fix")
    return {
        "job_id": job_id,
        "tasks": tasks,
        "files": files,
        "lint": expected,
        "fixed": copies,
        "entries": entries,
    }


def test_results_and_effective_config_equal_the_cli(
    system: System, fix_job: dict[str, Any]
) -> None:
    sql_names = sorted(n for n in fix_job["entries"] if n.endswith(".sql"))
    assert sorted(t["file_name"] for t in fix_job["tasks"]) == sql_names
    for task, path in zip(fix_job["tasks"], fix_job["files"], strict=True):
        assert task["status"] == "SUCCESS", task
        [record] = httpx.get(f"{system.api}/tasks/{task['task_id']}/result").json()
        assert record["violations"] == fix_job["lint"][str(path.resolve())], task["file_name"]
        effective = task["effective_config"]
        folder_config = task["file_name"].rsplit("/", 1)[0] + "/.sqlfluff"
        if task["file_name"].startswith("pg/"):
            assert effective["dialect"] == "postgres"
        else:
            assert effective["dialect"] == "ansi"
        if task["file_name"].startswith(("pg/", "tpch/quiet/")):
            assert any(f.endswith(f"extracted/{folder_config}") for f in effective["config_files"])
        assert effective["exclude_rules"] == "AM04"  # the option beats the folder's setting
    codes = {v["code"] for r in fix_job["lint"].values() for v in r}
    assert "CP01" in codes and "LT05" in codes, "the job config did not change the violations"


def test_fixed_files_and_diffs_equal_sqlfluff_fix(system: System, fix_job: dict[str, Any]) -> None:
    changed = 0
    for task, source, fixed in zip(
        fix_job["tasks"], fix_job["files"], fix_job["fixed"], strict=True
    ):
        response = httpx.get(f"{system.api}/tasks/{task['task_id']}/fixed")
        assert response.status_code == 200, response.text
        assert response.content == fixed.read_bytes(), task["file_name"]
        diff = httpx.get(f"{system.api}/tasks/{task['task_id']}/diff").text
        if response.content != source.read_bytes():
            changed += 1
            assert diff.startswith(f"--- a/{task['file_name']}\n+++ b/{task['file_name']}\n")
        else:
            assert diff == ""
    assert changed >= 3


def test_violations_summary_and_reports(
    system: System, fix_job: dict[str, Any], tmp_path: Path
) -> None:
    job_id = fix_job["job_id"]
    expected = {
        (t["file_name"], v["start_line_no"], v["start_line_pos"], v["code"])
        for t, p in zip(fix_job["tasks"], fix_job["files"], strict=True)
        for v in fix_job["lint"][str(p.resolve())]
    }
    page = httpx.get(f"{system.api}/jobs/{job_id}/violations", params={"size": 1000}).json()
    assert page["total"] == len(expected) == len(page["items"])
    assert {
        (v["file_name"], v["start_line"], v["start_pos"], v["rule_code"]) for v in page["items"]
    } == expected
    summary = httpx.get(f"{system.api}/jobs/{job_id}/summary", params={"top": 3}).json()
    assert summary["progress"] == {
        "done": len(fix_job["tasks"]),
        "total": len(fix_job["tasks"]),
        "percent": 100.0,
    }
    assert {r["code"]: r["count"] for r in summary["by_rule"]} == Counter(c for *_, c in expected)
    assert sum(summary["by_severity"].values()) == len(expected)
    assert len(summary["top_files"]) == 3

    sarif = httpx.get(f"{system.api}/jobs/{job_id}/report", params={"format": "sarif"})
    assert sarif.headers["content-type"].startswith("application/sarif+json")
    log = sarif.json()
    jsonschema.Draft202012Validator(
        sarif_schema(), format_checker=jsonschema.FormatChecker()
    ).validate(log)
    [run] = log["runs"]
    assert len(run["results"]) == len(expected)
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {c for *_, c in expected}
    assert all(r["help"]["text"] for r in run["tool"]["driver"]["rules"])

    junit = ET.fromstring(
        httpx.get(f"{system.api}/jobs/{job_id}/report", params={"format": "junit"}).content
    )
    cases = junit.findall("./testsuite/testcase")
    assert len(cases) == len(fix_job["tasks"])
    with_violations = {name for name, *_ in expected}
    assert {c.get("name") for c in cases if c.find("failure") is not None} == with_violations

    rows = list(
        csv.DictReader(
            io.StringIO(
                httpx.get(f"{system.api}/jobs/{job_id}/report", params={"format": "csv"}).text
            )
        )
    )
    assert {
        (r["file_name"], int(r["start_line"]), int(r["start_pos"]), r["rule_code"]) for r in rows
    } == expected

    page_html = tmp_path / "report.html"
    page_html.write_bytes(
        httpx.get(f"{system.api}/jobs/{job_id}/report", params={"format": "html"}).content
    )
    dom = rendered_dom(page_html, tmp_path / "chromium")
    assert job_id in dom and f'<td id="total">{len(expected)}</td>' in dom
    for task in fix_job["tasks"]:
        assert f"<h3>{task['file_name']}</h3>" in dom
    assert dom.count("<pre>") == len(expected)  # the offending SQL of every violation
    png = screenshot(page_html, tmp_path / "report.png", tmp_path / "chromium")
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000


def test_callback_is_signed_and_retried(
    system: System, fix_job: dict[str, Any], receiver: CallbackReceiver
) -> None:
    job_id = fix_job["job_id"]
    final = system.wait_job(
        job_id, lambda b: (b["callback_status"] or "").startswith("delivered"), 60, "no callback"
    )
    assert final["callback_status"] == "delivered (HTTP 204, attempt 2)"
    ours = [(h, b) for h, b in receiver.received if h.get("x-job-id") == job_id]
    assert len(ours) == 2  # the first answer was 500
    # One Standard Webhooks message, retried under the same id; the legacy header kept.
    assert {h["webhook-id"] for h, _ in ours} == {ours[0][0]["webhook-id"]}
    assert ours[0][0]["webhook-id"].startswith(f"msg_{job_id}_")
    for headers, body in ours:
        assert verify_signature(SECRET, headers, body)
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-signature-256"] == expected
        payload = json.loads(body)
        assert payload["job_id"] == job_id and payload["job_status"] == "COMPLETED"
        assert payload["violations_total"] == sum(len(v) for v in fix_job["lint"].values())


def test_retry_endpoint_relints_only_failed_files(system: System) -> None:
    # Over LINT_MAX_FILE_BYTES, and varied enough not to look like a zip bomb.
    big = "".join(f"select {i * 7919 % 100003};\n" for i in range(MAX_BYTES // 10)).encode()
    source = system.shared_root / "archives/retry.zip"
    make_zip(source, {"ok.sql": b"select a from t\n", "big.sql": big})
    job_id = system.submit({"zip_file_path": "archives/retry.zip"})
    body = system.wait_final(job_id)
    assert body["job_status"] == "PARTIALLY_COMPLETED", body
    tasks = {t["file_name"]: t for t in all_tasks(system, job_id)}
    assert "over the limit" in tasks["big.sql"]["error_message"]
    ok_result = system.shared_root / tasks["ok.sql"]["result_file_path"]
    ok_mtime = ok_result.stat().st_mtime_ns
    first_run = body["flow_run_id"]
    make_zip(source, {"ok.sql": b"select a from t\n", "big.sql": b"select 2\n"})  # the fix

    response = httpx.post(f"{system.api}/jobs/{job_id}/retry", timeout=30)
    assert response.status_code == 202, response.text
    again = system.wait_final(job_id)
    assert again["job_status"] == "COMPLETED", again
    assert again["flow_run_id"] != first_run
    after = {t["file_name"]: t for t in all_tasks(system, job_id)}
    assert {n: t["task_id"] for n, t in after.items()} == {
        n: t["task_id"] for n, t in tasks.items()
    }
    assert after["big.sql"]["status"] == "SUCCESS"
    assert ok_result.stat().st_mtime_ns == ok_mtime  # the SUCCESS file was not linted again
    run = httpx.get(f"{system.prefect_api}/flow_runs/{again['flow_run_id']}").json()
    assert run["name"] == job_id and "retry" in run["tags"]
    assert httpx.post(f"{system.api}/jobs/{job_id}/retry").status_code == 409


def run_client(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "sqlfluff-service"),
            "submit",
            *args,
            "--api",
            system.api,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line_client(system: System, tmp_path: Path) -> None:
    folder = tmp_path / "queries"
    folder.mkdir()
    for name in ("q01.sql", "q03.sql"):
        shutil.copyfile(CORPUS / "tpch" / name, folder / name)
    out = tmp_path / "out.sarif"
    strict = run_client(
        system,
        str(folder),
        "--wait",
        "--format",
        "sarif",
        "--output",
        str(out),
        "--fail-on",
        "INFO",
    )
    assert strict.returncode == 1, strict.stderr
    assert "2/2" in strict.stderr  # the progress bar, at its end
    assert "COMPLETED: " in strict.stderr
    assert json.loads(out.read_text())["version"] == "2.1.0"
    lenient = run_client(system, str(folder), "--format", "json", "--fail-on", "BLOCKER")
    assert lenient.returncode == 0, lenient.stderr
    assert len(json.loads(lenient.stdout)) == 2  # `sqlfluff lint --format json`: a record a file
    broken = tmp_path / "broken.sql"
    broken.write_text("selec 1 frm t\n")
    parse_error = run_client(
        system, str(broken), "--wait", "--format", "csv", "--fail-on", "BLOCKER"
    )
    assert parse_error.returncode == 1 and ",PRS," in parse_error.stdout
    rejected = run_client(system, str(broken), "--dialect", "nosuch")
    assert rejected.returncode == 2 and "unknown dialect" in rejected.stderr
    no_wait = run_client(system, str(broken), "--no-wait")
    assert no_wait.returncode == 0 and no_wait.stdout.strip().startswith("job-")
