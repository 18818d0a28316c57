"""job tombstones: what remains of a job removed by retention (GET /jobs/{id} answers 410)

Revision ID: b7e16c1ea5e0
Revises: 88cac15e9c2b
Create Date: 2026-11-29 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "b7e16c1ea5e0"
down_revision: str | None = "88cac15e9c2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "linting_job_tombstones",
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expired_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_linting_job_tombstones")),
    )
    op.create_index(
        "ix_linting_job_tombstones_expired_at", "linting_job_tombstones", ["expired_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_linting_job_tombstones_expired_at", table_name="linting_job_tombstones")
    op.drop_table("linting_job_tombstones")
