"""SQLAlchemy models of `linting_jobs` and `linting_tasks` (docs/api.md, Tables), plus added
columns.

Added: jobs `flow_run_id`, `dialect`, `ignored_file_count`, `heartbeat_at`, `options`,
`submitter`, `callback_url`, `callback_status`, `attempt`, `retry_after`,
`callback_claimed_at` (and the table
`linting_job_attempts`: one row per run of a job); tasks `effective_config`, `file_name`
(the path inside the submission), `violation_count` and `source_path_hash` (SHA-256 of
`source_file_path`, the idempotency key: a unique index over VARCHAR(255)+VARCHAR(1024) in
utf8mb4 is past InnoDB's 3,072-byte key limit).
"""

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    true,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so migrations read the same on MySQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC now: DATETIME(6) columns hold UTC without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class JobStatus(enum.StrEnum):
    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    PARTIALLY_COMPLETED = "PARTIALLY_COMPLETED"
    FAILED = "FAILED"


FINAL_JOB_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.PARTIALLY_COMPLETED, JobStatus.FAILED}
)


class SubmissionType(enum.StrEnum):
    SINGLE_FILE = "SINGLE_FILE"
    ZIP_ARCHIVE = "ZIP_ARCHIVE"


class Severity(enum.StrEnum):
    """Ranked lowest first (see `SEVERITY_RANK`)."""

    INFO = "INFO"
    MINOR = "MINOR"
    MAJOR = "MAJOR"
    CRITICAL = "CRITICAL"
    BLOCKER = "BLOCKER"


SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class TaskStatus(enum.StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LintingJob(Base):
    __tablename__ = "linting_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"))
    submission_type: Mapped[SubmissionType] = mapped_column(
        _enum(SubmissionType, "submission_type")
    )
    source_path: Mapped[str] = mapped_column(String(1024))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    dialect: Mapped[str] = mapped_column(String(64))
    ignored_file_count: Mapped[int] = mapped_column(Integer, default=0)
    # Written every HEARTBEAT_SECONDS by a running flow; the reconciler fails a PROCESSING job
    # whose heartbeat stops (its host died: nothing in Prefect 3.9 would notice).
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The job's lint options (linting.options.JobOptions as JSON); NULL on older jobs.
    options: Mapped[dict[str, object] | None] = mapped_column(JSON)
    submitter: Mapped[str | None] = mapped_column(String(255))
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    # Last outcome of the completion callback: "delivered (HTTP 200)" or why it was not.
    callback_status: Mapped[str | None] = mapped_column(String(1024))
    # A re-lint (flow `relint`) names its original job, and records what changed against it:
    # {"added": n, "removed": n, "added_by_rule": {...}, "removed_by_rule": {...}}.
    relint_of: Mapped[str | None] = mapped_column(String(255))
    relint_changes: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # The API key that submitted the job (its public id), when keys are in use.
    api_key_id: Mapped[str | None] = mapped_column(String(32))
    # Issue 15: the project a job lints for (its profile is the job's lowest config layer),
    # the job its findings are compared with, the branch or tag it was run on, where each
    # config value came from, and the project's quality gate verdict once it ended.
    project_id: Mapped[str | None] = mapped_column(String(64))
    baseline_job_id: Mapped[str | None] = mapped_column(String(255))
    ref: Mapped[str | None] = mapped_column(String(255))
    config_sources: Mapped[dict[str, object] | None] = mapped_column(JSON)
    gate_verdict: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # Findings per severity, all and new, counted once when the job ended (the web UI's).
    finding_counts: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # The number of the job's current attempt (a row of `linting_job_attempts`): 1 for its first
    # run, one more for each retry, automatic (flows/attempts.py) or asked for.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Set while an automatic retry waits for its backoff: ACCEPTED, no flow run, not triggered
    # before this time (services/reconcile.py triggers it).
    retry_after: Mapped[datetime | None] = mapped_column(Timestamp)
    # When an API process claimed the job's callback ("sending"): a claim older than a delivery
    # can last was left by a dead process, and is claimed again (services/callbacks.py).
    callback_claimed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Every run of the job, oldest first (loaded with the job: `GET /jobs/{id}` shows them).
    attempts: Mapped[list["LintingJobAttempt"]] = relationship(
        order_by="LintingJobAttempt.number", lazy="selectin", viewonly=True
    )

    __table_args__ = (
        Index("ix_linting_jobs_status", "status"),
        Index("ix_linting_jobs_project_id_ref_created_at", "project_id", "ref", "created_at"),
        Index("ix_linting_jobs_submitter_created_at", "submitter", "created_at"),
        Index("ix_linting_jobs_created_at", "created_at"),
        Index("ix_linting_jobs_relint_of", "relint_of"),
        Index("ix_linting_jobs_api_key_id_created_at", "api_key_id", "created_at"),
    )


