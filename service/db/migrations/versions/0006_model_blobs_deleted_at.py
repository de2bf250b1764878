"""fine-tuned models: when the blob reaper removed a deleted model's blobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fine_tuned_models") as batch:
        batch.add_column(sa.Column("blobs_deleted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fine_tuned_models") as batch:
        batch.drop_column("blobs_deleted_at")
