"""A job's attempts on the real test database: an infrastructure end queues the next attempt
once, however many callers see it; the last one fails the job with every reason kept; the
reconciler's worklist pages and includes due retries."""

from datetime import timedelta

from prefect import flow, get_client
from prefect.states import Cancelled, Cancelling, Running
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import JobStatus, LintingJob, utcnow
from flows.attempts import GAVE_UP, RETRY, backoff, cancelled_by_runner, end_attempt
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


def test_a_superseded_run_never_takes_the_job_back(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    old, new = "00000000-0000-0000-0000-0000000000c1", "00000000-0000-0000-0000-0000000000c2"
    _started(session_maker, job_id, old)
    assert end_attempt(_settings(), session_maker, job_id, old, "crash") == RETRY
    # The old run's process lived on: before or after the new attempt's run is recorded, it
    # can neither start the job again nor set its final status.
    with session_maker.begin() as s:
        assert not queries.jobs.mark_job_processing(s, job_id, old)
        queries.jobs.set_flow_run_id(s, job_id, new, attempt=2)
        assert not queries.jobs.mark_job_processing(s, job_id, old)
        assert not queries.jobs.set_final_status(s, job_id, JobStatus.FAILED, "x", old)
        assert queries.jobs.mark_job_processing(s, job_id, new)
    job = _job(session_maker, job_id)
    assert (job.status, job.flow_run_id, job.attempt) == (JobStatus.PROCESSING, new, 2)
    # The old run's late hook or a stale reconciler snapshot changes nothing either.
    assert end_attempt(_settings(), session_maker, job_id, old, "late", retry=False) is None
    assert _job(session_maker, job_id).status == JobStatus.PROCESSING


def test_a_person_cancelling_fails_the_job_at_once(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    run = "00000000-0000-0000-0000-0000000000d1"
    _started(session_maker, job_id, run)
    reason = "flow run x ended CANCELLED: cancelled in the UI"
    assert end_attempt(_settings(), session_maker, job_id, run, reason, retry=False) == GAVE_UP
    job = _job(session_maker, job_id)
    assert job.status == JobStatus.FAILED and job.attempt == 1
    assert job.error_message == f"{reason}; retry the job"
    assert job.attempts[-1].reason == reason and job.attempts[-1].ended_at


def test_a_cancellation_is_the_runners_if_any_state_says_so() -> None:
    assert cancelled_by_runner(Cancelled(message="Runner is shutting down."))
    assert not cancelled_by_runner(Cancelled(message="Cancelled from the UI"))
    # Without a run id only the state itself is read (no Prefect needed).
    timed_out = Cancelled(message="Flow run cancellation timed out; marked as Cancelled.")
    assert not cancelled_by_runner(timed_out)


def test_a_runner_cancel_timed_out_by_prefect_is_still_the_runners(prefect_api: str) -> None:
    """The runner died while cancelling: Prefect's server ends the run CANCELLED with its own
    message; the run's history still says the runner cancelled it (an infrastructure end)."""

    @flow(name="attempts-probe")
    def probe() -> None:
        return None

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(probe, state=Running())
        client.set_flow_run_state(run.id, Cancelling(message="Runner is shutting down."))
        timed_out = Cancelled(message="Flow run cancellation timed out; marked as Cancelled.")
        client.set_flow_run_state(run.id, timed_out, force=True)
        person = client.create_flow_run(probe, state=Running())
        client.set_flow_run_state(person.id, Cancelling(message="from the UI"))
        client.set_flow_run_state(person.id, timed_out, force=True)
    assert cancelled_by_runner(timed_out, str(run.id))
    assert not cancelled_by_runner(timed_out, str(person.id))


def test_a_stale_callback_claim_is_claimed_again_once(session_maker: sessionmaker[Session]) -> None:
    job_id = make_job(session_maker)
    with session_maker.begin() as s:
        s.execute(
            update(LintingJob)
            .where(LintingJob.job_id == job_id)
            .values(status=JobStatus.COMPLETED, callback_url="https://example.com/hook")
        )
        assert job_id in {j for j, _ in queries.jobs.claim_callbacks(s, limit=1000)}
        # Still within its lease: no one else takes it.
        before = utcnow() - timedelta(hours=1)
        assert job_id not in {j for j, _ in queries.jobs.claim_callbacks(s, 1000, before)}
        # Past its lease (its API process died): claimed again, by one caller only.
        later = utcnow() + timedelta(seconds=1)
        assert job_id in {j for j, _ in queries.jobs.claim_callbacks(s, 1000, later)}
        assert job_id not in {j for j, _ in queries.jobs.claim_callbacks(s, 1000, before)}
