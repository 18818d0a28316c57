"""index tasks by job and status

Revision ID: 202430f2e4ad
Revises: 596814cb16d0
Create Date: 2026-11-29 03:28:21.569588
"""

from collections.abc import Sequence

from alembic import op

revision: str = "202430f2e4ad"
down_revision: str | None = "596814cb16d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("linting_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_linting_tasks_job_id_status", ["job_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("linting_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_linting_tasks_job_id_status")
