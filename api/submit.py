"""Accepting a job, whatever brought it (JSON body or upload): check its options, then create it
(`flows.start.create_job`)."""

from fastapi import HTTPException
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Caller, check_may_read, may_use_project
from api.schemas import JobExtras, LintOptionsIn
from core.settings import Settings
from db import queries
from db.models import SubmissionType
from flows.start import NewJob, ProjectLink, create_job
from linting import options as lint_options
from linting.errors import BadInput
from services import projects
from services.webhooks import CallbackRefused, HostUnresolved, check_callback_url, parse_networks


def check_options(options: LintOptionsIn, fix: bool = False) -> lint_options.JobOptions:
    """The job's options, validated as SQLFluff will read them.

    Raises:
        BadInput: an unknown dialect, templater or rule, or a config SQLFluff rejects.
    """
    checked = options.job_options(fix=fix)
    lint_options.validate(checked, options.config)
    return checked


def check_callback(settings: Settings, url: object | None) -> None:
    """Refuse a `callback_url` whose host is (or resolves to) an address the service must not
    call: loopback, private, link-local… unless CALLBACK_ALLOWED_NETWORKS lists it. A host that
    does not resolve yet is accepted: each delivery attempt checks again before it connects.

    Raises:
        BadInput: the URL is refused, with the reason (never the addresses it resolved to).
    """
    if url is None:
        return
    try:
        check_callback_url(str(url), parse_networks(settings.CALLBACK_ALLOWED_NETWORKS))
    except CallbackRefused as exc:
        raise BadInput(f"'callback_url' refused: {exc}") from None
    except HostUnresolved:
        pass


def accept_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    job_id: str,
    submission: SubmissionType,
    source_path: str,
    checked: lint_options.JobOptions,
    config_text: str | None,
    extras: JobExtras,
    api_key_id: str | None = None,
    project: ProjectLink | None = None,
) -> str:
    """Store the job and start its flow run; the source is on the share and the options are
    checked (`check_options`)."""
    create_job(
        settings,
        sessions,
        NewJob(
            job_id=job_id,
            submission=submission,
            source_path=source_path,
            options=checked,
            config_text=config_text,
            submitter=extras.submitter,
            callback_url=str(extras.callback_url) if extras.callback_url else None,
            api_key_id=api_key_id,
            project=project,
        ),
    )
    return job_id


def check_project(
    settings: Settings,
    sessions: sessionmaker[Session],
    who: Caller,
    extras: JobExtras,
    checked: lint_options.JobOptions,
    config_text: str | None,
) -> ProjectLink | None:
    """The job's project and baseline, checked before anything is stored: the project must
    exist and be the caller's, the baseline job too (404, 403).

    Raises:
        BadInput: `baseline: latest` without a project, or two baselines.
    """
    with sessions() as session:
        project = None
        if extras.project_id is not None:
            project = queries.projects.get_project(session, extras.project_id)
            if project is None:
                raise HTTPException(404, f"project {extras.project_id} not found")
            if not may_use_project(who, queries.projects.project_keys(session, project.project_id)):
                raise HTTPException(403, "this project belongs to other API keys")
        if extras.baseline_job_id is not None:
            baseline = queries.jobs.get_job(session, extras.baseline_job_id)
            if baseline is None:
                raise HTTPException(404, f"baseline job {extras.baseline_job_id} not found")
            check_may_read(who, baseline)
        return projects.job_link(
            session,
            settings,
            project,
            checked,
            config_text,
            extras.baseline_job_id,
            extras.baseline,
            extras.ref,
        )
