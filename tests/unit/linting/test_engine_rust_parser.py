"""SQLFluff's optional Rust parser (SQLFLUFF_USE_RUST_PARSER) against the Python one.

The service defaults to the Python parser so results match a plain SQLFluff install. This test
states where the two differ: on these files, only on the one listed. (Measured on whole
folders with `bench/parsers.py`: tpcds 0 of 99, mixed/mysql 0 of 111, mixed/postgres 1 of 178
files under 100 KB; the Rust parser took 40-70% of the Python time.)
"""

import json
from pathlib import Path

from linting.engine import LintRequest, lint_file
from tests.support.corpus import CORPUS

DOLPHIN = CORPUS / "mixed/postgres/apache-dolphinscheduler/upgrade/3.2.0_schema/postgresql"
KNOWN_DIFFERENCES = {DOLPHIN / "dolphinscheduler_ddl.sql"}


def _violations(path: Path, dialect: str, rust: bool, out: Path) -> list[object]:
    outcome = lint_file(
        LintRequest.for_dialect(str(path), path.name, str(out), dialect, 1_048_576, rust)
    )
    assert outcome.ok, outcome.error
    return list(json.loads(out.read_text())[0]["violations"])


def test_parsers_differ_only_where_stated(tmp_path: Path) -> None:
    cases = [(p, "ansi") for p in sorted((CORPUS / "tpch").glob("*.sql"))]
    cases += [(p, "postgres") for p in sorted(DOLPHIN.glob("*.sql"))]
    differing = {
        path
        for path, dialect in cases
        if _violations(path, dialect, False, tmp_path / "py.json")
        != _violations(path, dialect, True, tmp_path / "rs.json")
    }
    assert differing == KNOWN_DIFFERENCES


def test_python_parser_is_the_default() -> None:
    from core.settings import Settings

    assert Settings().SQLFLUFF_USE_RUST_PARSER is False
