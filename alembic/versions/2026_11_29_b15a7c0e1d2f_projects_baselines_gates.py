"""projects, baselines, gates (issue 15)

Existing jobs get no project, baseline or verdict (NULL); existing violations no fingerprint,
and are new (they had no baseline).

Revision ID: b15a7c0e1d2f
Revises: 88cac15e9c2b
Create Date: 2026-11-29 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "b15a7c0e1d2f"
down_revision: str | None = "c4a9d2e61f16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("config_text", sa.Text(), nullable=True),
        sa.Column("severity_overrides", sa.JSON(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("project_id", name=op.f("uq_projects_project_id")),
    )
    op.create_table(
        "project_keys",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.project_id"],
            name=op.f("fk_project_keys_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "key_id", name=op.f("pk_project_keys")),
    )
    with op.batch_alter_table("linting_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("project_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("baseline_job_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("ref", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("config_sources", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("gate_verdict", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("finding_counts", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_linting_jobs_project_id_ref_created_at",
            ["project_id", "ref", "created_at"],
            unique=False,
        )
    with op.batch_alter_table("linting_violations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "ix_linting_violations_job_id_fingerprint", ["job_id", "fingerprint"], unique=False
        )
        batch_op.add_column(
            sa.Column("is_new", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_index("ix_linting_violations_job_id_id", ["job_id", "id"], unique=False)
        batch_op.create_index(
            "ix_linting_violations_job_id_is_new_id", ["job_id", "is_new", "id"], unique=False
        )
        batch_op.create_index(
            "ix_linting_violations_job_id_is_new_severity",
            ["job_id", "is_new", "severity"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("linting_violations", schema=None) as batch_op:
        batch_op.drop_index("ix_linting_violations_job_id_is_new_severity")
        batch_op.drop_index("ix_linting_violations_job_id_is_new_id")
        batch_op.drop_index("ix_linting_violations_job_id_id")
        batch_op.drop_column("is_new")
        batch_op.drop_index("ix_linting_violations_job_id_fingerprint")
        batch_op.drop_column("fingerprint")
    with op.batch_alter_table("linting_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_linting_jobs_project_id_ref_created_at")
        batch_op.drop_column("finding_counts")
        batch_op.drop_column("gate_verdict")
        batch_op.drop_column("config_sources")
        batch_op.drop_column("ref")
        batch_op.drop_column("baseline_job_id")
        batch_op.drop_column("project_id")
    op.drop_table("project_keys")
    op.drop_table("projects")
