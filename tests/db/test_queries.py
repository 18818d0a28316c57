"""Repository functions on the real test database: idempotent task rows, mirroring, final status."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import JobStatus, LintingTask, TaskStatus
from linting.status import finish_job
from tests.support.factories import make_job


def _files(n: int) -> list[queries.tasks.NewTask]:
    return [
        queries.tasks.NewTask(f"jobs/x/extracted/f{i:03}.sql", f"f{i:03}.sql") for i in range(n)
    ]


def _count(sessions: sessionmaker[Session], job_id: str) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).where(LintingTask.job_id == job_id)) or 0)


def _outcome(task_id: str, ok: bool) -> queries.tasks.TaskOutcome:
    return queries.tasks.TaskOutcome(
        task_id,
        TaskStatus.SUCCESS if ok else TaskStatus.FAILURE,
        "r.json" if ok else None,
        None if ok else "time limit",
        3 if ok else None,
    )


def test_ensure_tasks_is_idempotent_and_skips_success(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    with session_maker.begin() as s:
        first = queries.tasks.ensure_tasks(s, job_id, _files(5))
    assert [f.file_name for f in first] == [f"f{i:03}.sql" for i in range(5)]
    with session_maker.begin() as s:
        queries.tasks.mark_tasks(
            s, [_outcome(first[0].task_id, True), _outcome(first[1].task_id, False)]
        )
    with session_maker.begin() as s:
        again = queries.tasks.ensure_tasks(s, job_id, _files(5))
    assert _count(session_maker, job_id) == 5
    # SUCCESS is never linted again; FAILURE and PENDING are, with the same task ids.
    assert [f.task_id for f in again] == [f.task_id for f in first[1:]]


def test_rejected_entries_are_failures_never_pending(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    files = _files(2) + [
        queries.tasks.NewTask("jobs/x/extracted/../e.sql", "../e.sql", "not linted: escapes")
    ]
    with session_maker.begin() as s:
        pending = queries.tasks.ensure_tasks(s, job_id, files)
        counts = queries.tasks.task_counts(s, job_id)
    assert len(pending) == 2
    assert counts[TaskStatus.FAILURE] == 1 and counts[TaskStatus.PENDING] == 2


def test_final_status_from_rows(session_maker: sessionmaker[Session]) -> None:
    cases = [
        ([True, True], JobStatus.COMPLETED, None),
        ([True, False], JobStatus.PARTIALLY_COMPLETED, None),
        ([False, False], JobStatus.FAILED, "all 2 files failed to lint"),
        ([True, None], JobStatus.FAILED, "1 of 2 files were not linted; retry the job"),
        ([], JobStatus.FAILED, "no SQL files to lint"),
    ]
    for oks, expected, message in cases:
        job_id = make_job(session_maker)
        with session_maker.begin() as s:
            pending = queries.tasks.ensure_tasks(s, job_id, _files(len(oks)))
            queries.tasks.mark_tasks(
                s,
                [
                    _outcome(p.task_id, ok)
                    for p, ok in zip(pending, oks, strict=True)
                    if ok is not None
                ],
            )
            assert finish_job(s, job_id) == (expected, message)
        with session_maker() as s:
            job = queries.jobs.get_job(s, job_id)
            assert job is not None
            assert (job.status, job.error_message) == (expected, message)
            assert job.updated_at >= job.created_at


def test_fail_job_only_if_unfinished_keeps_a_final_status(
    session_maker: sessionmaker[Session],
) -> None:
    job_id = make_job(session_maker)
    with session_maker.begin() as s:
        queries.tasks.ensure_tasks(s, job_id, [])
        finish_job(s, job_id)
        assert not queries.jobs.fail_job(s, job_id, "crashed", only_if_unfinished=True)
    job_id2 = make_job(session_maker)
    with session_maker.begin() as s:
        queries.jobs.mark_job_processing(s, job_id2, "run-1")
        assert queries.jobs.fail_job(s, job_id2, "crashed", only_if_unfinished=True)
    with session_maker() as s:
        job2 = queries.jobs.get_job(s, job_id2)
        assert job2 is not None and job2.status == JobStatus.FAILED and job2.flow_run_id == "run-1"


def test_page_tasks(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    with session_maker.begin() as s:
        queries.tasks.ensure_tasks(s, job_id, _files(23))
    with session_maker() as s:
        rows = queries.tasks.page_tasks(s, job_id, page=3, size=10)
        assert sum(queries.tasks.task_counts(s, job_id).values()) == 23
    assert [r.file_name for r in rows] == ["f020.sql", "f021.sql", "f022.sql"]
