"""What a submitted SQLFluff config may say (docs/security.md), judged on the nested dict
SQLFluff's own loaders build, so every spelling it accepts (dotted keys, `[DEFAULT]`, TOML
tables and escapes) is judged as SQLFluff will read it. Decisions, from SQLFluff 4.5.0's loaders
and templaters:

- `library_path` (jinja imports every module under it): refused anywhere, in any case.
- `templater`, wherever it holds a value: raw, jinja, placeholder or python only.
- Path keys, those SQLFluff's loader resolves (`loader_search_path`, `load_macros_from_path`,
  `exclude_macros_from_path`, any key ending `_path`/`_dir`, any case): refused in a request's
  own config. In an archive, the raw value, each comma item and SQLFluff's glob result must lie
  inside the job's files (symlinks resolved); a value its loader leaves relative (nothing there)
  is refused too, as the templater would open it from the lint process's working folder.
- Allowed: `templater:jinja:context` (template variables SQLFluff neither resolves nor opens),
  the `macros` section and `apply_dbt_builtins` (Jinja in SQLFluff's sandbox). No other key
  reads a file or code; `fixed_suffix` is unused (the engine writes fixes itself).
- A SQL file's inline `-- sqlfluff:` lines set the same keys, unresolved: hence
  `check_effective_config`, on each file's final config.
"""

import configparser
import copy
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from linting.errors import BadConfig

if TYPE_CHECKING:
    from sqlfluff.core import FluffConfig

TEMPLATERS = ("raw", "jinja", "placeholder", "python")
# Every name SQLFluff's `load_config_at_path` reads in a folder (pep8.ini included), lowest first.
CONFIG_FILE_NAMES = ("setup.cfg", "tox.ini", "pep8.ini", ".sqlfluff", "pyproject.toml")
# A guard on parse cost only; the API limits the `config` field itself (linting.options).
MAX_CONFIG_CHARS = 1_000_000
_OPAQUE = ("templater", "jinja", "context")  # file.py's OPAQUE_SECTION_KEY_PATH
T = TypeVar("T")


class ConfigRefused(BadConfig, ValueError):
    """A config that sets something SQLFluff would use to import code or read host files."""


class ConfigUnreadable(ConfigRefused):
    """A config SQLFluff itself cannot load; the message says why."""


def check_config_text(
    text: str,
    where: str,
    *,
    filename: str = ".sqlfluff",
    job_root: Path | None = None,
    config_dir: Path | None = None,
) -> dict[str, Any]:
    """Load a config text as SQLFluff loads a file of that name, and apply the policy.

    Args:
        text: The config file's content.
        where: How messages name it, e.g. "'config'" or "sub/.sqlfluff"; never a server path.
        filename: Its file name: `pyproject.toml` is read as TOML, any other name as INI.
        job_root: The job's extracted files, the only place path keys may point; None for a
            request's own config, which has no files beside it, so no path key is allowed.
        config_dir: The folder SQLFluff resolves relative paths against (the file's own
            folder); defaults to `job_root`.

    Returns:
        The nested dict SQLFluff would use, paths resolved and values validated as it does.

    Raises:
        ConfigUnreadable: SQLFluff cannot load it (the reason is given).
        ConfigRefused: It sets `library_path`, another templater, or a path it may not.
    """
    if len(text) > MAX_CONFIG_CHARS:
        raise ConfigRefused(f"{where} is longer than {MAX_CONFIG_CHARS} characters")
    if os.path.basename(filename) == "pyproject.toml":
        # SQLFluff reads TOML only from a file: give it one so its own reader decides.
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "pyproject.toml"
            path.write_text(text, encoding="utf-8")
            raw = _load(path, where)
    else:
        raw = _parse(where, [], lambda: _ini(text))
    return _apply(raw, where, filename, job_root, config_dir)


