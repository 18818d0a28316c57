"""Content-addressed cache of lint results on the shared directory.

Same file bytes + same effective config (the service's overrides and every SQLFluff config
file on the file's path) + the same job tree (every file a template could include or import
macros from) + same SQLFluff version -> the stored record is reused, so a bulk re-lint of
unchanged SQL costs a hash and a copy per file. Keyed on content only, an entry can only ever
be served for exactly the inputs that produce it, whoever submitted them: no submitter learns
anything from another's entries. Only successful lints are stored. A hit marks its entry used
(its mtime: atime is off or coarse on network mounts); the `cleanup` flow evicts the least
recently used entries past CACHE_MAX_BYTES (`evict`).
"""

import hashlib
import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

from linting.options import FolderConfigs
from linting.storage import write_json

logger = logging.getLogger(__name__)


@cache
def _sqlfluff_version() -> str:
    from importlib.metadata import version

    return f"sqlfluff {version('sqlfluff')}"


def tree_digest(folder: Path) -> str:
    """A digest of every file under `folder` (names and bytes): what a template in it could
    read. Empty for a folder that does not exist (a `sql_content` job)."""
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(
    source: Path,
    data: bytes,
    overrides: dict[str, Any],
    extra_config: str | None = None,
    salt: str = "",
    configs: FolderConfigs | None = None,
) -> str:
    """The key of one file's result under one effective configuration and job tree (`configs`:
    the config files already found for the batch, else looked up now)."""
    digest = hashlib.sha256()
    digest.update(salt.encode() + b"\0")
    digest.update(_sqlfluff_version().encode())
    digest.update(json.dumps(overrides, sort_keys=True).encode())
    if extra_config:
        digest.update(b"\0extra\0" + Path(extra_config).read_bytes())
    for name, config in (configs or FolderConfigs()).contents(source.parent):
        digest.update(name.encode() + b"\0" + config + b"\0")
    digest.update(b"\0source\0" + data)
    return digest.hexdigest()


def entry_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.json"


def load(cache_dir: Path, key: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The cached record (without `filepath`) and effective config, or None."""
    path = entry_path(cache_dir, key)
    try:
        payload: dict[str, Any] = json.loads(path.read_bytes())
        _mark_used(path)
        effective = payload.pop("effective_config", None)
        return payload, effective
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a damaged entry is a miss, and is rewritten later
        logger.warning("unreadable cache entry %s: %s", key, exc)
        return None


def store(
    cache_dir: Path, key: str, record: dict[str, Any], effective: dict[str, Any] | None
) -> None:
    entry = {k: v for k, v in record.items() if k != "filepath"}
    entry["effective_config"] = effective
    try:
        write_json(entry_path(cache_dir, key), entry)
    except OSError as exc:  # the cache is an optimisation: never fail a file for it
        logger.warning("cache entry %s not written: %s", key, exc)


def _mark_used(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # evicted meanwhile, or a read-only share: the hit still counts
        pass


def evict(cache_dir: Path, max_bytes: int) -> tuple[int, int, int]:
    """Delete the least recently used entries until the cache holds at most `max_bytes`.

    Returns (entries deleted, bytes freed, bytes left). An entry deleted while a lint reads it
    is only a miss for that file.
    """
    entries: list[tuple[float, int, Path]] = []
    for path in cache_dir.glob("*/*.json"):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    deleted = freed = 0
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total - freed <= max_bytes:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        deleted += 1
        freed += size
    return deleted, freed, total - freed
