"""Finished jobs seeded without a lint run: files stored as a job's tasks with SQLFluff's own
violations, fingerprinted from the stored source as the lint batch does
(linting.batch.violation_rows)."""

from pathlib import Path
from typing import Any

import sqlfluff
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import TaskStatus
from linting.batch import violation_rows
from linting.status import finish_job


def store_job(
    sessions: sessionmaker[Session],
    root: Path,
    job_id: str,
    files: dict[str, tuple[str, list[dict[str, Any]]]],
    overrides: dict[str, str] | None = None,
) -> None:
    """Store files (name -> text, SQLFluff violation records) as a job's tasks, with their
    violations fingerprinted from the stored source, and finish the job."""
    with sessions.begin() as s:
        tasks = queries.tasks.ensure_tasks(
            s, job_id, [queries.tasks.NewTask(f"jobs/{job_id}/extracted/{n}", n) for n in files]
        )
    outcomes = []
    for task in tasks:
        text, records = files[task.file_name]
        source = root / task.source_file_path
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        rows = tuple(violation_rows(records, overrides or {}, task.file_name, source))
        outcomes.append(
            queries.tasks.TaskOutcome(
                task.task_id,
                TaskStatus.SUCCESS,
                None,
                None,
                len(rows),
                task.file_name,
                job_id,
                violations=rows,
            )
        )
    with sessions.begin() as s:
        queries.tasks.mark_tasks(s, outcomes)
        finish_job(s, job_id)


def lint_into(
    sessions: sessionmaker[Session],
    root: Path,
    job_id: str,
    files: dict[str, str],
    overrides: dict[str, str],
) -> None:
    """Store files as a finished job's tasks with SQLFluff's real violations."""
    linted = {n: (text, sqlfluff.lint(text, dialect="ansi")) for n, text in files.items()}
    store_job(sessions, root, job_id, linted, overrides)
