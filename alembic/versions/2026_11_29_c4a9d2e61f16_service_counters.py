"""service counters: GET /metrics' totals kept as rows, not computed from linting_tasks

Created with every counter's row, counted once from the tasks already there.

Revision ID: c4a9d2e61f16
Revises: b7e16c1ea5e0
Create Date: 2026-11-29 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c4a9d2e61f16"
down_revision: str | None = "b7e16c1ea5e0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision (db/queries/counters.py may add more later; they start at 0).
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def upgrade() -> None:
    counters = op.create_table(
        "service_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name", "label", name=op.f("pk_service_counters")),
    )
    tasks = sa.table(
        "linting_tasks",
        sa.column("status", sa.String),
        sa.column("violation_count", sa.Integer),
        sa.column("lint_seconds", sa.Float),
    )
    bind = op.get_bind()
    finished = dict(
        bind.execute(
            sa.select(tasks.c.status, sa.func.count())
            .where(tasks.c.status.in_(["SUCCESS", "FAILURE"]))
            .group_by(tasks.c.status)
        ).all()
    )
    seconds = tasks.c.lint_seconds
    row = bind.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(tasks.c.violation_count), 0),
            sa.func.coalesce(sa.func.sum(seconds), 0.0),
            sa.func.count(seconds),
            *(sa.func.sum(sa.case((seconds <= b, 1), else_=0)) for b in BUCKETS),
        )
    ).one()
    rows = [
        {"name": "files_linted", "label": s, "value": float(finished.get(s, 0))}
        for s in ("SUCCESS", "FAILURE")
    ]
    rows += [
        {"name": "violations", "label": "", "value": float(row[0] or 0)},
        {"name": "lint_seconds_sum", "label": "", "value": float(row[1] or 0)},
        {"name": "lint_seconds_count", "label": "", "value": float(row[2] or 0)},
    ]
    rows += [
        {"name": "lint_seconds_bucket", "label": str(b), "value": float(n or 0)}
        for b, n in zip(BUCKETS, row[3:], strict=True)
    ]
    op.bulk_insert(counters, rows)


def downgrade() -> None:
    op.drop_table("service_counters")
