"""A job's SQLFluff configuration: what the client asked for, checked, and laid out on the share.

A job lints exactly as this CLI call would, run on the job's files:

    sqlfluff lint --config jobs/<id>/job.sqlfluff [--dialect D] [--templater T] \
        [--rules R] [--exclude-rules X] <files>

with the service's own limits (`linting.engine.SERVICE_OVERRIDES`) added. SQLFluff layers, lowest
first: `jobs/<id>/.sqlfluff` (holds only the default dialect, so a job that names none still has
one), every `.sqlfluff` (or setup.cfg, tox.ini, pyproject.toml) on the way down to the file —
those of a ZIP apply to the files beneath them — then the job's `config` text, then the options.
"""

import fnmatch
import tempfile
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from linting.config_policy import (
    CONFIG_FILE_NAMES,
    TEMPLATERS,
    ConfigRefused,
    check_config_file,
    check_config_text,
)
from linting.errors import BadConfig, UnknownDialect

JOB_CONFIG_NAME = "job.sqlfluff"
MAX_CONFIG_CHARS = 100_000


@dataclass(frozen=True)
class JobOptions:
    """The lint options of one job, as stored with it (JSON) and handed to its lint tasks."""

    dialect: str | None = None
    templater: str | None = None
    rules: tuple[str, ...] = field(default_factory=tuple)
    exclude_rules: tuple[str, ...] = field(default_factory=tuple)
    has_config: bool = False
    fix: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, legacy_dialect: str) -> "JobOptions":
        """Options of a stored job; jobs from before per-job options had only a dialect."""
        if data is None:
            return cls(dialect=legacy_dialect)
        return cls(
            dialect=data.get("dialect"),
            templater=data.get("templater"),
            rules=tuple(data.get("rules") or ()),
            exclude_rules=tuple(data.get("exclude_rules") or ()),
            has_config=bool(data.get("has_config")),
            fix=bool(data.get("fix")),
        )

    def overrides(self) -> dict[str, Any]:
        """The options SQLFluff takes as command-line overrides (they beat every config file)."""
        out: dict[str, Any] = {}
        if self.dialect:
            out["dialect"] = self.dialect
        if self.templater:
            out["templater"] = self.templater
        if self.rules:
            out["rules"] = ",".join(self.rules)
        if self.exclude_rules:
            out["exclude_rules"] = ",".join(self.exclude_rules)
        return out


# SQLFluff's default `sql_file_exts` (its default_config.cfg): the files it lints where no
# config says otherwise.
DEFAULT_SQL_FILE_EXTS = (".sql", ".sql.j2", ".dml", ".ddl", ".pkb")


def job_config_path(job_id: str) -> str:
    return f"jobs/{job_id}/{JOB_CONFIG_NAME}"


def default_layer_path(job_id: str) -> str:
    return f"jobs/{job_id}/.sqlfluff"


@cache
def known_dialects() -> frozenset[str]:
    from sqlfluff.core import dialect_readout

    return frozenset(d.label for d in dialect_readout())


@cache
def _rule_references() -> frozenset[str]:
    from sqlfluff.core import FluffConfig, Linter

    rulepack = Linter(config=FluffConfig(overrides={"dialect": "ansi"})).get_rulepack()
    return frozenset(rulepack.reference_map)


@cache
def known_rule_references() -> frozenset[str]:
    """Rule codes, names, groups and aliases SQLFluff accepts in `rules`/`exclude_rules`."""
    return frozenset(ref.upper() for ref in _rule_references())


def check_dialect(name: str) -> None:
    """Raises:
    UnknownDialect: SQLFluff has no dialect of that name.
    """
    if name not in known_dialects():
        raise UnknownDialect(
            f"unknown dialect {name!r}; known dialects: {', '.join(sorted(known_dialects()))}"
        )


def _check_rules(field_name: str, codes: tuple[str, ...]) -> None:
    # SQLFluff reads a reference it does not know as a glob over all of them (`LT0*`, `CP*`,
    # case as written); one that matches nothing would select nothing, silently: refused like
    # an unknown code.
    unknown = [
        c
        for c in codes
        if c.upper() not in known_rule_references() and not fnmatch.filter(_rule_references(), c)
    ]
    if unknown:
        raise BadConfig(
            f"unknown rule code(s) in '{field_name}': {', '.join(unknown)}; see "
            "`sqlfluff rules` for the codes, names and groups"
        )


