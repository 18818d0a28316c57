"""Builders of test inputs: ZIP archives from a dict or a corpus folder, and job rows."""

import io
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import SubmissionType


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A ZIP archive of `entries` (name -> bytes), in memory (for uploads)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def make_zip(target: Path, entries: dict[str, bytes]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(zip_bytes(entries))
    return target


def folder_entries(folder: Path, prefix: str, pattern: str = "*.sql") -> dict[str, bytes]:
    """The files of a corpus folder as archive entries under `prefix/`."""
    return {
        f"{prefix}/{p.relative_to(folder).as_posix()}": p.read_bytes()
        for p in sorted(folder.rglob(pattern))
        if p.is_file()
    }


def make_job(
    sessions: sessionmaker[Session],
    submission: SubmissionType = SubmissionType.ZIP_ARCHIVE,
    source_path: str = "archives/test.zip",
    dialect: str = "ansi",
) -> str:
    job_id = queries.jobs.new_job_id()
    with sessions.begin() as session:
        queries.jobs.insert_job(session, job_id, submission, source_path, dialect)
    return job_id
