"""SQLFluff in this process: lint one file the way `sqlfluff lint --format json` does (and fix
it as `sqlfluff fix` would), with one Linter per distinct config.

Runs inside a lint child (`linting.children`), never in a Dask worker or API process directly:
submitted SQL only meets SQLFluff in a process with limits. No Prefect, no HTTP here.
"""

import difflib
import json
import logging
import os
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from core.settings import Settings
from linting import result_cache
from linting.config_policy import ConfigRefused, check_effective_config
from linting.options import DEFAULT_SQL_FILE_EXTS, JobOptions, effective_summary
from linting.storage import write_bytes_atomic, write_json
from linting.template_policy import TemplateRefused, check_python_template

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LintRequest:
    """One file to lint: absolute paths, and the name shown as `filepath` in the result.

    `overrides` are SQLFluff's command-line overrides (the service's limits and the job's
    options); `extra_config` the job's `config` file, read like `sqlfluff --config`.
    """

    source: str
    display_name: str
    result: str
    overrides: dict[str, Any]
    max_bytes: int
    extra_config: str | None = None
    fix_dir: str | None = None  # absolute folder for `<stem>.sql` + `<stem>.diff`; None: no fix
    cache_dir: str | None = None  # absolute path of the result cache; None: no cache
    cache_key: str | None = None  # filled in by `lint_with_limit` on a cache miss
    cache_salt: str = ""  # what else the result depends on: the job's tree (result_cache)
    # The submitter's own files (absolute): the only place a config may point templates at.
    # None: a request with no files of its own (POST /lint), where no path key is allowed.
    job_root: str | None = None
    # The archive's top (absolute), where a team runs `sqlfluff lint .`: its config files are
    # the root config, as the CLI's are where it runs. None: no archive (inline SQL, POST /lint).
    top: str | None = None
    max_templated_bytes: int = 50 * 1024**2

    @classmethod
    def for_dialect(
        cls,
        source: str,
        display_name: str,
        result: str,
        dialect: str,
        max_bytes: int,
        rust_parser: bool = False,
        **more: Any,
    ) -> "LintRequest":
        """A request with no job options but a dialect (tests, benchmarks, warm-up)."""
        overrides = config_overrides(dialect, max_bytes, rust_parser)
        return cls(source, display_name, result, overrides, max_bytes, **more)

    @classmethod
    def template(
        cls, settings: Settings, options: JobOptions, *, max_bytes: int, **more: Any
    ) -> "LintRequest":
        """The one way a job's files and a `POST /lint` call get their request: the service's
        limits from `settings`, then the submitter's options on top (as CLI flags beat config
        files). `source`, `display_name` and `result` are filled in per file."""
        overrides = {
            **service_overrides(max_bytes, settings.SQLFLUFF_USE_RUST_PARSER),
            **options.overrides(),
        }
        more.setdefault("max_templated_bytes", settings.LINT_MAX_TEMPLATED_BYTES)
        return cls("", "", "", overrides, max_bytes, **more)


@dataclass(frozen=True)
class FileOutcome:
    """Either SQLFluff ran (`error` is None) and wrote the result file, or why it could not."""

    violation_count: int | None
    error: str | None
    violations: list[dict[str, Any]] | None = None
    effective_config: dict[str, Any] | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def service_overrides(max_bytes: int, rust_parser: bool = False) -> dict[str, Any]:
    """The overrides the service adds to every lint, whatever the job's config says.

    SQLFluff's own `large_file_skip_byte_limit` (20,000 bytes) skips bigger files silently; the
    service lifts it to its own limit and reports files over that as FAILURE instead.
    `use_rust_parser` is pinned: SQLFluff's default `auto` would switch parsers whenever
    `sqlfluffrs` is installed, and the two differ on a few files
    (tests/unit/linting/test_engine_rust_parser.py).
    """
    return {"large_file_skip_byte_limit": max_bytes, "use_rust_parser": rust_parser}


