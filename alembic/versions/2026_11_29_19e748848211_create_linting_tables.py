"""create linting tables

Revision ID: 19e748848211
Revises:
Create Date: 2026-11-29 01:58:58.372004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "19e748848211"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linting_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACCEPTED",
                "PROCESSING",
                "COMPLETED",
                "PARTIALLY_COMPLETED",
                "FAILED",
                name="job_status",
            ),
            nullable=False,
        ),
        sa.Column(
            "submission_type",
            sa.Enum("SINGLE_FILE", "ZIP_ARCHIVE", name="submission_type"),
            nullable=False,
        ),
        sa.Column("source_path", sa.String(length=1024), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("dialect", sa.String(length=64), nullable=False),
        sa.Column("ignored_file_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linting_jobs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_linting_jobs_job_id")),
    )
    with op.batch_alter_table("linting_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_linting_jobs_status", ["status"], unique=False)

    op.create_table(
        "linting_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum("PENDING", "IN_PROGRESS", "SUCCESS", "FAILURE", name="task_status"),
            nullable=False,
        ),
        sa.Column("source_file_path", sa.String(length=1024), nullable=False),
        sa.Column("result_file_path", sa.String(length=1024), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column("file_name", sa.String(length=1024), nullable=False),
        sa.Column("source_path_hash", sa.String(length=64), nullable=False),
        sa.Column("violation_count", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["linting_jobs.job_id"],
            name=op.f("fk_linting_tasks_job_id_linting_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linting_tasks")),
        sa.UniqueConstraint("task_id", name=op.f("uq_linting_tasks_task_id")),
    )
    with op.batch_alter_table("linting_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_linting_tasks_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            "uq_linting_tasks_job_id_source_path_hash", ["job_id", "source_path_hash"], unique=True
        )


def downgrade() -> None:
    # Dropping the tables drops their indexes; dropping ix_linting_tasks_job_id first fails on
    # MySQL because the foreign key needs it.
    op.drop_table("linting_tasks")
    op.drop_table("linting_jobs")
