"""A project's lint profile as the lowest config layer of its jobs, and where each effective
value of a job's config came from.

SQLFluff layers a job's config, lowest first (linting.options): `jobs/<id>/.sqlfluff`, the
config files of the submitted tree on the way down to each file, the job's `config` text, the
job's options. A project's profile goes into the first layer: its `.sqlfluff` text, with its
own options (dialect, templater, rules, exclude_rules) on top of that text as flags beat config
files, and the service's default dialect below both. So whatever the job or its tree says wins,
exactly as a `.sqlfluff` in a parent folder is beaten by one nearer the file.
"""

import configparser
import io
from dataclasses import dataclass
from typing import Any

from linting.options import JobOptions

CORE = "sqlfluff"


@dataclass(frozen=True)
class Profile:
    """A project's stored lint profile (checked with `linting.options.validate`)."""

    project_id: str
    options: JobOptions
    config_text: str | None = None


def _parser() -> configparser.ConfigParser:
    # Read as SQLFluff reads an INI config (sqlfluff/core/config/ini.py): keys keep their case.
    parser = configparser.ConfigParser(delimiters="=", interpolation=None)
    parser.optionxform = lambda option: option  # type: ignore[assignment,method-assign]
    return parser


def base_layer(default_dialect: str, profile: Profile | None) -> str:
    """The text of `jobs/<id>/.sqlfluff`: the default dialect, then the project's profile."""
    if profile is None:
        return f"[{CORE}]\ndialect = {default_dialect}\n"
    parser = _parser()
    if profile.config_text:
        parser.read_string(profile.config_text)
    if not parser.has_section(CORE):
        parser.add_section(CORE)
    parser[CORE].setdefault("dialect", default_dialect)
    for key, value in profile.options.overrides().items():
        parser[CORE][key] = str(value)
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def _flat(config_text: str | None) -> dict[str, str]:
    """A config text's values, keyed `name` in [sqlfluff] and `section.name` elsewhere."""
    if not config_text:
        return {}
    parser = _parser()
    parser.read_string(config_text)
    return {
        (key if section == CORE else f"{section}.{key}"): value
        for section in parser.sections()
        for key, value in parser.items(section, raw=True)
    }


def _stringified(overrides: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in overrides.items()}


def config_sources(
    default_dialect: str,
    profile: Profile | None,
    options: JobOptions,
    config_text: str | None,
) -> dict[str, dict[str, str]]:
    """Each value the job's layers set, with the layer it comes from (the highest one that sets
    it). Config files inside a submitted tree sit between the project's layers and the job's:
    each file task's `effective_config` names the ones it read."""
    layers: list[tuple[str, dict[str, str]]] = [("service default", {"dialect": default_dialect})]
    if profile is not None:
        layers += [
            (f"project {profile.project_id} config", _flat(profile.config_text)),
            (f"project {profile.project_id} options", _stringified(profile.options.overrides())),
        ]
    layers += [
        ("job config", _flat(config_text)),
        ("job options", _stringified(options.overrides())),
    ]
    out: dict[str, dict[str, str]] = {}
    for source, values in layers:
        for key, value in values.items():
            out[key] = {"value": value, "source": source}
    return out
