"""checkpoint permissions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_permissions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=512), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("grantee_project_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grantee_project_id"],
            ["projects.id"],
            name=op.f("fk_checkpoint_permissions_grantee_project_id_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_checkpoint_permissions_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint_permissions")),
        sa.UniqueConstraint(
            "model_name",
            "grantee_project_id",
            name=op.f("uq_checkpoint_permissions_model_name"),
        ),
    )
    with op.batch_alter_table("checkpoint_permissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkpoint_permissions_grantee_project_id"),
            ["grantee_project_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_checkpoint_permissions_order",
            ["model_name", "created_us", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("checkpoint_permissions", schema=None) as batch_op:
        batch_op.drop_index("ix_checkpoint_permissions_order")
        batch_op.drop_index(batch_op.f("ix_checkpoint_permissions_grantee_project_id"))

    op.drop_table("checkpoint_permissions")
