"""fine-tuned models: an imported adapter (``POST /v1/models/import``) has no job

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fine_tuned_models") as batch:
        batch.alter_column("job_id", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # Imported models have no job to point at: they cannot survive a downgrade.
    op.execute("DELETE FROM fine_tuned_models WHERE job_id IS NULL")
    with op.batch_alter_table("fine_tuned_models") as batch:
        batch.alter_column("job_id", existing_type=sa.String(length=64), nullable=False)
