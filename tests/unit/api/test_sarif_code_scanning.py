"""SARIF for GitHub code scanning: paths from the repository root, fingerprints that survive lines
moving, a cap on results with a notification, valid against the SARIF schema."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from api.reports import JobReportData
from api.reports.sarif import FINGERPRINT, sarif
from db.models import JobStatus, LintingJob, LintingTask, LintingViolation, Severity, TaskStatus
from tests.support.ci_formats import check_github_sarif_limits
from tests.support.sarif import sarif_schema


def _data(root: Path, sql: str, lines: list[tuple[int, Severity]]) -> JobReportData:
    (root / "src").mkdir(exist_ok=True)
    (root / "src/a.sql").write_text(sql)
    job = LintingJob(job_id="job-1", status=JobStatus.COMPLETED, source_path="x.zip",
                     dialect="ansi", created_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    task = LintingTask(task_id="t1", file_name="models/a.sql", status=TaskStatus.SUCCESS,
                       source_file_path="src/a.sql")  # fmt: skip
    violations = [
        LintingViolation(task_id="t1", file_name="models/a.sql", rule_code="LT01",
                         rule_name="layout.spacing", start_line=n, start_pos=1, end_line=n,
                         end_pos=4, description="Spacing.", severity=s, warning=False)
        for n, s in lines
    ]  # fmt: skip
    return JobReportData(job, [task], violations, root)


def _fingerprints(log: dict) -> list[str]:
    return [r["partialFingerprints"][FINGERPRINT] for r in log["runs"][0]["results"]]


def test_paths_start_at_the_repository_root(tmp_path: Path) -> None:
    log = json.loads(sarif(_data(tmp_path, "select  1\n", [(1, Severity.MINOR)]), "warehouse/"))
    jsonschema.validate(log, sarif_schema())
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "warehouse/models/a.sql"


def test_fingerprints_survive_lines_added_above(tmp_path: Path) -> None:
    before = json.loads(sarif(_data(tmp_path, "select  1\nselect  2\n",
                                    [(1, Severity.MINOR), (2, Severity.MINOR)])))  # fmt: skip
    after = json.loads(sarif(_data(tmp_path, "-- new\n\nselect  1\nselect  2\n",
                                   [(3, Severity.MINOR), (4, Severity.MINOR)])))  # fmt: skip
    assert _fingerprints(before) == _fingerprints(after)
    assert len(set(_fingerprints(before))) == 2


def test_over_the_cap_the_most_severe_are_kept_and_a_notification_says_so(
    tmp_path: Path,
) -> None:
    lines = [(n, Severity.INFO) for n in range(1, 30)] + [(30, Severity.BLOCKER)]
    log = json.loads(sarif(_data(tmp_path, "select 1\n" * 30, lines), max_results=10))
    jsonschema.validate(log, sarif_schema())
    check_github_sarif_limits(log)
    run = log["runs"][0]
    assert len(run["results"]) == 10
    assert run["results"][0]["properties"]["severity"] == "BLOCKER"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("30 violations, only the 10 most severe" in n["message"]["text"] for n in notes)