def config_overrides(dialect: str, max_bytes: int, rust_parser: bool = False) -> dict[str, Any]:
    """Overrides of a job that names only a dialect."""
    return {"dialect": dialect, **service_overrides(max_bytes, rust_parser)}


def effective_config_text(dialect: str, max_bytes: int, rust_parser: bool = False) -> str:
    """The same config as a `.sqlfluff` file, for running the CLI as an oracle."""
    overrides = config_overrides(dialect, max_bytes, rust_parser)
    lines = ["[sqlfluff]"] + [f"{k} = {v}" for k, v in overrides.items()]
    return "\n".join(lines) + "\n"


class TemplatedTooLarge(ValueError):
    """A template that renders to more SQL than LINT_MAX_TEMPLATED_BYTES."""


@cache
def _guarded_linter_class() -> type:
    from sqlfluff.core import Linter

    class GuardedLinter(Linter):  # type: ignore[misc]
        """SQLFluff's Linter, checking each file's final config (config files, the job's
        options and the file's own `-- sqlfluff:` lines, all merged) right before its template
        renders, and the size of what it rendered. The last line of defence of
        `linting.config_policy`: whatever reached this config, nothing outside the job's files
        is read and no code is imported."""

        job_root: Path | None = None
        max_templated_bytes: int = 0
        config_key: tuple[str, str | None] = ("{}", None)  # this Linter's `_linter` arguments

        def load_raw_file_and_config(self, fname: str, root_config: Any) -> Any:
            # SQLFluff builds each file's config from scratch (~5 ms, more than linting a short
            # file); it is the same for every file of a folder, so it is built once per folder
            # and each file gets a copy, which its own `-- sqlfluff:` lines then change.
            return super().load_raw_file_and_config(fname, _FolderConfigs(self.config_key))

        # SQLFluff's `lint_rendered` (a classmethod there), as an instance method that keeps
        # the file's parse: a fix job's second pass lints the same tree again with fixing on
        # instead of rendering and parsing the file twice. Linting without fixing leaves the
        # tree as it was; tests/unit/linting/test_engine_options.py holds it to `sqlfluff fix`.
        last_parsed: Any = None

        def lint_rendered(
            self, rendered: Any, rule_pack: Any, fix: bool = False, formatter: Any = None
        ) -> Any:
            parsed = self.parse_rendered(rendered)
            self.last_parsed = (parsed, rendered.encoding)
            encoding = rendered.encoding
            return self.lint_parsed(
                parsed, rule_pack=rule_pack, fix=fix, formatter=formatter, encoding=encoding
            )

        def render_string(self, in_str: str, fname: str, config: Any, encoding: str) -> Any:
            check_effective_config(config, self.job_root, where=Path(fname).name)
            if self.templater.name == "python":
                check_python_template(in_str, where=Path(fname).name)
            rendered = super().render_string(in_str, fname, config, encoding)
            size = sum(len(v.templated_str or "") for v in rendered.templated_variants)
            if size > self.max_templated_bytes:
                raise TemplatedTooLarge(
                    f"the template renders to {size} characters of SQL, over the limit of "
                    f"{self.max_templated_bytes} (LINT_MAX_TEMPLATED_BYTES)"
                )
            return rendered

    return GuardedLinter


@lru_cache(maxsize=32)
def _base_config(overrides_json: str, extra_config: str | None) -> Any:
    """The config each folder's is made from: SQLFluff reads a file's config files from its
    folder up, then the job's config, then the overrides."""
    from sqlfluff.core import FluffConfig

    # No dialect needed here: a job's may come from the config files on each file's path.
    return FluffConfig(
        overrides=json.loads(overrides_json), extra_config_path=extra_config, require_dialect=False
    )


