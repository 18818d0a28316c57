"""add job heartbeat

Revision ID: 596814cb16d0
Revises: 19e748848211
Create Date: 2026-11-29 02:54:12.681907
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "596814cb16d0"
down_revision: str | None = "19e748848211"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("linting_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "heartbeat_at",
                sa.DateTime()
                .with_variant(mysql.DATETIME(fsp=6), "mariadb")
                .with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("linting_jobs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
