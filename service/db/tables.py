"""Storage rows (SQLAlchemy). Only the store modules use these; domain code sees records."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


class FileRow(Base):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_project_order", "project_id", "created_us", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    status_details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Microseconds give list order within one second; (created_us, id) is a total order.
    created_us: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    # Filled by content validation of fine-tune files: detected format and example count.
    data_format: Mapped[str | None] = mapped_column(String(16))
    n_examples: Mapped[int | None] = mapped_column(BigInteger)


class DatasetReportRow(Base):
    """A file's tokenization report for one base model (computed once, then served)."""

    __tablename__ = "dataset_reports"

    file_id: Mapped[str] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    report_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class UploadRow(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    file_expires_after_s: Mapped[int | None] = mapped_column(Integer)
    file_id: Mapped[str | None] = mapped_column(String(64))


class UploadPartRow(Base):
    __tablename__ = "upload_parts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_project_order", "project_id", "created_us", "id"),
        Index("ix_jobs_status", "status"),
        UniqueConstraint("project_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    organization_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    training_file: Mapped[str] = mapped_column(String(64))
    validation_file: Mapped[str | None] = mapped_column(String(64))
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    method_json: Mapped[str] = mapped_column(Text)
    hyperparameters_json: Mapped[str] = mapped_column(Text)
    integrations_json: Mapped[str | None] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_param: Mapped[str | None] = mapped_column(String(64))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(512))
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    result_files_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    estimated_finish: Mapped[int | None] = mapped_column(BigInteger)
    heartbeat_us: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    evaluation_json: Mapped[str | None] = mapped_column(Text)
    eval_summary_json: Mapped[str | None] = mapped_column(Text)
    learning_rate: Mapped[float | None] = mapped_column(Float)


class JobMetadataRow(Base):
    """One ``metadata`` pair of a job, for ``metadata[k]=v`` list filters."""

    __tablename__ = "job_metadata"
    __table_args__ = (Index("ix_job_metadata_pair", "key", "value"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))


class JobEventRow(Base):
    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_order", "job_id", "created_us", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))
    data_json: Mapped[str | None] = mapped_column(Text)


class CheckpointRow(Base):
    __tablename__ = "job_checkpoints"
    __table_args__ = (
        Index("ix_job_checkpoints_order", "job_id", "created_us", "id"),
        UniqueConstraint("job_id", "step_number"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    step_number: Mapped[int] = mapped_column(Integer)
    metrics_json: Mapped[str] = mapped_column(Text)
    fine_tuned_model_checkpoint: Mapped[str] = mapped_column(String(512), unique=True)
    blob_prefix: Mapped[str] = mapped_column(String(512))


class FineTunedModelRow(Base):
    """A published adapter, callable by its ``ft:`` name."""

    __tablename__ = "fine_tuned_models"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)  # the ft:... name
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    # The job that trained it; None for an adapter imported with ``POST /v1/models/import``.
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    base_model: Mapped[str] = mapped_column(String(256))
    blob_prefix: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger)
    # Set by the blob reaper once the adapter and the job's checkpoints are gone from the store.
    blobs_deleted_at: Mapped[int | None] = mapped_column(BigInteger)


class PendingBlobRow(Base):
    """Blobs no row refers to (yet): a blob prefix (ending in ``/``) or one key that a training
    attempt wrote before the row publishing it, or that a pruned checkpoint left behind. The
    transaction writing the referring row deletes the entry; the sweep deletes the blobs of
    entries older than its grace period."""

    __tablename__ = "pending_blobs"

    target: Mapped[str] = mapped_column(String(1024), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    pending_since: Mapped[int] = mapped_column(BigInteger, index=True)
    # Set by the sweep before it deletes the blobs, so a late commit can no longer adopt them.
    doomed: Mapped[bool] = mapped_column(Boolean, default=False)


class CheckpointPermissionRow(Base):
    """A grant: the owning project lets another project of its organization use one of its
    fine-tuned models or checkpoints, named by its public ``ft:`` name."""

    __tablename__ = "checkpoint_permissions"
    __table_args__ = (
        Index("ix_checkpoint_permissions_order", "model_name", "created_us", "id"),
        UniqueConstraint("model_name", "grantee_project_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(512))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))  # the owner
    grantee_project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)


class WebhookEndpointRow(Base):
    """A project's webhook endpoint. The signing secret is stored (it is needed to sign)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_project_order", "project_id", "created_us", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    url: Mapped[str] = mapped_column(String(2048))
    name: Mapped[str] = mapped_column(String(256))
    event_types_json: Mapped[str] = mapped_column(Text)
    signing_secret: Mapped[str] = mapped_column(String(128))
    previous_signing_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class WebhookDeliveryRow(Base):
    """One event on its way to one endpoint; ``attempts`` is the compare-and-set claim."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_order", "endpoint_id", "created_us", "id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # One delivery per endpoint, event type and job: a repeated notification adds nothing.
        UniqueConstraint("endpoint_id", "event_type", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)


class WebhookAttemptRow(Base):
    """One try at sending a delivery: the delivery log's history."""

    __tablename__ = "webhook_delivery_attempts"

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempted_at: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class EvalRow(Base):
    """An eval: what its items look like and the criteria a sample is graded by (JSON)."""

    __tablename__ = "evals"
    __table_args__ = (Index("ix_evals_project_order", "project_id", "created_us", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(256))
    data_source_config: Mapped[str] = mapped_column(Text)
    testing_criteria: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)


class EvalRunRow(Base):
    """One run of an eval over a data source; ``status`` moves by compare-and-set.

    The counters and usage are rewritten from the run's output items by the worker that runs it,
    so a restarted run never counts an item twice."""

    __tablename__ = "eval_runs"
    __table_args__ = (
        Index("ix_eval_runs_eval_order", "eval_id", "created_us", "id"),
        Index("ix_eval_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    eval_id: Mapped[str] = mapped_column(ForeignKey("evals.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(256))
    data_source: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)  # {"code": …, "message": …} once failed
    total_items: Mapped[int | None] = mapped_column(Integer)
    result_counts: Mapped[str] = mapped_column(Text)
    per_model_usage: Mapped[str] = mapped_column(Text)
    per_testing_criteria_results: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)  # how many times a worker started it
    heartbeat_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)


class EvalOutputItemRow(Base):
    """One graded item of a run. The unique (run, item) pair is what grades each item once,
    however often the run is restarted."""

    __tablename__ = "eval_output_items"
    __table_args__ = (
        UniqueConstraint("run_id", "datasource_item_id"),
        Index("ix_eval_output_items_run_status", "run_id", "status", "datasource_item_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"))
    eval_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    datasource_item_id: Mapped[int] = mapped_column(Integer)
    datasource_item: Mapped[str] = mapped_column(Text)
    sample: Mapped[str] = mapped_column(Text)
    results: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pass | fail | error
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