@lru_cache(maxsize=32)
def _linter(overrides_json: str, extra_config: str | None, top_configs: str) -> Any:
    """One Linter per config: building the dialect and rule set costs far more than a small
    file. Its own config is the CLI's root config where `sqlfluff lint .` runs, the archive's
    top (`top_configs`, with the job's config on top, as `--config`): SQLFluff takes the
    templater from that one alone (a folder's config cannot change it), and `sqlfluff fix`
    its `fix_even_unparsable`."""
    from sqlfluff.core import FluffConfig

    config = FluffConfig(
        configs=json.loads(top_configs) or None,
        overrides=json.loads(overrides_json),
        extra_config_path=extra_config,
        require_dialect=False,
    )
    linter = _guarded_linter_class()(config=config)
    linter.config_key = (overrides_json, extra_config)
    return linter


@lru_cache(maxsize=256)
def _top_configs(top: str | None, extra_config: str | None) -> str:
    """The config files at the archive's top, then the job's config, as SQLFluff loads them
    (JSON: the key of the Linter, shared by every job whose top says the same)."""
    from sqlfluff.core.config.loader import load_config_at_path, load_config_file

    configs = load_config_at_path(top) if top and os.path.isdir(top) else {}
    if extra_config:
        folder, name = os.path.split(extra_config)
        configs = load_config_file(folder, name, configs)
    return json.dumps(configs, sort_keys=True, default=str)


@lru_cache(maxsize=256)
def _folder_config(overrides_json: str, extra_config: str | None, folder: str) -> Any:
    # SQLFluff reads the config files from the file's folder up (the same for every file there).
    base = _base_config(overrides_json, extra_config)
    return base.make_child_from_path(folder, require_dialect=False)


class _FolderConfigs:
    """The root config as SQLFluff's `load_raw_file_and_config` uses it, per folder cached."""

    def __init__(self, config_key: tuple[str, str | None]) -> None:
        self.config_key = config_key

    def make_child_from_path(self, path: str, require_dialect: bool = True) -> Any:
        config = _folder_config(*self.config_key, os.path.dirname(os.path.abspath(path))).copy()
        if require_dialect:
            config.verify_dialect_specified()
        return config