class LintingJobAttempt(Base):
    """One run of a job: when it started and ended, and why it ended without finishing the job
    (a crash, a lost host, an outage); `reason` is None for the run that finished it."""

    __tablename__ = "linting_job_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("linting_jobs.job_id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_linting_job_attempts_job_id_number", "job_id", "number", unique=True),
    )


class LintingTask(Base):
    __tablename__ = "linting_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(255), unique=True)
    job_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("linting_jobs.job_id", ondelete="CASCADE"), index=True
    )
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"))
    source_file_path: Mapped[str] = mapped_column(String(1024))
    result_file_path: Mapped[str | None] = mapped_column(String(1024))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    file_name: Mapped[str] = mapped_column(String(1024))
    source_path_hash: Mapped[str] = mapped_column(String(64))
    violation_count: Mapped[int | None] = mapped_column(Integer)
    # Dialect, templater, rules... SQLFluff applied to this file, and the config files it read.
    effective_config: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # Wall time of linting the file (GET /metrics' lint duration histogram).
    lint_seconds: Mapped[float | None] = mapped_column(Float)
    # Which Dask worker (its name; the host name outside Dask) linted the file.
    lint_host: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index(
            "uq_linting_tasks_job_id_source_path_hash", "job_id", "source_path_hash", unique=True
        ),
        # Progress counts (GET /jobs/{id}) read this index alone, even for 20,000-file jobs.
        Index("ix_linting_tasks_job_id_status", "job_id", "status"),
    )


class LintingViolation(Base):
    """One violation of one file, written with its task's row as the file finishes."""

    __tablename__ = "linting_violations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("linting_jobs.job_id", ondelete="CASCADE")
    )
    task_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("linting_tasks.task_id", ondelete="CASCADE"), index=True
    )
    file_name: Mapped[str] = mapped_column(String(1024))
    rule_code: Mapped[str] = mapped_column(String(32))
    rule_name: Mapped[str] = mapped_column(String(255))
    start_line: Mapped[int] = mapped_column(Integer)
    start_pos: Mapped[int] = mapped_column(Integer)
    end_line: Mapped[int | None] = mapped_column(Integer)
    end_pos: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    warning: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stable across line shifts (linting.fingerprints): matches a finding with a baseline's.
    fingerprint: Mapped[str | None] = mapped_column(String(40))
    # False once the job ended when its baseline has a finding of the same fingerprint
    # (linting.gate.settle); new (True) without a baseline, and while the job runs.
    is_new: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (
        Index("ix_linting_violations_job_id_rule_code", "job_id", "rule_code"),
        Index("ix_linting_violations_job_id_fingerprint", "job_id", "fingerprint"),
        # A page of a job's findings in the order they were written (the web UI), at any size.
        Index("ix_linting_violations_job_id_id", "job_id", "id"),
        Index("ix_linting_violations_job_id_is_new_id", "job_id", "is_new", "id"),
        # New findings per severity (gate, summary, UI) from the index alone.
        Index("ix_linting_violations_job_id_is_new_severity", "job_id", "is_new", "severity"),
        Index("ix_linting_violations_job_id_severity", "job_id", "severity"),
    )


class ApiKey(Base):
    """An API key: its public id, the SHA-256 of the whole key (never the key), who it is for."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class JobTombstone(Base):
    """What is left of a job the `cleanup` flow removed after RETENTION_DAYS: enough to answer
    `GET /jobs/{id}` with 410 and when it expired (and to whom: its API key)."""

    __tablename__ = "linting_job_tombstones"

    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    api_key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expired_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (Index("ix_linting_job_tombstones_expired_at", "expired_at"),)


class ServiceCounter(Base):
    """A service-wide counter (GET /metrics' `*_total` and the lint-duration histogram), added to
    in the transaction that records what it counts, so a scrape reads a few rows, not the tasks.
    `label` is the one label's value ('' when the counter has none)."""

    __tablename__ = "service_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float(precision=53), default=0.0)


class Project(Base):
    """A project (issue 15): a stored lint profile, severity overrides and a quality gate."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # linting.options.JobOptions fields (dialect, templater, rules, exclude_rules) as JSON.
    profile: Mapped[dict[str, object]] = mapped_column(JSON)
    config_text: Mapped[str | None] = mapped_column(Text)
    severity_overrides: Mapped[dict[str, str]] = mapped_column(JSON)
    gate: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class ProjectKey(Base):
    """An API key a project belongs to: it may read and change the project and its jobs."""

    __tablename__ = "project_keys"

    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.project_id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
