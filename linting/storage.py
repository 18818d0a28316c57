"""The shared directory's layout in one place, and safe handling of client-given paths.

Every path stored in the DB or passed between processes is relative to NFS_SHARE_ROOT_PATH, so
all hosts can mount the share wherever the setting says.
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from linting.errors import SourceMissing, UnsafePath

INLINE_SQL_NAME = "input.sql"
RESULT_CACHE_DIR = "cache/results"


def job_dir(job_id: str) -> str:
    return f"jobs/{job_id}"


def inline_source_path(job_id: str) -> str:
    """Where inline `sql_content` is stored."""
    return f"{job_dir(job_id)}/source/{INLINE_SQL_NAME}"


def extracted_dir(job_id: str) -> str:
    return f"{job_dir(job_id)}/extracted"


def result_path(job_id: str, task_id: str) -> str:
    return f"{job_dir(job_id)}/results/{task_id}.json"


def fixes_dir(job_id: str) -> str:
    """Where `fix` jobs keep `<task_id>.sql` (the fixed text) and `<task_id>.diff`."""
    return f"{job_dir(job_id)}/fixes"


def fixed_path(job_id: str, task_id: str, suffix: str) -> str:
    return f"{fixes_dir(job_id)}/{task_id}{suffix}"


def upload_path(job_id: str, file_name: str) -> str:
    """Where `POST /jobs/upload` stores the uploaded file."""
    return f"{job_dir(job_id)}/upload/{file_name}"


def _relative_path(relative: str) -> PurePosixPath:
    """A client-given path as a plain relative path, or UnsafePath."""
    if not relative or relative.strip() != relative or "\x00" in relative:
        raise UnsafePath(f"invalid path {relative[:200]!r}")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if not pure.parts:  # ".", "./."
        raise UnsafePath(f"path {relative!r} names no file")
    if pure.is_absolute() or relative.startswith(("/", "\\")) or ":" in pure.parts[0]:
        raise UnsafePath(f"path {relative!r} must be relative to the shared root")
    if ".." in pure.parts:
        raise UnsafePath(f"path {relative!r} escapes the shared root")
    return pure


def resolve_under_root(root: Path, relative: str) -> Path:
    """Resolve a client-given path that must stay inside the shared root.

    Args:
        root: the shared root (absolute, resolved).
        relative: the path as the client sent it.

    Returns:
        The absolute, symlink-free path of an existing file under `root`.

    Raises:
        UnsafePath: absolute paths, `..` components, or symlinks leading out of the root.
        SourceMissing: the path is safe but nothing is there.
    """
    pure = _relative_path(relative)
    try:
        resolved = (root / pure).resolve()
        if not resolved.is_relative_to(root):
            raise UnsafePath(f"path {relative[:200]!r} leads outside the shared root")
        found = resolved.is_file()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise UnsafePath(f"path {relative[:200]!r} cannot be opened: {exc.strerror}") from None
    if not found:
        raise SourceMissing(f"file not found: {relative[:200]}")
    return resolved


# Top-level folders of the share that belong to the service: never a submitter's import.
SERVICE_AREAS = frozenset({"jobs", "cache", "tmp"})


def resolve_import(root: Path, relative: str, import_root: str, owner: str | None) -> Path:
    """Resolve a client-given `zip_file_path`: a file under the shared root, in the import area
    (`import_root`, and with an `owner` its own `import_root/<owner>/` folder), never in the
    service's own areas (another job's files, the result cache).

    Raises:
        UnsafePath: outside the root, the import area or the owner's folder; in a service area.
        SourceMissing: the path is safe but nothing is there.
    """
    # Checked as named (before existence, so a probe learns nothing of what lies outside the
    # caller's area) and as resolved (a symlink is no way round it).
    area = PurePosixPath(import_root.strip("/")) / (owner or "")
    named = _relative_path(relative)
    _refuse_service_area(relative, named)
    _refuse_outside_area(relative, named, area)
    resolved = resolve_under_root(root, relative)
    real = PurePosixPath(resolved.relative_to(root))
    _refuse_service_area(relative, real)
    _refuse_outside_area(relative, real, area)
    return resolved


def _refuse_outside_area(relative: str, path: PurePosixPath, area: PurePosixPath) -> None:
    if str(area) not in ("", ".") and not path.is_relative_to(area):
        raise UnsafePath(f"path {relative!r} is outside your import area {area.as_posix()}/")


def _refuse_service_area(relative: str, path: PurePosixPath) -> None:
    if path.parts and path.parts[0] in SERVICE_AREAS:
        raise UnsafePath(
            f"path {relative!r} is in the service's own area ({path.parts[0]}/); place archives "
            "in the import area"
        )


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write via a temp file and rename, so readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(target: Path, payload: Any) -> None:
    write_bytes_atomic(target, json.dumps(payload).encode("utf-8"))


def remove_tree(folder: Path) -> int:
    """Delete `folder` and everything under it; the bytes its files held (0 if it is gone)."""
    freed = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                freed += path.stat().st_size
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        raise OSError(f"could not remove all of {folder}")
    return freed
