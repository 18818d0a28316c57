"""Checking a job's options and config text before anything runs; severities of violations."""

from pathlib import Path

import pytest

from db.models import Severity
from linting.errors import BadConfig, BadInput, UnknownDialect
from linting.options import JobOptions, refused_configs, validate
from linting.severity import severity_of


@pytest.mark.parametrize(
    ("options", "config", "error", "fragment"),
    [
        (JobOptions(dialect="nosuch"), None, UnknownDialect, "unknown dialect 'nosuch'"),
        (JobOptions(templater="dbt"), None, BadConfig, "unknown templater 'dbt'"),
        (JobOptions(rules=("LT01", "XX99")), None, BadConfig, "'rules': XX99"),
        (JobOptions(exclude_rules=("nope",)), None, BadConfig, "'exclude_rules': nope"),
        (JobOptions(), "[sqlfluff\ndialect = ansi\n", BadConfig, "SQLFluff cannot load 'config'"),
        (JobOptions(), "dialect = ansi\n", BadConfig, "no section headers"),
        (JobOptions(), "[sqlfluff]\ndialect = nosuch\n", UnknownDialect, "'nosuch'"),
        (JobOptions(), "[sqlfluff]\ntemplater = dbt\n", BadConfig, "templater to 'dbt'"),
        (JobOptions(), "[sqlfluff]\nrules = LT01,ZZ01\n", BadConfig, "config rules"),
        # A glob is SQLFluff's too, case as written: one that matches no rule selects nothing.
        (JobOptions(rules=("ZZ*",)), None, BadConfig, "'rules': ZZ*"),
        (JobOptions(exclude_rules=("lt0*",)), None, BadConfig, "'exclude_rules': lt0*"),
        (
            JobOptions(),
            "[sqlfluff:templater:jinja]\nlibrary_path = /tmp\n",
            BadConfig,
            "imports Python code",
        ),
        (JobOptions(), "[sqlfluff]\n" + "x" * 100_001, BadConfig, "longer than"),
    ],
)
def test_bad_options_are_refused_with_the_reason(
    options: JobOptions, config: str | None, error: type[BadInput], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        validate(options, config)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, BadInput)  # the API answers 400 with this message


def test_rule_globs_sqlfluff_expands_are_accepted() -> None:
    validate(JobOptions(rules=("LT0*", "capitalisation.*"), exclude_rules=("CP0?",)), None)
    validate(JobOptions(), "[sqlfluff]\nrules = CP*\nexclude_rules = CP0[12]\n")


def test_good_options_pass_and_map_to_cli_overrides() -> None:
    options = JobOptions(
        dialect="postgres",
        templater="placeholder",
        rules=("LT01", "capitalisation", "aliasing.table"),
        exclude_rules=("LT05",),
    )
    validate(
        options,
        "[sqlfluff]\nmax_line_length = 120\n[sqlfluff:rules:LT05]\nignore_comment_lines = True\n",
    )
    assert options.overrides() == {
        "dialect": "postgres",
        "templater": "placeholder",
        "rules": "LT01,capitalisation,aliasing.table",
        "exclude_rules": "LT05",
    }
    assert JobOptions.from_json(options.to_json(), legacy_dialect="ansi") == options
    # Jobs stored before per-job options named only their dialect.
    assert JobOptions.from_json(None, legacy_dialect="tsql").overrides() == {"dialect": "tsql"}


def test_archive_configs_that_load_code_or_read_outside_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/macros").mkdir()
    (tmp_path / "a/.sqlfluff").write_text(
        "[sqlfluff]\nexclude_rules = LT01\n"
        "[sqlfluff:templater:jinja]\nload_macros_from_path = macros\n"
    )
    assert refused_configs(tmp_path, ["a/.sqlfluff"]) == {}
    (tmp_path / "a/b/tox.ini").write_text("[sqlfluff:templater:jinja]\nlibrary_path = lib\n")
    (tmp_path / "c.cfg").mkdir()
    (tmp_path / "c.cfg/.sqlfluff").write_text(
        "[sqlfluff:templater:jinja]\nloader_search_path = /\n"
    )
    refused = refused_configs(tmp_path, ["a/.sqlfluff", "a/b/tox.ini", "c.cfg/.sqlfluff"])
    assert set(refused) == {"a/b/tox.ini", "c.cfg/.sqlfluff"}
    assert "library_path" in refused["a/b/tox.ini"]
    assert "loader_search_path" in refused["c.cfg/.sqlfluff"]
    assert all(str(tmp_path) not in reason for reason in refused.values())


@pytest.mark.parametrize(
    ("code", "overrides", "expected"),
    [
        ("PRS", {}, Severity.BLOCKER),
        ("TMP", {}, Severity.BLOCKER),
        ("LT01", {}, Severity.INFO),
        ("RF02", {}, Severity.MAJOR),
        ("AM04", {}, Severity.MAJOR),
        ("ST06", {}, Severity.MINOR),
        ("ZZ99", {}, Severity.MINOR),
        ("LT05", {"LT": "MAJOR"}, Severity.MAJOR),
        ("LT05", {"LT": "MAJOR", "LT05": "CRITICAL"}, Severity.CRITICAL),
        ("lt05", {"LT05": "CRITICAL"}, Severity.CRITICAL),
    ],
)
def test_severity_by_code_then_group_then_default(
    code: str, overrides: dict[str, str], expected: Severity
) -> None:
    assert severity_of(code, overrides) == expected
