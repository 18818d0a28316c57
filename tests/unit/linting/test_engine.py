"""`lint_file` equals the SQLFluff CLI on real corpus files; limits turn into FAILURE reasons."""

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from linting.children import LintChild
from linting.engine import LintRequest, lint_file
from linting.errors import UnknownDialect
from linting.options import check_dialect
from tests.support.corpus import CORPUS
from tests.support.oracle import cli_violations

MAX_BYTES = 1_048_576

CASES = [
    ("tpch", sorted((CORPUS / "tpch").glob("*.sql")), "ansi"),
    ("sqlite", sorted((CORPUS / "mixed/sqlite").rglob("*.sql"))[:25], "sqlite"),
    ("tsql-bom-crlf", sorted((CORPUS / "mixed/tsql").rglob("*.sql"))[:10], "tsql"),
    (
        "nasty-tsql",
        [
            CORPUS / "nasty" / n
            for n in (
                "04-tsql-CustomerOrders.utf16le.sql",
                "09-tsql-create-external-tables.crlf.sql",
                "10-empty.sql",
            )
        ],
        "tsql",
    ),
    (
        "nasty-jinja",
        [CORPUS / "nasty/08-bigquery-baseline_clients_yearly_v1.jinja.sql"],
        "bigquery",
    ),
]


@pytest.mark.parametrize(("files", "dialect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_results_equal_cli(files: list[Path], dialect: str, tmp_path: Path) -> None:
    assert files, "corpus folder is empty"
    expected = cli_violations(files, dialect, MAX_BYTES, tmp_path / "cli")
    for i, source in enumerate(files):
        result = tmp_path / f"r{i}.json"
        outcome = lint_file(
            LintRequest.for_dialect(str(source), source.name, str(result), dialect, MAX_BYTES)
        )
        assert outcome.ok, f"{source.name}: {outcome.error}"
        [record] = json.loads(result.read_text())
        assert record["filepath"] == source.name
        assert "timings" not in record and "statistics" in record
        assert record["violations"] == expected[str(source.resolve())], source.name
        assert outcome.violation_count == len(record["violations"])


def test_file_over_size_limit_is_a_failure_naming_the_limit(tmp_path: Path) -> None:
    source = tmp_path / "big.sql"
    source.write_text("select 1;\n" * 3000)
    outcome = lint_file(
        LintRequest.for_dialect(str(source), "big.sql", str(tmp_path / "r.json"), "ansi", 20_000)
    )
    assert (
        outcome.error == "file is 30000 bytes, over the limit of 20000 bytes (LINT_MAX_FILE_BYTES)"
    )
    assert not (tmp_path / "r.json").exists()


def test_crash_inside_sqlfluff_is_a_failure(tmp_path: Path) -> None:
    # A directory where a file is expected: SQLFluff raises, the file becomes a FAILURE value.
    (tmp_path / "dir.sql").mkdir()
    outcome = lint_file(
        LintRequest.for_dialect(
            str(tmp_path / "dir.sql"), "d", str(tmp_path / "r"), "ansi", MAX_BYTES
        )
    )
    assert outcome.error is not None and outcome.error.startswith("SQLFluff")


QUICK = CORPUS / "tpch/q01.sql"
SLOW = CORPUS / "nasty/06-mysql-mall.gbk.sql"  # ~16 s of SQLFluff work


@pytest.fixture
def child() -> Iterator[LintChild]:
    lint_child = LintChild()
    yield lint_child
    lint_child.close()


def _request(source: Path, result: Path, dialect: str = "ansi") -> LintRequest:
    return LintRequest.for_dialect(str(source), source.name, str(result), dialect, MAX_BYTES)


def test_time_limit_frees_the_child_and_the_next_file_lints(
    child: LintChild, tmp_path: Path
) -> None:
    outcome = child.lint(_request(SLOW, tmp_path / "a.json", "mysql"), 1.5)
    assert outcome.error == "time limit of 1.5 s exceeded (LINT_TIMEOUT_SECONDS)"
    outcome = child.lint(_request(QUICK, tmp_path / "b.json"), 60)
    assert outcome.ok and (tmp_path / "b.json").exists()


def test_child_killed_mid_file_is_a_failure_and_replaced(child: LintChild, tmp_path: Path) -> None:
    assert child.lint(_request(QUICK, tmp_path / "a.json"), 60).ok
    proc = child._proc
    assert proc is not None
    killer = threading.Timer(1.0, proc.kill)
    killer.start()
    outcome = child.lint(_request(SLOW, tmp_path / "b.json", "mysql"), 60)
    killer.join()
    assert outcome.error == "SQLFluff process crashed (exit code -9)"
    assert child.lint(_request(QUICK, tmp_path / "c.json"), 60).ok


def test_child_that_died_while_idle_is_replaced_without_failing_a_file(
    child: LintChild, tmp_path: Path
) -> None:
    assert child.lint(_request(QUICK, tmp_path / "a.json"), 60).ok
    assert child._proc is not None
    child._proc.kill()
    child._proc.wait()
    assert child.lint(_request(QUICK, tmp_path / "b.json"), 60).ok


def test_unknown_dialect() -> None:
    check_dialect("postgres")
    with pytest.raises(UnknownDialect, match="'nosuch'"):
        check_dialect("nosuch")
