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
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)
    migrate_on_start: bool = Field(
        default=True, description="Run Alembic migrations when the api starts (dev convenience)."
    )


class RedisSettings(BaseModel):
    """Redis, used as the arq transport only."""

    url: str = "redis://127.0.0.1:6379/0"
    connect_timeout_s: float = Field(default=2.0, gt=0)


class StorageSettings(BaseModel):
    """Blob store: the local disk by default, any S3-compatible store by URL."""

    backend: StorageBackend = StorageBackend.LOCAL
    local_dir: Path | None = Field(
        default=None, description="Root of the local blob store; default <data_dir>/blobs."
    )
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_path_style: bool = Field(default=False, description="Path-style addressing (MinIO).")
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_part_size_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)

    @model_validator(mode="after")
    def _bucket_required_for_s3(self) -> Self:
        if self.backend is StorageBackend.S3 and not self.s3_bucket:
            raise ValueError("storage.s3_bucket is required when storage.backend is 's3'")
        return self


class LimitsSettings(BaseModel):
    """Sizes and lifetimes users can hit; the OpenAI defaults unless an operator changes them."""

    max_file_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    max_upload_bytes: int = Field(default=8 * 1024 * 1024 * 1024, ge=1)
    max_upload_part_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    upload_ttl_s: int = Field(default=3600, ge=1)
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_training_line_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Longest JSONL line a training file may have."
    )
    max_training_examples: int = Field(default=10_000_000, ge=1)
    min_training_examples: int = Field(default=10, ge=1)


class AuthSettings(BaseModel):
    """API keys."""

    key_prefix: str = Field(default="sk-ft-", description="Prefix of newly issued keys.")
    last_used_resolution_s: int = Field(
        default=60, ge=0, description="last_used_at is written at most this often per key."
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
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    stale_heartbeat_s: float = Field(
        default=60.0, gt=0, description="A running job silent this long is re-queued."
    )
    max_attempts: int = Field(default=3, ge=1, description="Runner losses before runner_lost.")
    checkpoints_kept: int = Field(
        default=3, ge=1, description="Newest checkpoints kept per job (older ones are deleted)."
    )
    training_timeout_s: int = Field(default=24 * 3600, ge=60)
    reconcile_interval_s: int = Field(default=30, ge=1)


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
    delivery_timeout_s: float = Field(default=10.0, gt=0, le=60)
    resolve_timeout_s: float = Field(default=5.0, gt=0, le=30)
    max_attempts: int = Field(default=8, ge=1, le=50)
    retry_schedule_s: list[float] = Field(
        default=[5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600],
        min_length=1,
        description="Waits after attempt 1, 2, ... failed; the last one repeats.",
    )
    retry_jitter_ratio: float = Field(default=0.1, ge=0, le=0.5)
    max_endpoints_per_project: int = Field(default=20, ge=1)

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
    """Where the api sends inference: adapter agents, one beside each engine replica."""

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
        default=None, description="Bearer key the api presents to agents (their --api-key)."
    )
    connect_timeout_s: float = Field(default=2.0, gt=0)
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


class Settings(BaseSettings):
    """Everything ftapi reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="FTAPI_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(default=Path(".ftapi"), description="Root for embedded-mode state.")
    organization_slug: str = Field(default="ftapi", pattern=r"^[a-z0-9][a-z0-9-]{0,38}$")
    log_level: str = "INFO"
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
