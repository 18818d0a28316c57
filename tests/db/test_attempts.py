"""A job's attempts on the real test database: an infrastructure end queues the next attempt
once, however many callers see it; the last one fails the job with every reason kept; the
reconciler's worklist pages and includes due retries."""

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import JobStatus, utcnow
from flows.attempts import GAVE_UP, RETRY, backoff, end_attempt
from tests.support.factories import make_job


def _settings(**values: object) -> Settings:
    return Settings(**{"JOB_MAX_ATTEMPTS": 3, "JOB_RETRY_BACKOFF_SECONDS": 0, **values})  # type: ignore[arg-type]


def _started(sessions: sessionmaker[Session], job_id: str, run: str) -> None:
    with sessions.begin() as s:
        job = queries.jobs.get_job(s, job_id)
        assert job is not None
        queries.jobs.set_flow_run_id(s, job_id, run, attempt=job.attempt)
        queries.jobs.mark_job_processing(s, job_id, run)


def _job(sessions: sessionmaker[Session], job_id: str):  # type: ignore[no-untyped-def]
    with sessions() as s:
        return queries.jobs.get_job(s, job_id)


def test_attempts_are_retried_once_each_then_the_job_fails(
    session_maker: sessionmaker[Session],
) -> None:
    settings = _settings()
    job_id = make_job(session_maker)
    for number in (1, 2):
        run = f"00000000-0000-0000-0000-00000000000{number}"
        _started(session_maker, job_id, run)
        # The hook and two API instances see the same crash: one of them moves the job on.
        outcomes = [
            end_attempt(settings, session_maker, job_id, run, f"crash {number}") for _ in range(3)
        ]
        assert outcomes == [RETRY, None, None]
        job = _job(session_maker, job_id)
        assert job.status == JobStatus.ACCEPTED and job.flow_run_id is None
        assert job.attempt == number + 1 and job.retry_after is not None
        # A stale run id writing itself back is refused.
        with session_maker.begin() as s:
            assert not queries.jobs.set_flow_run_id(s, job_id, run, attempt=number)

    run = "00000000-0000-0000-0000-000000000003"
    _started(session_maker, job_id, run)
    assert end_attempt(settings, session_maker, job_id, run, "crash 3") == GAVE_UP
    assert end_attempt(settings, session_maker, job_id, run, "crash 3") is None
    job = _job(session_maker, job_id)
    assert job.status == JobStatus.FAILED
    assert "3 attempts failed" in job.error_message and "crash 3" in job.error_message
    assert [(a.number, a.flow_run_id, a.reason) for a in job.attempts] == [
        (1, "00000000-0000-0000-0000-000000000001", "crash 1"),
        (2, "00000000-0000-0000-0000-000000000002", "crash 2"),
        (3, "00000000-0000-0000-0000-000000000003", "crash 3"),
    ]
    assert all(a.started_at and a.ended_at for a in job.attempts)


def test_a_final_job_is_never_retried(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    run = "00000000-0000-0000-0000-0000000000aa"
    _started(session_maker, job_id, run)
    with session_maker.begin() as s:
        queries.jobs.fail_job(s, job_id, "no SQL files to lint", only_if_unfinished=False)
    assert end_attempt(_settings(), session_maker, job_id, run, "failed") is None
    assert _job(session_maker, job_id).status == JobStatus.FAILED


def test_backoff_doubles() -> None:
    settings = _settings(JOB_RETRY_BACKOFF_SECONDS=5)
    assert [backoff(settings, n) for n in (1, 2, 3)] == [5, 10, 20]


def test_worklist_pages_and_includes_due_retries(session_maker: sessionmaker[Session]) -> None:
    jobs = [make_job(session_maker) for _ in range(5)]
    later = utcnow() + timedelta(hours=1)
    seen: list[str] = []
    after = 0
    while True:
        with session_maker() as s:
            page = queries.jobs.unfinished_jobs(s, later, 2, after_id=after)
        seen += [j.job_id for j in page]
        if len(page) < 2:
            break
        after = page[-1].id
    assert set(jobs) <= set(seen) and len(seen) == len(set(seen))

    # Not quiet yet, but its retry is due: listed.
    job_id = make_job(session_maker)
    run = "00000000-0000-0000-0000-0000000000bb"
    _started(session_maker, job_id, run)
    end_attempt(_settings(), session_maker, job_id, run, "crash")
    with session_maker() as s:
        due = queries.jobs.unfinished_jobs(s, utcnow() - timedelta(hours=1), now=utcnow())
    assert job_id in {j.job_id for j in due}
