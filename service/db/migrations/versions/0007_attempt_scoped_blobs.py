"""attempt-scoped blobs: checkpoints record their blob prefix; blobs pending a referring row

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00.000000

Checkpoints written before this revision sit at the job-wide
``projects/{project_id}/jobs/{job_id}/checkpoints/step-{n}/``; their rows get that prefix, so
resuming from them, serving them and deleting them keep working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out whole (`||` and CAST mean the same on SQLite and PostgreSQL).
_BACKFILL_JOB_WIDE_PREFIXES = (
    "UPDATE job_checkpoints SET blob_prefix = 'projects/' || project_id || '/jobs/' || job_id "
    "|| '/checkpoints/step-' || CAST(step_number AS VARCHAR) || '/'"
)


def upgrade() -> None:
    with op.batch_alter_table("job_checkpoints") as batch:
        batch.add_column(sa.Column("blob_prefix", sa.String(length=512), nullable=True))
    op.execute(_BACKFILL_JOB_WIDE_PREFIXES)
    with op.batch_alter_table("job_checkpoints") as batch:
        batch.alter_column("blob_prefix", existing_type=sa.String(length=512), nullable=False)

    op.create_table(
        "pending_blobs",
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("pending_since", sa.BigInteger(), nullable=False),
        sa.Column("doomed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_pending_blobs")),
    )
    with op.batch_alter_table("pending_blobs") as batch:
        batch.create_index(
            batch.f("ix_pending_blobs_pending_since"), ["pending_since"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_blobs") as batch:
        batch.drop_index(batch.f("ix_pending_blobs_pending_since"))
    op.drop_table("pending_blobs")
    with op.batch_alter_table("job_checkpoints") as batch:
        batch.drop_column("blob_prefix")
