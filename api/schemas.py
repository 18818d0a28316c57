"""Request and response models of docs/api.md, HTTP API, built explicitly from rows."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)

from db.models import JobStatus, LintingJob, LintingTask, Severity, SubmissionType, TaskStatus
from linting.options import JobOptions

RuleCodes = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]],
    Field(max_length=500),
]


def _not_unicode(value: object) -> bool:
    """A text with a lone surrogate (JSON allows `"\\ud800"`): no file, database or config
    parser can take it, so it is refused with the request, not failed on later."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list | tuple):
        return any(_not_unicode(v) for v in value)
    if isinstance(value, dict):
        return any(_not_unicode(k) or _not_unicode(v) for k, v in value.items())
    return False


class TextIn(BaseModel):
    """A request body whose every text must be valid Unicode."""

    @model_validator(mode="after")
    def _unicode_only(self) -> Self:
        for name in type(self).model_fields:
            if _not_unicode(getattr(self, name)):
                raise ValueError(f"'{name}' is not valid Unicode text (it holds a lone surrogate)")
        return self


class LintOptionsIn(TextIn):
    """SQLFluff options of a submission (as `sqlfluff lint` flags and `--config`)."""

    model_config = ConfigDict(extra="forbid")

    dialect: str | None = Field(
        default=None,
        description="SQLFluff dialect; if unset, a .sqlfluff's dialect, else SQLFLUFF_DIALECT.",
    )
    templater: str | None = Field(default=None, description="raw, jinja, placeholder or python.")
    rules: RuleCodes | None = Field(default=None, description="Only these rules (codes/groups).")
    exclude_rules: RuleCodes | None = Field(default=None, description="Rules to leave out.")
    config: str | None = Field(
        default=None,
        description="The text of a .sqlfluff file, applied like `sqlfluff --config`.",
    )

    def job_options(self, fix: bool = False) -> JobOptions:
        return JobOptions(
            dialect=self.dialect,
            templater=self.templater,
            rules=tuple(self.rules or ()),
            exclude_rules=tuple(self.exclude_rules or ()),
            has_config=self.config is not None,
            fix=fix,
        )


class JobExtras(TextIn):
    """What a job carries beyond its SQL and lint options."""

    fix: bool = Field(default=False, description="Also store SQLFluff's fixed SQL and a diff.")
    submitter: str | None = Field(
        default=None, max_length=255, description="Who submitted (filter of GET /jobs)."
    )
    callback_url: AnyHttpUrl | None = Field(
        default=None, description="POSTed the job's summary when it ends (HMAC-signed)."
    )
    project_id: str | None = Field(
        default=None, max_length=64, description="Lint with this project's profile and gate."
    )
    baseline_job_id: str | None = Field(
        default=None, max_length=255, description="Compare findings with this job's."
    )
    baseline: Literal["latest"] | None = Field(
        default=None,
        description="'latest': the project's last COMPLETED job (on `ref`, when given).",
    )
    ref: str | None = Field(
        default=None, max_length=255, description="The branch or tag linted (baseline: latest)."
    )


class JobCreate(LintOptionsIn, JobExtras):
    sql_content: str | None = Field(default=None, description="The SQL text to lint.")
    zip_file_path: str | None = Field(
        default=None, description="Path of a ZIP under the shared directory, relative to its root."
    )


class LintNow(LintOptionsIn):
    """`POST /lint`: SQL answered at once."""

    sql: str = Field(description="The SQL text (up to INLINE_MAX_BYTES).")


class JobAccepted(BaseModel):
    job_id: str


class TaskItem(BaseModel):
    """A file task in a job's page. Only a SUCCESS item carries `result_file_path` and the rest
    of its outcome, only a FAILURE item its `error_message` (the route leaves out what is
    unset)."""

    task_id: str
    file_name: str
    status: TaskStatus
    result_file_path: str | None = Field(default=None, description="SUCCESS: the result JSON.")
    violation_count: int | None = Field(default=None, description="SUCCESS: violations found.")
    effective_config: dict[str, Any] | None = Field(
        default=None, description="SUCCESS: the settings SQLFluff used and the config files read."
    )
    lint_host: str | None = Field(default=None, description="SUCCESS: the worker that linted it.")
    error_message: str | None = Field(default=None, description="FAILURE: why it was not linted.")

    @classmethod
    def from_row(cls, row: LintingTask) -> "TaskItem":
        extra: dict[str, object] = {}
        if row.status == TaskStatus.SUCCESS:
            extra = {
                "result_file_path": row.result_file_path,
                "violation_count": row.violation_count,
                "effective_config": row.effective_config,
                "lint_host": row.lint_host,
            }
        elif row.status == TaskStatus.FAILURE:
            extra = {"error_message": row.error_message}
        return cls(task_id=row.task_id, file_name=row.file_name, status=row.status, **extra)


class TaskPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[TaskItem]


