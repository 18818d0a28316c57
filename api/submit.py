"""Accepting a job, whatever brought it (JSON body or upload): check its options, then create it
(`flows.start.create_job`)."""

from sqlalchemy.orm import Session, sessionmaker

from api.schemas import JobExtras, LintOptionsIn
from core.settings import Settings
from db.models import SubmissionType
from flows.start import NewJob, create_job
from linting import options as lint_options
from linting.errors import BadInput
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
        ),
    )
    return job_id