def _lintable(overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """The overrides, letting SQLFluff lint `source` whatever its extension.

    The job's files were chosen by SQLFluff's discovery with the archive's top config
    (linting/sources.py), which may name more extensions (`sql_file_exts = .sql,.bteq`); here
    that config is only a folder layer, and `lint_paths` would skip such a file. Files with a
    default extension keep the overrides as they are (and their Linter and cache keys).
    """
    name = os.path.basename(source).lower()
    if name.endswith(DEFAULT_SQL_FILE_EXTS) or "," in name:
        return overrides
    return {**overrides, "sql_file_exts": "." + name.rsplit(".", 1)[-1] if "." in name else name}


def lint_file(request: LintRequest) -> FileOutcome:
    """Lint one file in this process and write its result JSON (docs/api.md, Results), and with
    `fix_dir` its fixed text and diff (as `sqlfluff fix` would write it).

    Returns:
        The violations, or the reason the file could not be linted. A parse error is a
        violation, not a failure.
    """
    try:
        size = os.path.getsize(request.source)
        if size > request.max_bytes:
            return FileOutcome(
                None,
                f"file is {size} bytes, over the limit of {request.max_bytes} bytes "
                "(LINT_MAX_FILE_BYTES)",
            )
        overrides_json = json.dumps(_lintable(request.overrides, request.source), sort_keys=True)
        top = _top_configs(request.top, request.extra_config)
        linter = _linter(overrides_json, request.extra_config, top)
        # One file at a time in this process: the request's bounds hold for this lint.
        linter.job_root = Path(request.job_root) if request.job_root else None
        linter.max_templated_bytes = request.max_templated_bytes
        linter.last_parsed = None
        result = linter.lint_paths(
            (request.source,), ignore_non_existent_files=False, retain_files=False
        )
        records = result.as_records()
        file_config = _folder_config(
            overrides_json, request.extra_config, os.path.dirname(request.source)
        )
        effective = effective_summary(file_config)
        if len(records) == 1 and request.fix_dir:
            even_unparsable = bool(linter.config.get("fix_even_unparsable"))  # the root's only
            fix_error = _write_fix(linter, request, even_unparsable)
            if fix_error:
                return FileOutcome(None, fix_error)
        linter.last_parsed = None  # a parse tree is many times its file's size
    except (ConfigRefused, TemplateRefused, TemplatedTooLarge) as exc:
        return FileOutcome(None, str(exc))

    except MemoryError:
        return FileOutcome(None, "SQLFluff ran out of memory on this file (LINT_MAX_MEMORY_MB)")
    except Exception as exc:  # noqa: BLE001 - a file boundary: any crash is this file's FAILURE
        logger.warning("SQLFluff crashed on %s", request.display_name, exc_info=True)
        return FileOutcome(None, f"SQLFluff crashed: {type(exc).__name__}: {exc}"[:2000])
    if len(records) != 1:
        return FileOutcome(None, "SQLFluff skipped the file (ignored by its configuration)")
    record = dict(records[0])
    record["filepath"] = request.display_name
    record.pop("timings", None)  # run-dependent; docs/api.md, Results lets it go
    if request.cache_dir and request.cache_key:
        result_cache.store(Path(request.cache_dir), request.cache_key, record, effective)
    return write_result(request, record, effective)


def _write_fix(linter: Any, request: LintRequest, even_unparsable: bool) -> str | None:
    """Run SQLFluff's fixer (a second pass: `lint` and `fix` report differently) and store the
    fixed text in the file's own encoding, as `sqlfluff fix` writes it, and a unified diff.

    Like `sqlfluff fix`, a file with templating or parse errors is left as it is unless the
    root config (the archive's top, the job's config) sets `fix_even_unparsable`.
    """
    from sqlfluff.core.linter.linted_file import TMP_PRS_ERROR_TYPES

    assert request.fix_dir is not None
    if linter.last_parsed is not None:
        parsed, encoding = linter.last_parsed
        rule_pack = linter.get_rulepack(config=parsed.config)  # fresh, as SQLFluff's per file
        linted = linter.lint_parsed(parsed, rule_pack=rule_pack, fix=True, encoding=encoding)
    else:
        result = linter.lint_paths(
            (request.source,), fix=True, apply_fixes=False, ignore_non_existent_files=False
        )
        linted = result.paths[0].files[0]
    original = linted.templated_file.source_str if linted.templated_file else ""
    if not linted.templated_file:  # templating failed: nothing SQLFluff would touch
        original = Path(request.source).read_bytes().decode(linted.encoding, errors="replace")
    fixed = original
    unparsable = linted.num_violations(
        types=TMP_PRS_ERROR_TYPES, filter_ignore=False, filter_warning=False
    )
    fixable = linted.num_violations(fixable=True, filter_warning=False)
    if fixable > 0 and (even_unparsable or unparsable == 0):
        candidate, success = linted.fix_string()
        if success:
            fixed = candidate
    name = request.display_name
    diff = "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            fixed.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )
    stem = Path(request.fix_dir) / Path(request.result).stem
    try:
        write_bytes_atomic(stem.with_suffix(".sql"), fixed.encode(linted.encoding))
        write_bytes_atomic(stem.with_suffix(".diff"), diff.encode("utf-8"))
    except OSError as exc:
        return f"cannot write the fixed file: {type(exc).__name__}: {exc}"
    return None


def write_result(
    request: LintRequest, record: dict[str, Any], effective: dict[str, Any] | None
) -> FileOutcome:
    try:
        write_json(Path(request.result), [record])
    except OSError as exc:
        return FileOutcome(None, f"cannot write the result file: {type(exc).__name__}: {exc}")
    violations = [{k: v for k, v in vi.items() if k != "fixes"} for vi in record["violations"]]
    return FileOutcome(len(violations), None, violations, effective)
