"""Accepting a job, whatever brought it (JSON body or upload): check its options, lay out its
config on the share, insert its row, trigger its flow run."""

import logging

import httpx
from prefect.exceptions import PrefectException
from sqlalchemy.orm import Session, sessionmaker

from api.schemas import JobExtras, LintOptionsIn
from core.settings import Settings
from db import queries
from db.models import SubmissionType
from flows.trigger import run_tags, trigger_lint_job
from linting import options as job_config

logger = logging.getLogger(__name__)


def check_options(options: LintOptionsIn, fix: bool = False) -> job_config.JobOptions:
    """The job's options, validated as SQLFluff will read them.

    Raises:
        BadInput: an unknown dialect, templater or rule, or a config SQLFluff rejects.
    """
    checked = options.job_options(fix=fix)
    job_config.validate(checked, options.config)
    return checked


def accept_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    job_id: str,
    submission: SubmissionType,
    source_path: str,
    checked: job_config.JobOptions,
    config_text: str | None,
    extras: JobExtras,
    api_key_id: str | None = None,
) -> str:
    """Store the job and start its flow run; the source is on the share, the options checked
    (`check_options`).

    A failed trigger leaves the job ACCEPTED: the reconciler triggers it again with the same
    idempotency key, so the client's 202 always holds.
    """
    dialect = checked.dialect or settings.SQLFLUFF_DIALECT
    job_config.write_job_files(
        settings.NFS_SHARE_ROOT_PATH, job_id, settings.SQLFLUFF_DIALECT, config_text
    )
    # Commit before triggering: the flow run reads this row.
    with sessions.begin() as session:
        queries.jobs.insert_job(
            session,
            job_id,
            submission,
            source_path,
            dialect,
            options=checked.to_json(),
            submitter=extras.submitter,
            callback_url=str(extras.callback_url) if extras.callback_url else None,
            api_key_id=api_key_id,
        )
    logger.info("job accepted", extra={"job_id": job_id})
    try:
        flow_run_id = trigger_lint_job(
            settings.LINT_DEPLOYMENT, job_id, tags=run_tags(dialect, submission.value)
        )
    except (PrefectException, httpx.HTTPError, RuntimeError) as exc:
        logger.warning("trigger failed, will retry: %s", exc, extra={"job_id": job_id})
        return job_id
    with sessions.begin() as session:
        queries.jobs.set_flow_run_id(session, job_id, flow_run_id)
    return job_id
