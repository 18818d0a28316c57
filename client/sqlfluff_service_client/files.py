"""What is sent: the files SQLFluff would lint in a folder, its config files and ignore files,
zipped; never VCS or build folders, never anything else (`.env`, keys, binaries).

SQLFluff's own rules, reimplemented without SQLFluff (the client depends on httpx and rich only):
each `.sqlfluffignore`, and `ignore_paths` of a `.sqlfluff` or `pyproject.toml`, applies to the
folder it is in and below, with gitignore patterns; an ignored folder is not walked.
"""

import configparser
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from re import Pattern
from typing import Optional

IGNORE_FILE = ".sqlfluffignore"
# The config files SQLFluff reads in a folder; sent only when they hold a sqlfluff section.
CONFIG_FILES = (".sqlfluff", "setup.cfg", "tox.ini", "pyproject.toml")
# Never walked: version control, dependencies, build output, caches.
SKIPPED_FOLDERS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", ".jj", "_darcs",
        "node_modules", "dbt_packages", "dbt_modules", "target", "logs",
        ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", "build", "dist", ".idea", ".vscode",
    }
)  # fmt: skip
SQL_SUFFIX = ".sql"


@dataclass
class Spec:
    """The patterns of one ignore source, matched against paths relative to its folder."""

    folder: str  # posix, relative to the walked root ("" for the root)
    rules: list[tuple[Pattern[str], bool]]  # (regex, negated); the last match wins

    def ignores(self, path: str) -> bool:
        rel = path[len(self.folder) + 1 :] if self.folder else path
        ignored = False
        for regex, negated in self.rules:
            if regex.match(rel):
                ignored = not negated
        return ignored


def _translate(pattern: str) -> Optional[tuple[Pattern[str], bool]]:
    """One gitignore ("gitwildmatch") pattern as a regex over posix paths, as pathspec does."""
    pattern = pattern.rstrip("\n\r")
    if pattern.endswith("\\ "):
        pattern = pattern[:-2].rstrip() + " "
    else:
        pattern = pattern.rstrip()
    if not pattern or pattern.startswith("#"):
        return None
    negated = pattern.startswith("!")
    if negated:
        pattern = pattern[1:]
    if pattern.startswith("\\"):
        pattern = pattern[1:]
    directory_only = pattern.endswith("/")
    pattern = pattern.strip("/") if directory_only else pattern
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    if not pattern:
        return None
    parts = pattern.split("/")
    out = "" if anchored else "(?:.*/)?"
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:.*/)?"
            continue
        out += _segment(part) + ("" if last else "/")
    # A pattern naming a folder also covers everything beneath it.
    out += "/.+" if directory_only else "(?:/.*)?"
    return re.compile(f"^{out}$", re.DOTALL), negated


def _segment(part: str) -> str:
    out, i = "", 0
    while i < len(part):
        c = part[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "\\" and i + 1 < len(part):
            i += 1
            out += re.escape(part[i])
        elif c == "[":
            end = part.find("]", i + 2)
            if end == -1:
                out += re.escape(c)
            else:
                body = part[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out += f"[{body.replace(chr(92), chr(92) * 2)}]"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return out


def spec_from_lines(folder: str, lines: list[str]) -> Spec:
    rules = [r for r in (_translate(line) for line in lines) if r is not None]
    return Spec(folder, rules)


def _config_ignore_lines(path: Path) -> list[str]:
    """`ignore_paths` of `[sqlfluff]` (.sqlfluff) or `[tool.sqlfluff.core]` (pyproject.toml)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    value: object = None
    if path.name == "pyproject.toml":
        try:
            import tomllib  # type: ignore[import-not-found]
        except ImportError:  # Python < 3.11: a simple `ignore_paths = ...` line is enough here
            match = re.search(r"^\s*ignore_paths\s*=\s*(.+)$", text, re.MULTILINE)
            value = match.group(1).strip().strip("\"'") if match else None
        else:
            try:
                data = tomllib.loads(text)
            except ValueError:
                return []
            value = data.get("tool", {}).get("sqlfluff", {}).get("core", {}).get("ignore_paths")
    else:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text)
        except configparser.Error:
            return []
        value = parser.get("sqlfluff", "ignore_paths", fallback=None)
    if isinstance(value, str):
        return [p.strip() for p in value.split(",")]
    if isinstance(value, list):
        return [str(p) for p in value]
    return []


def _holds_sqlfluff_config(path: Path) -> bool:
    if path.name == ".sqlfluff":
        return True
    text = path.read_text(encoding="utf-8", errors="replace")
    return re.search(r"^\s*\[(tool\.)?sqlfluff", text, re.MULTILINE) is not None


@dataclass
class Selection:
    """The files to send (posix paths relative to the folder) and what was left out."""

    sql_files: list[str] = field(default_factory=list)
    support_files: list[str] = field(default_factory=list)  # configs and ignore files
    ignored_sql: list[str] = field(default_factory=list)


def select_files(root: Path, honour_ignores: bool = True) -> Selection:
    """Walk `root` as `sqlfluff lint root` would, keeping what the service needs."""
    selection = Selection()
    specs: list[Spec] = []
    root_real = root.resolve()
    for dirpath, subdirs, filenames in os.walk(root, topdown=True):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        specs = [s for s in specs if not s.folder or _within(rel_dir, s.folder)]
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name == IGNORE_FILE or (name in CONFIG_FILES and _holds_sqlfluff_config(path)):
                selection.support_files.append(rel)
                if honour_ignores and name in (IGNORE_FILE, ".sqlfluff", "pyproject.toml"):
                    if name == IGNORE_FILE:
                        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                    else:
                        lines = _config_ignore_lines(path)
                    if lines:
                        specs.append(spec_from_lines(rel_dir, lines))
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path = here / name
            if not name.lower().endswith(SQL_SUFFIX) or not path.is_file():
                continue
            if path.is_symlink() and not _inside(path.resolve(), root_real):
                continue  # a link out of the folder: its target is not the team's SQL
            if any(s.ignores(rel) for s in specs):
                selection.ignored_sql.append(rel)
            else:
                selection.sql_files.append(rel)
        kept = []
        for sub in sorted(subdirs):
            rel = f"{rel_dir}/{sub}" if rel_dir else sub
            if sub in SKIPPED_FOLDERS or (here / sub).is_symlink():
                continue
            if any(s.ignores(rel + "/*") for s in specs):  # SQLFluff's own trick for folders
                continue
            kept.append(sub)
        subdirs[:] = kept
    return selection


def _within(rel_dir: str, folder: str) -> bool:
    return rel_dir == folder or rel_dir.startswith(folder + "/")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def configs_in(folder: Path) -> list[str]:
    """The SQLFluff config files of one folder (for a single file sent with its settings)."""
    return [
        name
        for name in CONFIG_FILES
        if (folder / name).is_file() and _holds_sqlfluff_config(folder / name)
    ]


def zip_selection(root: Path, selection: Selection) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel in sorted(selection.support_files + selection.sql_files):
            archive.write(root / rel, rel)
    return buffer.getvalue()


def git_root(start: Path) -> Optional[Path]:
    """The nearest folder at or above `start` holding `.git` (a folder, or a worktree's file)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def path_prefix(submitted: Path) -> str:
    """Where the submitted folder sits in its git repository ("" at the root or outside one)."""
    folder = submitted if submitted.is_dir() else submitted.parent
    root = git_root(folder)
    if root is None:
        return ""
    rel = folder.resolve().relative_to(root).as_posix()
    return "" if rel == "." else rel
