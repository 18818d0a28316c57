"""Safe ZIP expansion into jobs/{job_id}/extracted/ (SPEC §8).

Only `.sql` entries and SQLFluff config files (`.sqlfluff`, setup.cfg, tox.ini, pyproject.toml,
which apply to the files beneath them) are written; nested folders are kept. SQL entries that
would escape the extraction dir, symlinks, duplicates and unreadable entries are reported back
as rejected (they become FAILURE rows); other files, and unsafe config entries, are counted as
ignored. Sizes are enforced on the bytes
actually inflated, not on the headers, which a zip bomb can fake.
"""

import os
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from linting.errors import BadArchive
from linting.options import CONFIG_FILE_NAMES

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_total_bytes: int
    max_ratio: float


@dataclass
class Expansion:
    """What an archive held: extracted SQL files, rejected entries, and ignored files."""

    sql_files: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    ignored_count: int = 0


def _unsafe_reason(name: str) -> str | None:
    if "\x00" in name or "\\" in name:
        return "entry name has a backslash or NUL byte"
    pure = PurePosixPath(name)
    if pure.is_absolute() or (pure.parts and ":" in pure.parts[0]):
        return "entry has an absolute path"
    if ".." in pure.parts:
        return "entry escapes the extraction directory"
    return None


def _is_config(name: str) -> bool:
    return PurePosixPath(name).name in CONFIG_FILE_NAMES


def _wanted(name: str) -> bool:
    return name.lower().endswith(".sql") or _is_config(name)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _copy_limited(src: zipfile.ZipExtFile, dest: Path, budget: int) -> int:
    """Inflate one entry into `dest`, stopping once the archive's budget is spent."""
    written = 0
    tmp = dest.with_name(f".tmp-{dest.name}")
    with open(tmp, "wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > budget:
                out.close()
                tmp.unlink()
                raise BadArchive("archive expands past the size limit (possible zip bomb)")
            out.write(chunk)
    os.replace(tmp, dest)
    return written


def extract_archive(archive: Path, dest: Path, limits: ArchiveLimits) -> Expansion:
    """Expand the `.sql` files of `archive` under `dest`, safely; rerunning it is harmless.

    Args:
        archive: absolute path of the ZIP file.
        dest: the job's extraction folder (created; earlier content is replaced).
        limits: entry count, expanded size and expanded/compressed ratio limits.

    Returns:
        The extracted SQL files (POSIX paths relative to `dest`, sorted), rejected entries with
        their reasons, and the number of non-SQL files ignored.

    Raises:
        BadArchive: not a readable ZIP, too many entries, or over the size or ratio limit.
    """
    compressed = max(archive.stat().st_size, 1)
    budget = min(limits.max_total_bytes, int(compressed * limits.max_ratio))
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadArchive(f"not a valid ZIP archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise BadArchive(
                f"archive has {len(infos)} entries, over the limit of {limits.max_entries}"
            )
        declared = sum(i.file_size for i in infos if _wanted(i.filename))
        if declared > budget:
            raise BadArchive(_too_large_message(declared, compressed, limits))
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        result = Expansion()
        seen: set[str] = set()
        spent = 0
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename
            is_config = _is_config(name)
            if not _wanted(name):
                result.ignored_count += 1
                continue
            reason = _unsafe_reason(name)
            if reason is None and _is_symlink(info):
                reason = "entry is a symbolic link"
            if reason is None and name in seen:
                reason = "duplicate entry name in the archive"
            if reason is not None:
                if is_config:  # not a file to lint: an unsafe config is left out, and counted
                    result.ignored_count += 1
                else:
                    result.rejected[name] = reason
                continue
            seen.add(name)
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src:
                    spent += _copy_limited(src, target, budget - spent)
            except BadArchive:
                raise BadArchive(_too_large_message(None, compressed, limits)) from None
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
                if is_config:
                    result.ignored_count += 1
                else:
                    result.rejected[name] = f"entry cannot be read: {exc}"
                continue
            (result.config_files if is_config else result.sql_files).append(name)
    result.sql_files.sort()
    return result


def _too_large_message(declared: int | None, compressed: int, limits: ArchiveLimits) -> str:
    size = f" ({declared} bytes)" if declared is not None else ""
    return (
        f"archive expands past the limit{size}: at most {limits.max_total_bytes} bytes and "
        f"{limits.max_ratio:g}x its compressed size ({compressed} bytes); possible zip bomb"
    )