def validate(options: JobOptions, config_text: str | None) -> None:
    """Check a job's options and config text as SQLFluff will read them.

    Raises:
        UnknownDialect: `dialect` (or the config's dialect) is not a SQLFluff dialect.
        BadConfig: unknown templater or rule code, or a config SQLFluff rejects.
    """
    if options.dialect is not None:
        check_dialect(options.dialect)
    if options.templater is not None and options.templater not in TEMPLATERS:
        raise BadConfig(
            f"unknown templater {options.templater!r}; use one of {', '.join(TEMPLATERS)}"
        )
    _check_rules("rules", options.rules)
    _check_rules("exclude_rules", options.exclude_rules)
    if config_text is None:
        return
    if len(config_text) > MAX_CONFIG_CHARS:
        raise BadConfig(f"'config' is longer than {MAX_CONFIG_CHARS} characters")
    # Read as SQLFluff reads it, refusing what imports code or names files (a request's config
    # has no files of its own, so no path key at all).
    core = check_config_text(config_text, "'config'").get("core", {})
    if core.get("dialect") is not None and options.dialect is None:
        check_dialect(str(core["dialect"]).strip())
    for key in ("rules", "exclude_rules"):
        value = core.get(key) or ""
        items = value if isinstance(value, list) else str(value).split(",")
        codes = tuple(c.strip() for c in map(str, items) if c.strip() and c.strip() != "all")
        _check_rules(f"config {key}", codes)
    _load_with_sqlfluff(config_text, options)


def _load_with_sqlfluff(config_text: str, options: JobOptions) -> None:
    """Let SQLFluff itself load the config once, so what it refuses is refused at submission."""
    from sqlfluff.core import FluffConfig
    from sqlfluff.core.errors import SQLFluffUserError

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / JOB_CONFIG_NAME
        path.write_text(config_text, encoding="utf-8")
        overrides = {"dialect": "ansi", **options.overrides()}
        try:
            FluffConfig(extra_config_path=str(path), overrides=overrides).get_templater()
        except (SQLFluffUserError, ValueError, KeyError) as exc:
            raise BadConfig(f"SQLFluff rejects 'config': {exc}"[:1000]) from None


def write_job_files(
    root: Path,
    job_id: str,
    default_dialect: str,
    config_text: str | None,
    base_layer: str | None = None,
) -> None:
    """Lay out the job's config layers on the share (see the module docstring); `base_layer`
    replaces the lowest one (a project's profile, `linting.profile.base_layer`)."""
    from linting.storage import write_bytes_atomic

    layer = base_layer or f"[sqlfluff]\ndialect = {default_dialect}\n"
    write_bytes_atomic(root / default_layer_path(job_id), layer.encode())
    if config_text is not None:
        write_bytes_atomic(root / job_config_path(job_id), config_text.encode("utf-8"))


def refused_configs(folder: Path, config_files: list[str]) -> dict[str, str]:
    """The config files of an expanded archive (paths relative to `folder`, the job's own
    files) that the policy refuses or SQLFluff cannot read, each with the reason: the files
    beneath each of them are not linted."""
    refused: dict[str, str] = {}
    for where in sorted(config_files):
        try:
            check_config_file(folder / where, folder)
        except ConfigRefused as exc:
            refused[where] = str(exc)
    return refused


def config_files_on_path(folder: Path) -> list[Path]:
    """The config files SQLFluff reads for files in `folder`, outermost first."""
    return FolderConfigs().files(folder)


class FolderConfigs:
    """The config files SQLFluff reads for files in a folder (outermost first) and their bytes,
    looked up once per folder. Looking them up per file stats every name in every parent: ~60
    stats a file, most of a cached re-lint's time (profiled). Valid while the files do not
    change: one per batch of a job, whose tree is fixed once extracted."""

    def __init__(self) -> None:
        self._files: dict[Path, list[Path]] = {}
        self._contents: dict[Path, list[tuple[str, bytes]]] = {}

    def files(self, folder: Path) -> list[Path]:
        if folder not in self._files:
            above = self.files(folder.parent) if folder.parent != folder else []
            here = [folder / n for n in CONFIG_FILE_NAMES if (folder / n).is_file()]
            self._files[folder] = [*above, *here]
        return self._files[folder]

    def contents(self, folder: Path) -> list[tuple[str, bytes]]:
        """(name, bytes) of each of `files(folder)`."""
        if folder not in self._contents:
            self._contents[folder] = [(p.name, p.read_bytes()) for p in self.files(folder)]
        return self._contents[folder]


def effective_summary(config: Any) -> dict[str, Any]:
    """The settings of a SQLFluff FluffConfig worth recording per task."""
    return {
        "dialect": config.get("dialect"),
        "templater": config.get("templater"),
        "rules": config.get("rules"),
        "exclude_rules": config.get("exclude_rules"),
        "max_line_length": config.get("max_line_length"),
    }