def check_config_file(path: Path, job_root: Path) -> None:
    """Apply the policy to a config file found among a job's extracted files.

    Args:
        path: The config file (`.sqlfluff`, `setup.cfg`, `tox.ini`, `pep8.ini`,
            `pyproject.toml`) inside `job_root`.
        job_root: The job's extracted files; relative paths resolve against the file's folder.

    Raises:
        ConfigUnreadable: SQLFluff cannot load it (the reason is given).
        ConfigRefused: It is a link out of the job's files, or breaks the policy.
    """
    root = Path(os.path.realpath(job_root))
    # Named as SQLFluff names it: its folder resolved, the file's own name (which picks TOML or
    # INI even when the file is a link to another name).
    folder = Path(os.path.realpath(path.parent))
    as_sqlfluff = folder / path.name
    shown, top = Path(os.path.abspath(path)), Path(os.path.abspath(job_root))
    where = shown.relative_to(top).as_posix() if shown.is_relative_to(top) else path.name
    if not Path(os.path.realpath(as_sqlfluff)).is_relative_to(root):
        raise ConfigRefused(f"{where} links outside the job's files; not allowed")
    if _size(as_sqlfluff, where) > MAX_CONFIG_CHARS * 4:  # UTF-8: at most 4 bytes a character
        raise ConfigRefused(f"{where} is longer than {MAX_CONFIG_CHARS} characters")
    raw = _load(as_sqlfluff, where)
    _apply(raw, where, path.name, root, folder)


def check_effective_config(
    config: "FluffConfig", job_root: Path | None, *, where: str = "the effective config"
) -> None:
    """Apply the policy to the config SQLFluff will lint one file with: every layer merged,
    the file's inline `-- sqlfluff:` lines applied. The last check before the templater runs.

    Args:
        config: SQLFluff's per-file config (e.g. the one `Linter.render_string` receives).
        job_root: The job's extracted files, or None when the job has none.
        where: How messages name the config.

    Raises:
        ConfigRefused: It sets `library_path`, another templater, or a path outside `job_root`
            (a relative path counts from this process's working folder, as the templater
            opens it there).
    """
    tree = config._configs  # SQLFluff keeps the merged layers here; `get` reads the same dict
    templater = tree.get("core", {}).get("templater_obj")
    if templater is not None and getattr(templater, "name", None) not in TEMPLATERS:
        raise ConfigRefused(f"{where} selects templater {getattr(templater, 'name', '?')!r}")
    root = None if job_root is None else Path(os.path.realpath(job_root))
    for trail, value in _settings(tree, where, effective=True):
        if root is None:
            raise ConfigRefused(_no_paths(where, trail))
        _check_path(trail, value, Path.cwd(), root, where)


def _apply(
    raw: dict[str, Any],
    where: str,
    filename: str,
    job_root: Path | None,
    config_dir: Path | None,
) -> dict[str, Any]:
    from sqlfluff.core.config.file import _resolve_paths_in_config
    from sqlfluff.core.config.validate import validate_config_dict

    root = None if job_root is None else Path(os.path.realpath(job_root))
    base = Path(os.path.realpath(config_dir or job_root or Path.cwd()))
    # Check the raw values before SQLFluff globs them: `/*/*/*` would walk the host.
    for trail, value in _settings(raw, where, effective=False):
        if root is None:
            raise ConfigRefused(_no_paths(where, trail))
        _check_path(trail, value, base, root, where)
    resolved = copy.deepcopy(raw)
    working_path = str(base / os.path.basename(filename))
    _parse(
        where,
        [working_path, str(base)],
        lambda: _resolve_paths_in_config(resolved, working_path, logging_reference=where),
    )
    _parse(where, [], lambda: validate_config_dict(resolved, where))
    if root is not None:
        for trail, value in _settings(resolved, where, effective=False):
            _check_path(trail, value, base, root, where, resolved=True)
    return resolved


