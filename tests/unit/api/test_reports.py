"""Every report format keeps the job's facts, and no submitted text escapes its cell: no
formula in CSV, no markup in HTML, no character that breaks the JUnit XML."""

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from api import reports
from api.reports.csv_report import neutralise
from api.reports.junit import xml_safe
from db.models import JobStatus, LintingJob, LintingTask, LintingViolation, Severity, TaskStatus

FORMULA_NAME = '=HYPERLINK("http://x").sql'
SCRIPT = "<script>alert(1)</script>"
IMG = "</td><img src=x onerror=alert(1)>"
CONTROLS = "bad \x00\x01\x1b bytes \ud800 here"


def _job() -> LintingJob:
    # Transient ORM rows: the renderers only read attributes, no session or database needed.
    return LintingJob(
        job_id="job-1",
        status=JobStatus.PARTIALLY_COMPLETED,
        source_path="archives/corpus.zip",
        dialect="ansi",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def _task(
    task_id: str, name: str, status: TaskStatus = TaskStatus.SUCCESS, error: str | None = None
) -> LintingTask:
    return LintingTask(
        task_id=task_id,
        file_name=name,
        status=status,
        source_file_path=f"src/{name}",
        error_message=error,
    )


def _finding(
    task: LintingTask, line: int, code: str, severity: Severity, description: str = "d"
) -> LintingViolation:
    return LintingViolation(
        task_id=task.task_id,
        file_name=task.file_name,
        rule_code=code,
        rule_name=code.lower(),
        start_line=line,
        start_pos=3,
        end_line=line,
        end_pos=9,
        description=description,
        severity=severity,
    )


def _write_source(root: Path, task: LintingTask, text: str) -> None:
    path = root / task.source_file_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def hostile(tmp_path: Path) -> reports.JobReportData:
    bad = _task("t-bad", FORMULA_NAME)
    quiet = _task("t-quiet", "@quiet.sql")
    broken = _task("t-broken", "-broken.sql", TaskStatus.FAILURE, error=f"{SCRIPT}\x07")
    _write_source(tmp_path, bad, f"select 1\nselect '{IMG}'\n")
    violations = [
        _finding(bad, 1, "LT01", Severity.MINOR, f"+{SCRIPT}"),
        _finding(bad, 2, "AM04", Severity.CRITICAL, CONTROLS),
        _finding(bad, 2, "CP01", Severity.INFO, "\t=1+1"),
    ]
    return reports.JobReportData(_job(), [bad, quiet, broken], violations, tmp_path)


@pytest.fixture
def normal(tmp_path: Path) -> reports.JobReportData:
    a, b, c = _task("t-a", "a.sql"), _task("t-b", "dir/b.sql"), _task("t-c", "c.sql")
    _write_source(tmp_path, a, "select a,b\nfrom t\n")
    _write_source(tmp_path, b, "SELECT x\n")
    violations = [
        _finding(a, 1, "LT01", Severity.MINOR),
        _finding(a, 2, "LT01", Severity.MINOR),
        _finding(a, 2, "AM04", Severity.MAJOR),
        _finding(b, 1, "CP01", Severity.BLOCKER),
    ]
    return reports.JobReportData(_job(), [a, b, c], violations, tmp_path)


class _Page(HTMLParser):
    """The tags of a page and its text, as a browser would decode them."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_csv_has_no_formula_cells(hostile: reports.JobReportData) -> None:
    rows = list(csv.reader(io.StringIO(reports.render("csv", hostile))))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert {r[0] for r in rows[1:]} == {"'" + FORMULA_NAME}
    assert {r[8] for r in rows[1:]} == {f"'+{SCRIPT}", CONTROLS, "'\t=1+1"}


@pytest.mark.parametrize("cell", ["=1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_quoted(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["a.sql", "", "x=1", " =1", 7])
def test_other_cells_are_untouched(cell: str | int) -> None:
    assert neutralise(cell) == cell


def test_junit_parses_whatever_the_text(hostile: reports.JobReportData) -> None:
    body = reports.render("junit", hostile)
    root = ET.fromstring(body.encode("utf-8"))  # encodable too: no lone surrogate is left
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {FORMULA_NAME, "@quiet.sql", "-broken.sql"}
    failure = cases[FORMULA_NAME].find("failure")
    assert failure is not None and failure.text is not None
    assert "bad  bytes  here" in failure.text and SCRIPT in failure.text
    error = cases["-broken.sql"].find("error")
    assert error is not None and error.get("message") == SCRIPT and error.text == SCRIPT


def test_xml_safe_keeps_what_xml_allows() -> None:
    allowed = "tab\t lf\n cr\r é € \U0001f600 \ue000 \ufffd"
    assert xml_safe(allowed) == allowed
    assert xml_safe("a\x00b\x08c\x1fd\ud800e\udfffg\ufffeh\uffffi") == "abcdeghi"


def test_html_escapes_submitted_text(hostile: reports.JobReportData) -> None:
    page = reports.render("html", hostile)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/td&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    parsed = _Page(page)
    assert parsed.tags <= {
        *("html", "head", "meta", "title", "style", "body", "h1", "h2", "h3"),
        *("table", "tr", "th", "td", "section", "p", "pre"),
    }
    text = "".join(parsed.text)
    # Escaped once, not twice: a browser shows the submitted text as it was.
    for shown in (FORMULA_NAME, f"+{SCRIPT}", f"    2 | select '{IMG}'", f"Not linted: {SCRIPT}"):
        assert shown in text


def test_sarif_keeps_text_as_is(hostile: reports.JobReportData) -> None:
    [run] = json.loads(reports.render("sarif", hostile))["runs"]
    assert [r["message"]["text"] for r in run["results"]] == [f"+{SCRIPT}", CONTROLS, "\t=1+1"]
    uris = {
        unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in run["results"]
    }
    assert uris == {FORMULA_NAME}
    [note] = run["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"] == f"-broken.sql: {SCRIPT}\x07"


def test_every_format_keeps_the_facts(normal: reports.JobReportData) -> None:
    [run] = json.loads(reports.render("sarif", normal))["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["AM04", "CP01", "LT01"]
    assert [r["ruleId"] for r in run["results"]] == ["LT01", "LT01", "AM04", "CP01"]
    assert run["tool"]["driver"]["rules"][1]["defaultConfiguration"]["level"] == "error"
    assert run["automationDetails"]["id"] == "sqlfluff-service/job-1"

    suites = ET.fromstring(reports.render("junit", normal))
    [suite] = suites.findall("testsuite")
    assert suite.get("name") == "job-1" and suite.get("tests") == "3"
    assert suite.get("failures") == "2" and suite.get("errors") == "0"
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {"a.sql", "dir/b.sql"}

    rows = list(csv.DictReader(io.StringIO(reports.render("csv", normal))))
    assert [(r["file_name"], r["start_line"], r["rule_code"]) for r in rows] == [
        ("a.sql", "1", "LT01"),
        ("a.sql", "2", "LT01"),
        ("a.sql", "2", "AM04"),
        ("dir/b.sql", "1", "CP01"),
    ]

    page = reports.render("html", normal)
    assert '<td id="total">4</td>' in page and "<td>job-1</td>" in page
    assert '<tr><td class="sev-BLOCKER">BLOCKER</td><td>1</td></tr>' in page
    assert '<tr><td class="sev-MINOR">MINOR</td><td>2</td></tr>' in page
    assert "<tr><td>LT01</td><td>lt01</td><td>2</td></tr>" in page
    for name in ("a.sql", "dir/b.sql", "c.sql"):
        assert f"<h3>{name}</h3>" in page
    assert page.count("<pre>") == 4 and "<pre>    2 | from t</pre>" in page
    assert "<p>No violations.</p>" in page


def test_media_types_and_extensions_cover_every_renderer() -> None:
    assert set(reports.RENDERERS) == set(reports.MEDIA_TYPES) == set(reports.EXTENSIONS)
