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
from linting.errors import BadArchive
from linting.options import refused_configs

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
        return [queries.tasks.NewTask(source_path, storage.INLINE_SQL_NAME)], 0
    archive = storage.resolve_under_root(root, source_path)
    extracted = storage.extracted_dir(job_id)
    expansion = extract_archive(
        archive,
        root / extracted,
        ArchiveLimits(
            max_entries=settings.ZIP_MAX_ENTRIES,
            max_total_bytes=settings.ZIP_MAX_TOTAL_BYTES,
            max_file_bytes=settings.LINT_MAX_FILE_BYTES,
        ),
    )
    # A config the policy refuses fails the files beneath it, not the whole job.
    refused = refused_configs(root / extracted, expansion.config_files)
    rejected = dict(expansion.rejected)
    # What `.sqlfluffignore` files (and `ignore_paths` of configs) exclude is not linted, as
    # with `sqlfluff lint`, and is counted with the other ignored files.
    lintable = (
        _not_ignored(root / extracted) if expansion.ignore_files or expansion.config_files else None
    )
    ignored = [n for n in expansion.sql_files if lintable is not None and n not in lintable]
    if ignored:
        logger.info("%d file(s) left out by .sqlfluffignore", len(ignored))
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
            f"archive holds no .sql files ({expansion.ignored_count} other files ignored)"
        )
    return files, expansion.ignored_count


def _not_ignored(folder: Path) -> set[str]:
    """The `.sql` files under `folder` SQLFluff's own discovery lints (its ignore logic).

    Raises:
        BadArchive: an ignore file SQLFluff cannot read.
    """
    from sqlfluff.core.errors import SQLFluffUserError
    from sqlfluff.core.linter.discovery import paths_from_path

    try:
        found = paths_from_path(str(folder), working_path=str(folder), target_file_exts=(".sql",))
    except SQLFluffUserError as exc:
        raise BadArchive(f"cannot read an ignore file: {exc}") from None
    return {Path(p).relative_to(folder).as_posix() for p in found}


def _refused_above(sql_file: str, refused: Mapping[str, str]) -> str | None:
    """The reason of a refused config in the SQL file's folder or any folder above it."""
    folder = PurePosixPath(sql_file).parent
    for config, reason in refused.items():
        if folder.is_relative_to(PurePosixPath(config).parent):
            return reason
    return None