def _settings(
    tree: dict[str, Any],
    where: str,
    *,
    effective: bool,
    trail: tuple[str, ...] = (),
    opaque: bool = False,
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Refuse `library_path` and other templaters; yield the path keys left to judge."""
    for key, value in tree.items():
        here = (*trail, str(key))
        name = str(key).lower()
        if name == "library_path" and (value or not effective):
            raise ConfigRefused(
                f"{where} sets {_dotted(here)}, which imports Python code; not allowed"
            )
        if name == "templater" and (not isinstance(value, dict) or here == ("core", "templater")):
            if not isinstance(value, str) or value not in TEMPLATERS:
                raise ConfigRefused(
                    f"{where} sets {_dotted(here)} to {str(value)[:40]!r}; only "
                    f"{', '.join(TEMPLATERS)} are allowed"
                )
        if isinstance(value, dict):
            # A section named like a path key is left to SQLFluff's loader, which refuses it.
            inner = opaque or tuple(k.lower() for k in here) == _OPAQUE
            yield from _settings(value, where, effective=effective, trail=here, opaque=inner)
        elif (
            not opaque and _is_path_key(name) and (value not in (None, "", False) or not effective)
        ):
            yield here, value


def _is_path_key(name: str) -> bool:
    from sqlfluff.core.config.file import COMMA_SEPARATED_PATH_KEYS, RESOLVE_PATH_SUFFIXES

    return name in COMMA_SEPARATED_PATH_KEYS or name.endswith(RESOLVE_PATH_SUFFIXES)


def _check_path(
    trail: tuple[str, ...], value: Any, base: Path, root: Path, where: str, resolved: bool = False
) -> None:
    """Refuse a path value that is not inside `root`, counting relative ones from `base`.

    With `resolved`, the value is SQLFluff's after its loader globbed it beside the config: one
    still relative named nothing there, and the templater would open it from its working folder.
    """
    if not isinstance(value, str):
        raise ConfigRefused(
            f"{where} sets {_dotted(trail)} to a {type(value).__name__}, not a path"
        )
    # The whole value (as single-path keys use it) and each comma item (as list keys do).
    items = {value, *value.split(","), *(item.strip() for item in value.split(","))}
    for item in (item for item in items if item.strip()):
        if resolved and not os.path.isabs(item.strip()):
            raise ConfigRefused(
                f"{where} sets {_dotted(trail)} to a path that is not among the job's files; "
                "SQLFluff would look for it in the server's working folder"
            )
        try:
            target = Path(os.path.realpath(os.path.join(base, item)))
        except (ValueError, OSError):  # a NUL byte, a loop: nothing the templater could use
            target = Path("/")
        if not target.is_relative_to(root):
            raise ConfigRefused(
                f"{where} sets {_dotted(trail)} to a path outside the job's files; not allowed"
            )


def _no_paths(where: str, trail: tuple[str, ...]) -> str:
    return (
        f"{where} sets {_dotted(trail)}, which names a path on the server; only configs "
        "inside an archive may name paths, and only to the archive's own files"
    )


def _dotted(trail: tuple[str, ...]) -> str:
    return ":".join(trail)


def _ini(text: str) -> dict[str, Any]:
    from sqlfluff.core.config.ini import load_ini_string

    return load_ini_string(text)


def _load(path: Path, where: str) -> dict[str, Any]:
    from sqlfluff.core.config.file import _load_raw_file_as_dict

    # The uncached reader: `load_config_file_as_dict` caches by path and could answer stale.
    return _parse(where, [str(path), str(path.parent)], lambda: _load_raw_file_as_dict(str(path)))


def _size(path: Path, where: str) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise ConfigUnreadable(f"{where} cannot be read: {exc.strerror}") from None


def _parse(where: str, server_paths: list[str], load: Callable[[], T]) -> T:
    """Run one of SQLFluff's loading steps; its failures become ConfigUnreadable."""
    from sqlfluff.core.errors import SQLFluffUserError

    try:
        return load()
    except (
        configparser.Error,
        SQLFluffUserError,
        AssertionError,  # SQLFluff asserts value types while resolving paths and nesting keys
        ValueError,
        TypeError,
        UnicodeError,
        OSError,
        RecursionError,
    ) as exc:
        reason = str(exc) or type(exc).__name__
        for server_path in sorted(server_paths, key=len, reverse=True):
            reason = reason.replace(server_path, where)
        raise ConfigUnreadable(f"SQLFluff cannot load {where}: {reason}"[:500]) from None
