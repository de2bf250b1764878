"""dataset reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 01:14:42.799006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_reports",
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=256), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_dataset_reports_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", "model_id", name=op.f("pk_dataset_reports")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_format", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("n_examples", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("n_examples")
        batch_op.drop_column("data_format")

    op.drop_table("dataset_reports")
