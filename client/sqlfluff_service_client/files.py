"""What is sent: the files SQLFluff would lint in a folder (or among the files named), their
config files and ignore files, zipped; never VCS or build folders, never anything else (`.env`,
keys, binaries).

SQLFluff's own rules, reimplemented without SQLFluff (the client depends on httpx and rich only):
a file is SQL when its name ends with one of `sql_file_exts` (configs.py); each
`.sqlfluffignore`, and `ignore_paths` of a `.sqlfluff` or `pyproject.toml`, applies to the folder
it is in and below, with gitignore patterns; an ignored folder is not walked.
"""

import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from re import Pattern
from typing import Optional

from sqlfluff_service_client.configs import (
    CONFIG_FILES,
    config_folders,
    holds_sqlfluff_config,
    ignore_lines,
    sql_file_exts,
)

IGNORE_FILE = ".sqlfluffignore"
# Never walked: version control, dependencies, build output, caches.
SKIPPED_FOLDERS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", ".jj", "_darcs",
        "node_modules", "dbt_packages", "dbt_modules", "target", "logs",
        ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", "build", "dist", ".idea", ".vscode",
    }
)  # fmt: skip


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


@dataclass
class Selection:
    """The files to send (posix paths relative to the folder) and what was left out."""

    sql_files: list[str] = field(default_factory=list)
    support_files: list[str] = field(default_factory=list)  # configs and ignore files
    ignored_sql: list[str] = field(default_factory=list)


def select_files(
    root: Path, honour_ignores: bool = True, exts: Optional[tuple[str, ...]] = None
) -> Selection:
    """Walk `root` as `sqlfluff lint root` would, keeping what the service needs. `exts`: the
    `sql_file_exts` in force (default: read from the configs of `root` and above it, up to the
    git root)."""
    if exts is None:
        exts = sql_file_exts(config_folders(root, git_root(root)))
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
            if name == IGNORE_FILE or (name in CONFIG_FILES and holds_sqlfluff_config(path)):
                selection.support_files.append(rel)
                if honour_ignores:
                    spec = _ignore_spec(path, rel_dir)
                    if spec is not None:
                        specs.append(spec)
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path = here / name
            if not name.lower().endswith(exts) or not path.is_file():
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


def _ignore_spec(path: Path, rel_dir: str) -> Optional[Spec]:
    """The ignore patterns a `.sqlfluffignore`, `.sqlfluff` or `pyproject.toml` sets."""
    if path.name == IGNORE_FILE:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    elif path.name in (".sqlfluff", "pyproject.toml"):
        lines = ignore_lines(path)
    else:
        return None
    return spec_from_lines(rel_dir, lines) if lines else None


def select_paths(base: Path, paths: list[Path], honour_ignores: bool = True) -> Selection:
    """The files and folders named (as pre-commit names them), as `sqlfluff lint P1 P2 ...`
    run in `base` would take them: names relative to `base`, each file kept if it has one of the
    `sql_file_exts` in force in `base`, and not ignored by the ignore files between `base` and it
    (a named file is linted whatever the ignore files of its own folder's subfolders say)."""
    base = base.resolve()
    exts = sql_file_exts(config_folders(base, git_root(base)))
    selection = Selection()
    support: set[str] = set()
    chosen: set[str] = set()
    for given in paths:
        path = given.resolve() if not given.is_symlink() else given.absolute()
        rel = path.relative_to(base).as_posix()
        folder_rel = rel if path.is_dir() else str(Path(rel).parent.as_posix())
        specs = _outer_specs(base, "" if folder_rel == "." else folder_rel, support, honour_ignores)
        if path.is_dir():
            inner = select_files(path, honour_ignores, exts)
            prefix = "" if rel == "." else rel + "/"
            support.update(prefix + s for s in inner.support_files)
            selection.ignored_sql += [prefix + s for s in inner.ignored_sql]
            found = [prefix + s for s in inner.sql_files]
        elif path.is_file() and not path.is_symlink() and path.name.lower().endswith(exts):
            found = [rel]
        else:
            continue
        for name in found:
            if any(s.ignores(name) for s in specs):
                selection.ignored_sql.append(name)
            elif name not in chosen:
                chosen.add(name)
                selection.sql_files.append(name)
    selection.support_files = sorted(support)
    return selection


def _outer_specs(base: Path, folder_rel: str, support: set[str], honour: bool) -> list[Spec]:
    """The ignore specs of `base` and each folder down to `folder_rel` (below, the walk finds
    its own); their config and ignore files are added to `support`."""
    parts = folder_rel.split("/") if folder_rel else []
    specs = []
    for depth in range(len(parts) + 1):
        rel_dir = "/".join(parts[:depth])
        for name in (*CONFIG_FILES, IGNORE_FILE):
            path = base / rel_dir / name
            if not path.is_file() or (name != IGNORE_FILE and not holds_sqlfluff_config(path)):
                continue
            support.add(f"{rel_dir}/{name}" if rel_dir else name)
            spec = _ignore_spec(path, rel_dir) if honour else None
            if spec is not None:
                specs.append(spec)
    return specs


def _within(rel_dir: str, folder: str) -> bool:
    return rel_dir == folder or rel_dir.startswith(folder + "/")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


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
