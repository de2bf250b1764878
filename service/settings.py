"""Configuration, read once from the environment (prefix ``FTAPI_``, nested groups split by ``__``).

Example: ``FTAPI_DATABASE__URL=postgresql+asyncpg://...`` or ``FTAPI_STORAGE__BACKEND=s3``.
Settings are built in ``create_app`` and in each worker's start-up and handed down; no module
holds a global instance.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "minioadmin", "password"})


class Environment(StrEnum):
    """Where the service runs; production refuses placeholder secrets."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    """Which blob store keeps file bodies, checkpoints and adapters."""

    LOCAL = "local"
    S3 = "s3"


class DatabaseSettings(BaseModel):
    """Metadata store connection."""

    url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means a SQLite file in the data dir.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging).")
    pool_size: int = Field(default=10, ge=1, description="Database connections per process.")
    migrate_on_start: bool = Field(
        default=True, description="Run Alembic migrations when the api starts (dev convenience)."
    )


class RedisSettings(BaseModel):
    """Redis, used as the arq transport only."""

    url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis carrying the arq job queues."
    )
    connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Longest wait for a Redis connection."
    )


class StorageSettings(BaseModel):
    """Blob store: the local disk by default, any S3-compatible store by URL."""

    backend: StorageBackend = Field(
        default=StorageBackend.LOCAL,
        description="Where file bodies, checkpoints and adapters are kept.",
    )
    local_dir: Path | None = Field(
        default=None, description="Root of the local blob store; default <data_dir>/blobs."
    )
    s3_bucket: str = Field(default="", description="Bucket; required when backend is s3.")
    s3_prefix: str = Field(default="", description="Prefix of every key ftapi writes.")
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of a non-AWS store (MinIO, R2, …); unset: AWS."
    )
    s3_region: str = Field(default="us-east-1", description="Region of the bucket.")
    s3_path_style: bool = Field(default=False, description="Path-style addressing (MinIO).")
    s3_access_key_id: str | None = Field(
        default=None, description="Unset: boto3's default credential chain."
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="Unset: boto3's default credential chain."
    )
    s3_part_size_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="Part size of multipart uploads to the store.",
    )
    abandoned_write_s: int = Field(
        default=24 * 3600,
        ge=0,
        description="A write left unfinished this long (its writer died) is swept by the ctl "
        "worker: temp files on disk, multipart uploads on S3, and a training attempt's uploads "
        "that never became a model or checkpoint.",
    )

    @model_validator(mode="after")
    def _bucket_required_for_s3(self) -> Self:
        if self.backend is StorageBackend.S3 and not self.s3_bucket:
            raise ValueError("storage.s3_bucket is required when storage.backend is 's3'")
        return self


class LimitsSettings(BaseModel):
    """Sizes and lifetimes users can hit; the OpenAI defaults unless an operator changes them."""

    max_file_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, description="Largest POST /v1/files body (413 above)."
    )
    max_upload_bytes: int = Field(
        default=8 * 1024 * 1024 * 1024, ge=1, description="Largest file made by the Uploads API."
    )
    max_upload_part_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="Largest part of an upload."
    )
    upload_ttl_s: int = Field(
        default=3600, ge=1, description="An upload not completed this long expires."
    )
    max_json_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body other than file bytes."
    )
    max_training_line_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Longest JSONL line a training file may have."
    )
    max_training_examples: int = Field(
        default=10_000_000, ge=1, description="Most examples a training file may have."
    )
    min_training_examples: int = Field(
        default=10, ge=1, description="Fewest examples a training file may have."
    )


class AuthSettings(BaseModel):
    """API keys."""

    key_prefix: str = Field(default="sk-ft-", description="Prefix of newly issued keys.")
    last_used_resolution_s: int = Field(
        default=60, ge=0, description="last_used_at is written at most this often per key."
    )
    cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="How long an api replica trusts a key it has looked up (0: every request "
        "reads the database). A revoked key keeps working this long on replicas that saw it.",
    )


class ModelsSettings(BaseModel):
    """Where the base-model registry lives."""

    registry_path: Path | None = Field(
        default=None, description="TOML file listing fine-tunable base models."
    )
    cache_dir: Path | None = Field(
        default=None, description="Where hub and blob-store models are fetched (<data_dir>/models)."
    )
    hub_offline: bool = Field(
        default=False, description="Use only the local hub cache (no downloads) for hub_id models."
    )
    hub_cache_dir: Path | None = Field(
        default=None, description="Hugging Face hub cache to read hub_id models from."
    )
    deleted_blob_grace_s: int = Field(
        default=86_400,
        ge=0,
        description="How long a deleted fine-tuned model's adapter and checkpoint blobs are kept "
        "before the ctl worker removes them.",
    )


class TrainingSettings(BaseModel):
    """Figures the api uses to plan training (the runner measures the real ones)."""

    estimated_tokens_per_second: float = Field(
        default=2000.0, gt=0, description="Runner throughput used for duration estimates."
    )


class JobsSettings(BaseModel):
    """Per-project quotas and the timing of the job machinery."""

    max_active_jobs_per_project: int = Field(
        default=20, ge=1, description="Jobs validating, queued, running or paused; 429 above."
    )
    max_running_jobs_per_project: int = Field(
        default=4, ge=1, description="Jobs training at once; more wait in the queue."
    )
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0, description="How often a training runner reports it is alive."
    )
    stale_heartbeat_s: float = Field(
        default=60.0, gt=0, description="A running job silent this long is re-queued."
    )
    max_attempts: int = Field(default=3, ge=1, description="Runner losses before runner_lost.")
    max_task_attempts: int = Field(
        default=6,
        ge=1,
        description="Tries of a background task that meets outages (retried with backoff) "
        "before its file, job or delivery ends in its error state.",
    )
    checkpoints_kept: int = Field(
        default=3, ge=1, description="Newest checkpoints kept per job (older ones are deleted)."
    )
    training_timeout_s: int = Field(
        default=24 * 3600, ge=60, description="Longest a training attempt may run."
    )
    reconcile_interval_s: int = Field(
        default=30, ge=1, description="How often the reconciler compares Redis with the database."
    )


class TrainerSettings(BaseModel):
    """Which trainer the gpu worker runs."""

    import_path: str | None = Field(
        default=None,
        description="'module:attribute' of a Trainer class (instantiated with no arguments).",
    )


class WebhooksSettings(BaseModel):
    """Webhook delivery: where deliveries may go, and how patiently they are retried."""

    allow_private_targets: bool = Field(
        default=False,
        description="Let endpoints point at loopback, private, link-local and CGNAT addresses "
        "(SSRF guard off for internal ranges; development and tests).",
    )
    allowed_target_networks: list[str] = Field(
        default_factory=list,
        description='CIDRs endpoints may reach even though internal, e.g. ["10.20.0.0/16"].',
    )
    delivery_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="Longest wait for an endpoint's answer."
    )
    resolve_timeout_s: float = Field(
        default=5.0, gt=0, le=30, description="Longest DNS lookup of an endpoint's host."
    )
    max_attempts: int = Field(
        default=8, ge=1, le=50, description="Delivery attempts before a delivery fails for good."
    )
    retry_schedule_s: list[float] = Field(
        default=[5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600],
        min_length=1,
        description="Waits after attempt 1, 2, ... failed; the last one repeats.",
    )
    retry_jitter_ratio: float = Field(
        default=0.1, ge=0, le=0.5, description="Random spread added to each retry wait."
    )
    max_endpoints_per_project: int = Field(
        default=20, ge=1, description="Webhook endpoints one project may register."
    )

    @model_validator(mode="after")
    def _networks_and_waits_are_valid(self) -> Self:
        for cidr in self.allowed_target_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"webhooks.allowed_target_networks: {exc}") from None
        if any(wait_s < 0 for wait_s in self.retry_schedule_s):
            raise ValueError("webhooks.retry_schedule_s: waits must not be negative")
        return self


class ServingSettings(BaseModel):
    """Where the api (and the ctl worker, for eval runs) send inference: adapter agents, one
    beside each engine replica."""

    agent_urls: list[str] = Field(
        default_factory=list,
        description='Agents serving every base model, e.g. ["http://10.0.0.5:8100"]; each '
        "engine behind them runs with --served-model-name = the registry id.",
    )
    agent_urls_by_base: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per base-model id, the agents serving it (instead of agent_urls).",
    )
    agent_api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key the api and ctl worker present to agents (their --api-key).",
    )
    connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Longest wait to connect to an agent."
    )
    request_timeout_s: float = Field(
        default=600.0, gt=0, description="Longest wait for a completion (or between chunks)."
    )
    evict_timeout_s: float = Field(
        default=3.0, gt=0, description="How long a model deletion waits on each agent."
    )
    retry_after_s: int = Field(
        default=5, ge=1, description="Retry-After sent when no agent can take a request."
    )
    agent_down_cooldown_s: float = Field(
        default=5.0, ge=0, description="An unreachable agent is tried last for this long."
    )

    @model_validator(mode="after")
    def _urls_are_http(self) -> Self:
        urls = self.agent_urls + [u for group in self.agent_urls_by_base.values() for u in group]
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"serving: agent url {url!r} must start with http:// or https://")
        return self


class EvalSettings(BaseModel):
    """Eval runs on the ctl workers, and the models their graders may call.

    A grader model named in ``grader_models`` is called on the operator's OpenAI-compatible
    endpoint (``grader_base_url``) under that name; any other model is a base or fine-tuned
    model the run's project may call, served through the inference gateway.
    """

    max_concurrent_samples_per_run: int = Field(
        default=8, ge=1, description="Items of one run sampled and graded at once."
    )
    max_running_runs_per_project: int = Field(
        default=2, ge=1, description="Runs of one project in progress at once; more wait queued."
    )
    max_running_runs_per_worker: int = Field(
        default=4,
        ge=1,
        description="Runs one ctl worker process executes at once (its other tasks keep slots).",
    )
    model_call_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for one sample or grader-model answer."
    )
    default_max_completion_tokens: int = Field(
        default=256,
        ge=1,
        description="Tokens a completions run samples per item when its sampling_params omit "
        "max_completion_tokens.",
    )
    heartbeat_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often a running eval stamps its row, saves progress and checks for a "
        "cancel (a cancel stops it within about this long).",
    )
    stale_heartbeat_s: float = Field(
        default=60.0, gt=0, description="A run in progress silent this long is re-queued."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Workers a run may lose before it fails with worker_lost."
    )
    run_timeout_s: int = Field(
        default=24 * 3600, ge=60, description="Longest one attempt of a run may execute."
    )
    busy_retry_s: float = Field(
        default=5.0,
        gt=0,
        description="How soon a run waiting for a slot (its project's running limit, or the "
        "worker's) tries again.",
    )
    grader_base_url: str = Field(
        default="",
        description="OpenAI-compatible endpoint (e.g. https://api.openai.com/v1) serving the "
        "models in grader_models; empty: graders use only models ftapi serves.",
    )
    grader_api_key: SecretStr | None = Field(
        default=None, description="Bearer key sent to grader_base_url."
    )
    grader_models: list[str] = Field(
        default_factory=list,
        description="Model names graders call on grader_base_url, as written in the grader, "
        'e.g. ["gpt-4o-mini"].',
    )
    embeddings_base_url: str = Field(
        default="",
        description="OpenAI-compatible /v1 base URL serving sentence embeddings for the cosine "
        "grader (`ftapi engine --embedding-model`, vLLM with --task embed, or a hosted API); "
        "empty: cosine graders are refused with grader_not_supported.",
    )
    embeddings_model: str = Field(
        default="all-MiniLM-L6-v2", description="The model asked at embeddings_base_url."
    )
    embeddings_api_key: SecretStr | None = Field(
        default=None, description="Bearer key sent to embeddings_base_url."
    )

    @model_validator(mode="after")
    def _endpoint_for_grader_models(self) -> Self:
        if self.grader_models and not self.grader_base_url:
            raise ValueError("evals.grader_models needs evals.grader_base_url")
        if self.grader_base_url and not self.grader_base_url.startswith(("http://", "https://")):
            raise ValueError("evals.grader_base_url must start with http:// or https://")
        return self


class RateLimitSettings(BaseModel):
    """Per-API-key request limits, kept in Redis so every api replica shares them.

    Every ``/v1`` request costs one from ``requests_per_minute``; routes that store bytes or start
    work (file and upload creation, upload parts, job creation, estimates) also cost one from the
    stricter ``expensive_per_minute``. A bucket holds ``burst`` requests (default: one minute's
    worth) and refills continuously.
    """

    enabled: bool = Field(default=True, description="Refuse requests over the limits with 429.")
    requests_per_minute: int = Field(
        default=600, ge=1, description="Sustained requests per API key, any /v1 route."
    )
    burst: int | None = Field(
        default=None,
        ge=1,
        description="Requests a key may send at once; unset: requests_per_minute.",
    )
    expensive_per_minute: int = Field(
        default=120,
        ge=1,
        description="Uploads, upload parts, job creations and estimates per API key.",
    )
    expensive_burst: int | None = Field(
        default=None, ge=1, description="Expensive requests at once; unset: expensive_per_minute."
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for the counters; default redis.url. A separate Redis keeps them "
        "away from a queue Redis configured with noeviction.",
    )
    redis_timeout_s: float = Field(
        default=0.25, gt=0, description="Longest wait on Redis before a request goes unchecked."
    )
    unavailable_cooldown_s: float = Field(
        default=5.0, ge=0, description="After a Redis failure, requests go unchecked this long."
    )
    lease_s: float = Field(
        default=0.5,
        ge=0,
        description="A busy key's tokens are taken from Redis in batches that an api replica "
        "spends for up to this long (one Redis call per batch, not per request); a batch holds "
        "at most a 20th of the burst, unspent tokens go back. 0: one Redis call per request.",
    )


class OtelSettings(BaseModel):
    """Optional OpenTelemetry tracing of HTTP requests and worker tasks (the ``otel`` extra)."""

    endpoint: str = Field(
        default="",
        description="OTLP/HTTP collector base URL, e.g. http://otel-collector:4318; empty: "
        "tracing is off unless the standard OTEL_EXPORTER_OTLP_ENDPOINT is set.",
    )
    service_name: str = Field(
        default="ftapi", description="service.name prefix; each process adds -api, -ctl or -gpu."
    )


class Settings(BaseSettings):
    """Everything ftapi reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="FTAPI_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="`production` refuses placeholder secrets and SQLite.",
    )
    data_dir: Path = Field(default=Path(".ftapi"), description="Root for embedded-mode state.")
    organization_slug: str = Field(
        default="ftapi",
        pattern=r"^[a-z0-9][a-z0-9-]{0,38}$",
        description="Appears in fine-tuned model names (ft:base:org:suffix:id).",
    )
    log_level: str = Field(default="INFO", description="Log level of every process (JSON lines).")
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    storage: StorageSettings = StorageSettings()
    limits: LimitsSettings = LimitsSettings()
    auth: AuthSettings = AuthSettings()
    models: ModelsSettings = ModelsSettings()
    training: TrainingSettings = TrainingSettings()
    jobs: JobsSettings = JobsSettings()
    webhooks: WebhooksSettings = WebhooksSettings()
    trainer: TrainerSettings = TrainerSettings()
    serving: ServingSettings = ServingSettings()
    evals: EvalSettings = EvalSettings()
    otel: OtelSettings = OtelSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Self:
        if self.environment is not Environment.PRODUCTION:
            return self
        secret = self.storage.s3_secret_access_key
        if secret is not None and secret.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("storage.s3_secret_access_key is a placeholder; set a real secret")
        if not self.database.url:
            raise ValueError("database.url must be set in production (SQLite is for development)")
        return self

    @property
    def database_url(self) -> str:
        """The metadata store URL, defaulting to a SQLite file in the data dir."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ftapi.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        """Root directory of the local blob store."""
        return self.storage.local_dir or self.data_dir / "blobs"
