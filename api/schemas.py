"""Request and response models of SPEC §5, built explicitly from rows."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from db.models import LintingJob, LintingTask, TaskStatus


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql_content: str | None = Field(default=None, description="The SQL text to lint.")
    zip_file_path: str | None = Field(
        default=None, description="Path of a ZIP under the shared directory, relative to its root."
    )
    dialect: str | None = Field(
        default=None, description="SQLFluff dialect; SQLFLUFF_DIALECT if unset."
    )


class JobAccepted(BaseModel):
    job_id: str


class TaskItem(BaseModel):
    """A task in a job's page; `result_file_path` on SUCCESS, `error_message` on FAILURE."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    file_name: str
    status: TaskStatus

    @classmethod
    def from_row(cls, row: LintingTask) -> "TaskItem":
        extra: dict[str, object] = {}
        if row.status == TaskStatus.SUCCESS:
            extra = {
                "result_file_path": row.result_file_path,
                "violation_count": row.violation_count,
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
    job_status: str
    submission_type: str
    source_path: str
    created_at: datetime
    updated_at: datetime
    error_message: str | None
    dialect: str
    flow_run_id: str | None
    ignored_file_count: int
    progress: dict[str, int] = Field(description="Task counts by status.")
    sub_tasks: TaskPage

    @classmethod
    def from_rows(cls, job: LintingJob, counts: dict[TaskStatus, int], page: TaskPage) -> "JobOut":
        return cls(
            job_id=job.job_id,
            job_status=job.status.value,
            submission_type=job.submission_type.value,
            source_path=job.source_path,
            created_at=job.created_at,
            updated_at=job.updated_at,
            error_message=job.error_message,
            dialect=job.dialect,
            flow_run_id=job.flow_run_id,
            ignored_file_count=job.ignored_file_count,
            progress={k.value: v for k, v in counts.items()},
            sub_tasks=page,
        )
