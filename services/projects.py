"""Projects (issue 15): storing a project's checked profile, and what a job of a project is
created with (`ProjectLink`: its lowest config layer, where each value comes from, its
baseline). No HTTP here: callers check who may use the project."""

from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from db import queries
from db.models import Project
from flows.start import ProjectLink
from linting import options as lint_options
from linting.errors import BadConfig, BadInput
from linting.profile import Profile, base_layer, config_sources

PROFILE_KEYS = ("dialect", "templater", "rules", "exclude_rules")


def checked_profile(values: dict[str, Any]) -> dict[str, Any]:
    """A profile (dialect, templater, rules, exclude_rules, config) checked exactly like a
    job's options and config; returns the JSON stored as `projects.profile`.

    Raises:
        BadInput: an unknown dialect, templater or rule, or a config SQLFluff rejects.
    """
    options = _options(values)
    lint_options.validate(options, values.get("config"))
    return {k: getattr(options, k) for k in PROFILE_KEYS} | {
        "rules": list(options.rules),
        "exclude_rules": list(options.exclude_rules),
    }


def check_severity_keys(overrides: dict[str, Any]) -> None:
    """A key with a number must be a rule code SQLFluff knows; a bare group passes.

    Raises:
        BadConfig: an unknown rule code.
    """
    unknown = [
        k
        for k in overrides
        if any(c.isdigit() for c in k) and k.upper() not in lint_options.known_rule_references()
    ]
    if unknown:
        raise BadConfig(f"unknown rule code(s) in 'severity_overrides': {', '.join(unknown)}")


def _options(values: dict[str, Any]) -> lint_options.JobOptions:
    return lint_options.JobOptions(
        dialect=values.get("dialect"),
        templater=values.get("templater"),
        rules=tuple(values.get("rules") or ()),
        exclude_rules=tuple(values.get("exclude_rules") or ()),
    )


def profile_of(project: Project) -> Profile:
    return Profile(project.project_id, _options(project.profile or {}), project.config_text)


def job_link(
    session: Session,
    settings: Settings,
    project: Project | None,
    options: lint_options.JobOptions,
    config_text: str | None,
    baseline_job_id: str | None,
    baseline: str | None,
    ref: str | None,
) -> ProjectLink | None:
    """What a new job of `project` (or with only a baseline) is created with; None when it
    names neither.

    Raises:
        BadInput: `baseline: latest` without a project, or both kinds of baseline.
    """
    if baseline is not None and baseline_job_id is not None:
        raise BadInput("name either 'baseline_job_id' or 'baseline', not both")
    if baseline is not None and project is None:
        raise BadInput("'baseline': 'latest' needs a 'project_id'")
    if project is None and baseline_job_id is None and ref is None:
        return None
    if baseline == "latest" and project is not None:
        baseline_job_id = queries.projects.latest_completed_job(session, project.project_id, ref)
    profile = profile_of(project) if project is not None else None
    default = settings.SQLFLUFF_DIALECT
    return ProjectLink(
        project_id=project.project_id if project else None,
        base_layer=base_layer(default, profile) if profile else None,
        config_sources=config_sources(default, profile, options, config_text),
        baseline_job_id=baseline_job_id,
        ref=ref,
        dialect=profile.options.dialect if profile else None,
    )
