"""A job's files: the inline SQL, or the ZIP expanded safely, each `.sql` file a file task to
create, and the reasons some cannot be linted (a bad entry, a refused config above it)."""

import logging
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from core.settings import Settings
from db import queries
from db.models import SubmissionType
from linting import storage
from linting.archive import ArchiveLimits, extract_archive
from linting.discovery import lintable_files
from linting.errors import BadArchive
from linting.options import DEFAULT_SQL_FILE_EXTS, job_config_path, refused_configs

logger = logging.getLogger(__name__)


def collect_files(
    job_id: str, submission: SubmissionType, source_path: str, settings: Settings
) -> tuple[list[queries.tasks.NewTask], int]:
    """The job's files as task rows to ensure, and how many non-SQL files were ignored.

    Raises:
        BadArchive: the ZIP cannot be expanded safely, or holds no `.sql` file.
        LintServiceError: the source is gone or unsafe.
    """
    root = settings.NFS_SHARE_ROOT_PATH
    if submission == SubmissionType.SINGLE_FILE:
        # An uploaded file keeps its name, as `sqlfluff lint orders.sql` prints it; inline SQL
        # is `input.sql`.
        return [queries.tasks.NewTask(source_path, PurePosixPath(source_path).name)], 0
    archive = storage.resolve_under_root(root, source_path)
    extracted = storage.extracted_dir(job_id)
    limits = ArchiveLimits(
        max_entries=settings.ZIP_MAX_ENTRIES,
        max_total_bytes=settings.ZIP_MAX_TOTAL_BYTES,
        max_file_bytes=settings.LINT_MAX_FILE_BYTES,
    )
    job_config = root / job_config_path(job_id)
    extra = job_config if job_config.is_file() else None
    # The files SQLFluff lints are named by `sql_file_exts` of the root config, which config
    # files at the archive's top may set: extract with what is known before, then again in
    # the rare case those files name more.
    first = sql_file_exts(root / storage.job_dir(job_id), extra)
    expansion = extract_archive(archive, root / extracted, limits, first)
    # A config the policy refuses fails the files beneath it, not the whole job. Config files
    # are extracted whatever `sql_file_exts` says, so a second extraction finds the same.
    refused = refused_configs(root / extracted, expansion.config_files)
    exts = first
    if expansion.config_files:
        exts = sql_file_exts(root / extracted, extra, refused)
        if not set(exts) <= set(first):
            expansion = extract_archive(archive, root / extracted, limits, first + exts)
    rejected = dict(expansion.rejected)
    # What `.sqlfluffignore` files (and `ignore_paths` of configs) exclude is not linted, as
    # with `sqlfluff lint`, and is counted with the other ignored files.
    lintable = (
        lintable_files(root / extracted, exts, refused, settings)
        if expansion.ignore_files or expansion.config_files
        else None
    )
    ignored = [n for n in expansion.sql_files if lintable is not None and n not in lintable]
    if ignored:
        logger.info("%d file(s) left out by .sqlfluffignore or sql_file_exts", len(ignored))
        expansion.sql_files = [n for n in expansion.sql_files if n not in set(ignored)]
        expansion.ignored_count += len(ignored)
    for name in expansion.sql_files:
        reason = _refused_above(name, refused)
        if reason is not None:
            rejected[name] = reason
    files = [
        queries.tasks.NewTask(f"{extracted}/{name}", name)
        for name in expansion.sql_files
        if name not in rejected
    ]
    files += [
        queries.tasks.NewTask(f"{extracted}/{name}", name, f"not linted: {reason}")
        for name, reason in rejected.items()
    ]
    if not files:
        raise BadArchive(
            f"archive holds no SQL files: none named {', '.join(exts)} (SQLFluff's "
            f"sql_file_exts; {expansion.ignored_count} other files ignored)"
        )
    return files, expansion.ignored_count


def sql_file_exts(
    folder: Path, extra_config: Path | None, refused: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """SQLFluff's `sql_file_exts` for `sqlfluff lint` run in `folder` (its config files and
    those above it, then the job's config), lower case, as SQLFluff compares them. A refused
    config at the top is not read (its files are not linted anyway): the defaults stand."""
    from sqlfluff.core.config.loader import load_config_up_to_path

    if refused and any(PurePosixPath(c).parent == PurePosixPath(".") for c in refused):
        extra_config, folder = None, folder.parent
    try:
        core = load_config_up_to_path(
            str(folder), extra_config_path=str(extra_config) if extra_config else None
        ).get("core", {})
    except Exception as exc:  # noqa: BLE001 - an unreadable config is reported where it is used
        logger.info("sql_file_exts not read (%s); using SQLFluff's default", exc)
        core = {}
    value = core.get("sql_file_exts") or ",".join(DEFAULT_SQL_FILE_EXTS)
    exts = [e.strip().lower() for e in str(value).split(",") if e.strip()]
    return tuple(exts) or (".sql",)


def _refused_above(sql_file: str, refused: Mapping[str, str]) -> str | None:
    """The reason of a refused config in the SQL file's folder or any folder above it."""
    folder = PurePosixPath(sql_file).parent
    for config, reason in refused.items():
        if folder.is_relative_to(PurePosixPath(config).parent):
            return reason
    return None
