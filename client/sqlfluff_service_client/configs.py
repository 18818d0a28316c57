"""What the client reads of SQLFluff's config files, without SQLFluff: which files hold a
sqlfluff section, and the two core settings that decide what is sent (`ignore_paths`,
`sql_file_exts`).

`.sqlfluff`, `setup.cfg`, `tox.ini` and `pep8.ini` are read with configparser (`[sqlfluff]`),
`pyproject.toml` with tomllib (`[tool.sqlfluff.core]`). On Python < 3.11, which has no tomllib
(and the client takes no dependency for it), that table's one-line `key = "..."` or
`key = [...]` entries are read as TOML strings; anything fancier there is not seen.
"""

import ast
import configparser
import re
from pathlib import Path
from typing import Optional, Union

# The config files SQLFluff reads in a folder, the later overriding the earlier (its loader's
# order); sent only when they hold a sqlfluff section.
CONFIG_FILES = ("setup.cfg", "tox.ini", "pep8.ini", ".sqlfluff", "pyproject.toml")
# SQLFluff 4.5's default `sql_file_exts`.
DEFAULT_SQL_FILE_EXTS = (".sql", ".sql.j2", ".dml", ".ddl", ".pkb")
Value = Union[str, list, None]


def holds_sqlfluff_config(path: Path) -> bool:
    if path.name == ".sqlfluff":
        return True
    text = path.read_text(encoding="utf-8", errors="replace")
    return re.search(r"^\s*\[(tool\.)?sqlfluff", text, re.MULTILINE) is not None


def core_value(path: Path, key: str) -> Value:
    """`key` of the core section of one config file, as written (None when not set or the file
    cannot be read)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.name == "pyproject.toml":
        return _toml_core_value(text, key)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser.get("sqlfluff", key, fallback=None)


def _toml_core_value(text: str, key: str) -> Value:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return _simple_toml_core_value(text, key)
    try:
        data = tomllib.loads(text)
    except ValueError:
        return None
    value = data.get("tool", {}).get("sqlfluff", {}).get("core", {}).get(key)
    return value if isinstance(value, (str, list)) else None


def _simple_toml_core_value(text: str, key: str) -> Value:
    table = ""
    for line in text.splitlines():
        header = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header:
            table = header.group(1).replace(" ", "")
            continue
        entry = re.match(rf"^\s*{re.escape(key)}\s*=\s*(.+?)\s*$", line)
        if table == "tool.sqlfluff.core" and entry:
            try:  # a basic TOML string or array of strings reads as a Python literal
                value = ast.literal_eval(entry.group(1))
            except (ValueError, SyntaxError):
                return None
            return value if isinstance(value, (str, list)) else None
    return None


def as_list(value: Value) -> list[str]:
    """A comma-separated setting (or a TOML array) as its items."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value or []]
    return [item.strip() for item in items if item.strip()]


def ignore_lines(path: Path) -> list[str]:
    """`ignore_paths` of a `.sqlfluff` or `pyproject.toml`, as gitignore lines."""
    return as_list(core_value(path, "ignore_paths"))


def sql_file_exts(folders: list[Path]) -> tuple[str, ...]:
    """The `sql_file_exts` in force for a walk: set by the configs of `folders` (outermost
    first, inner ones overriding, in SQLFluff's order within a folder), else SQLFluff's default.
    As in SQLFluff, the setting applies at the root of the walk only: configs below it do not
    change it."""
    exts: tuple[str, ...] = DEFAULT_SQL_FILE_EXTS
    for folder in folders:
        for name in CONFIG_FILES:
            path = folder / name
            if path.is_file() and holds_sqlfluff_config(path):
                value = as_list(core_value(path, "sql_file_exts"))
                if value:
                    exts = tuple(v.lower() for v in value)
    return exts


def config_folders(root: Path, top: Optional[Path]) -> list[Path]:
    """`top` (the git root) and each folder below it down to `root`, outermost first; just
    `root` outside a repository."""
    here = root.resolve()
    if top is None or not here.is_relative_to(top):
        return [here]
    chain = [here, *(p for p in here.parents if p.is_relative_to(top))]
    return list(reversed(chain))
