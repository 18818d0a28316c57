"""Gate verdicts (linting/gate.py:evaluate) and a project's profile as a config layer
(linting/profile.py)."""

import configparser

from db.models import JobStatus
from linting.gate import evaluate
from linting.options import JobOptions
from linting.profile import Profile, base_layer, config_sources

GATE = {"on": "new", "max": {"BLOCKER": 0, "MAJOR": 1}}


def test_gate_passes_within_limits_and_names_every_reason_it_fails() -> None:
    ok = evaluate(GATE, JobStatus.COMPLETED, 0, {"MAJOR": 1, "INFO": 40})
    assert ok["status"] == "passed" and ok["reasons"] == []
    bad = evaluate(GATE, JobStatus.PARTIALLY_COMPLETED, 2, {"BLOCKER": 1, "MAJOR": 3})
    assert bad["status"] == "failed"
    assert bad["reasons"] == [
        "2 file(s) could not be linted",
        "1 new BLOCKER finding(s), at most 0 allowed",
        "3 new MAJOR finding(s), at most 1 allowed",
    ]
    allowed = evaluate({**GATE, "allow_failed_files": True}, JobStatus.PARTIALLY_COMPLETED, 2, {})
    assert allowed["status"] == "passed"
    assert evaluate(GATE, JobStatus.FAILED, 0, {})["reasons"] == ["the job FAILED"]


def test_profile_layer_puts_options_over_config_over_the_default_dialect() -> None:
    profile = Profile(
        "proj-1",
        JobOptions(dialect="postgres", exclude_rules=("LT05",)),
        "[sqlfluff]\ndialect = mysql\nmax_line_length = 120\n"
        "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = lower\n",
    )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(base_layer("ansi", profile))
    assert dict(parser["sqlfluff"]) == {
        "dialect": "postgres",
        "max_line_length": "120",
        "exclude_rules": "LT05",
    }
    assert parser["sqlfluff:rules:capitalisation.keywords"]["capitalisation_policy"] == "lower"
    assert base_layer("ansi", None) == "[sqlfluff]\ndialect = ansi\n"

    sources = config_sources(
        "ansi", profile, JobOptions(rules=("LT01",)), "[sqlfluff]\nmax_line_length = 80\n"
    )
    assert sources["dialect"] == {"value": "postgres", "source": "project proj-1 options"}
    assert sources["max_line_length"] == {"value": "80", "source": "job config"}
    assert sources["rules"] == {"value": "LT01", "source": "job options"}
    assert sources["sqlfluff:rules:capitalisation.keywords.capitalisation_policy"]["source"] == (
        "project proj-1 config"
    )
    assert config_sources("ansi", None, JobOptions(), None) == {
        "dialect": {"value": "ansi", "source": "service default"}
    }
