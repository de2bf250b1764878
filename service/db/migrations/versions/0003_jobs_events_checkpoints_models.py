"""jobs events checkpoints models

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 01:27:55.661847
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fine_tuned_models",
        sa.Column("id", sa.String(length=512), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("base_model", sa.String(length=256), nullable=False),
        sa.Column("blob_prefix", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_fine_tuned_models_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fine_tuned_models")),
    )
    with op.batch_alter_table("fine_tuned_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fine_tuned_models_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_fine_tuned_models_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("training_file", sa.String(length=64), nullable=False),
        sa.Column("validation_file", sa.String(length=64), nullable=True),
        sa.Column("suffix", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("method_json", sa.Text(), nullable=False),
        sa.Column("hyperparameters_json", sa.Text(), nullable=False),
        sa.Column("integrations_json", sa.Text(), nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_param", sa.String(length=64), nullable=True),
        sa.Column("fine_tuned_model", sa.String(length=512), nullable=True),
        sa.Column("trained_tokens", sa.BigInteger(), nullable=True),
        sa.Column("result_files_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("estimated_finish", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat_us", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_jobs_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("project_id", "idempotency_key", name=op.f("uq_jobs_project_id")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_project_order", ["project_id", "created_us", "id"], unique=False
        )
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)

    op.create_table(
        "job_checkpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("step_number", sa.Integer(), nullable=False),
        sa.Column("metrics_json", sa.Text(), nullable=False),
        sa.Column("fine_tuned_model_checkpoint", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_checkpoints_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_job_checkpoints_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_checkpoints")),
        sa.UniqueConstraint(
            "fine_tuned_model_checkpoint",
            name=op.f("uq_job_checkpoints_fine_tuned_model_checkpoint"),
        ),
        sa.UniqueConstraint("job_id", "step_number", name=op.f("uq_job_checkpoints_job_id")),
    )
    with op.batch_alter_table("job_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_checkpoints_order", ["job_id", "created_us", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_job_checkpoints_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "job_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_events_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
    )
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.create_index("ix_job_events_order", ["job_id", "created_us", "id"], unique=False)

    op.create_table(
        "job_metadata",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_metadata_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "key", name=op.f("pk_job_metadata")),
    )
    with op.batch_alter_table("job_metadata", schema=None) as batch_op:
        batch_op.create_index("ix_job_metadata_pair", ["key", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_metadata", schema=None) as batch_op:
        batch_op.drop_index("ix_job_metadata_pair")

    op.drop_table("job_metadata")
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_index("ix_job_events_order")

    op.drop_table("job_events")
    with op.batch_alter_table("job_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_checkpoints_project_id"))
        batch_op.drop_index("ix_job_checkpoints_order")

    op.drop_table("job_checkpoints")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status")
        batch_op.drop_index("ix_jobs_project_order")

    op.drop_table("jobs")
    with op.batch_alter_table("fine_tuned_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fine_tuned_models_project_id"))
        batch_op.drop_index(batch_op.f("ix_fine_tuned_models_job_id"))

    op.drop_table("fine_tuned_models")