class JobOut(BaseModel):
    job_id: str
    job_status: JobStatus
    submission_type: SubmissionType
    source_path: str
    created_at: datetime
    updated_at: datetime
    error_message: str | None
    dialect: str
    flow_run_id: str | None
    ignored_file_count: int
    submitter: str | None
    options: dict[str, Any] | None = Field(description="The job's lint options.")
    callback_status: str | None
    api_key_id: str | None = Field(description="The API key that submitted the job.")
    relint_of: str | None = Field(description="The original job, for a re-lint.")
    relint_changes: dict[str, Any] | None = Field(
        description="For a re-lint: violations added and removed against the original, by rule."
    )
    progress: dict[str, int] = Field(description="Task counts by status.")
    sub_tasks: TaskPage
    project_id: str | None = Field(default=None, description="The job's project.")
    baseline_job_id: str | None = Field(default=None, description="The job compared with.")
    ref: str | None = None
    config_sources: dict[str, Any] | None = Field(
        default=None, description="Each config value the job's layers set, and which layer."
    )
    gate: dict[str, Any] | None = Field(
        default=None, description="The project's quality gate verdict, once the job ended."
    )
    attempts: list[dict[str, Any]] | None = Field(
        default=None,
        description="Each run of the job, oldest first: number, flow_run_id, started_at, "
        "ended_at, reason (why it ended without finishing the job; null for the one that did). "
        "A crashed run is retried automatically up to JOB_MAX_ATTEMPTS.",
    )

    @classmethod
    def from_rows(cls, job: LintingJob, counts: dict[TaskStatus, int], page: TaskPage) -> "JobOut":
        return cls(
            job_id=job.job_id,
            job_status=job.status,
            submission_type=job.submission_type,
            source_path=job.source_path,
            created_at=job.created_at,
            updated_at=job.updated_at,
            error_message=job.error_message,
            dialect=job.dialect,
            flow_run_id=job.flow_run_id,
            ignored_file_count=job.ignored_file_count,
            submitter=job.submitter,
            options=job.options,
            callback_status=job.callback_status,
            api_key_id=job.api_key_id,
            relint_of=job.relint_of,
            relint_changes=job.relint_changes,
            progress={k.value: v for k, v in counts.items()},
            sub_tasks=page,
            project_id=job.project_id,
            baseline_job_id=job.baseline_job_id,
            ref=job.ref,
            config_sources=job.config_sources,
            gate=job.gate_verdict,
            attempts=[
                {
                    "number": a.number,
                    "flow_run_id": a.flow_run_id,
                    "started_at": a.started_at,
                    "ended_at": a.ended_at,
                    "reason": a.reason,
                }
                for a in job.attempts
            ],
        )


class JobListItem(BaseModel):
    job_id: str
    job_status: JobStatus
    submission_type: SubmissionType
    source_path: str
    dialect: str
    submitter: str | None
    created_at: datetime
    updated_at: datetime
    error_message: str | None
    relint_of: str | None
    relint_changes: dict[str, Any] | None

    @classmethod
    def from_row(cls, job: LintingJob) -> "JobListItem":
        return cls(
            job_id=job.job_id,
            job_status=job.status,
            submission_type=job.submission_type,
            source_path=job.source_path,
            dialect=job.dialect,
            submitter=job.submitter,
            created_at=job.created_at,
            updated_at=job.updated_at,
            error_message=job.error_message,
            relint_of=job.relint_of,
            relint_changes=job.relint_changes,
        )


class JobList(BaseModel):
    total: int
    page: int
    size: int
    items: list[JobListItem]


class ViolationOut(BaseModel):
    """A row of `linting_violations` (build with `model_validate(row)`)."""

    model_config = ConfigDict(from_attributes=True)

    task_id: str
    file_name: str
    rule_code: str
    rule_name: str
    severity: Severity
    start_line: int
    start_pos: int
    end_line: int | None
    end_pos: int | None
    description: str
    warning: bool
    fingerprint: str | None = None
    is_new: bool = Field(exclude=True)

    @computed_field(  # type: ignore[prop-decorator]
        description="Against the job's baseline, settled when the job ends (new without one)."
    )
    @property
    def status(self) -> Literal["new", "existing"]:
        return "new" if self.is_new else "existing"


class ViolationPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[ViolationOut]


class RuleCount(BaseModel):
    code: str
    name: str
    severity: Severity
    count: int


class FileCount(BaseModel):
    file_name: str
    violations: int


class Progress(BaseModel):
    done: int
    total: int
    percent: float


class JobSummaryOut(BaseModel):
    job_id: str
    job_status: JobStatus
    error_message: str | None
    progress: Progress
    tasks_by_status: dict[str, int]
    violations_total: int
    by_severity: dict[str, int]
    by_rule: list[RuleCount]
    top_files: list[FileCount]
    new_only: bool = Field(default=False, description="Counts of new findings only.")
    baseline_job_id: str | None = None
    new_by_severity: dict[str, int] | None = Field(
        default=None, description="New findings per severity, against the baseline."
    )
    gate: dict[str, Any] | None = Field(default=None, description="The quality gate verdict.")


class LintViolation(BaseModel):
    """One violation as `sqlfluff lint --format json` reports it, with its severity."""

    model_config = ConfigDict(extra="allow")  # SQLFluff's own record: its fields are SQLFluff's

    code: str | None = None
    description: str | None = None
    name: str | None = None
    start_line_no: int | None = None
    start_line_pos: int | None = None
    end_line_no: int | None = None
    end_line_pos: int | None = None
    warning: bool | None = None
    severity: Severity


class LintResult(BaseModel):
    """`POST /lint`: the violations of the submitted SQL."""

    file_name: str
    violation_count: int
    violations: list[LintViolation]
    effective_config: dict[str, Any] | None
