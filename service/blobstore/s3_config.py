"""How to reach an S3-compatible bucket: the settings layer maps its storage group onto this."""

from dataclasses import dataclass, field

from service.blobstore.keys import validate_key

MIN_PART_SIZE_BYTES = 5 * 1024 * 1024  # S3's floor for every part but the last
MAX_PART_SIZE_BYTES = 5 * 1024 * 1024 * 1024
DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Config:
    """Where and how to reach the bucket. Credentials left out use boto3's default chain."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False  # MinIO and most self-hosted stores need path-style addressing
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    key_prefix: str = ""  # every key is stored under it, e.g. "ftapi/"
    part_size_bytes: int = DEFAULT_PART_SIZE_BYTES
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 3
    max_pool_connections: int = 16

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("S3Config.bucket must not be empty")
        if not MIN_PART_SIZE_BYTES <= self.part_size_bytes <= MAX_PART_SIZE_BYTES:
            raise ValueError(
                f"S3Config.part_size_bytes={self.part_size_bytes} is outside S3's limits "
                f"[{MIN_PART_SIZE_BYTES}, {MAX_PART_SIZE_BYTES}]"
            )
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "S3Config.access_key_id and secret_access_key must be given together "
                "(or both left out to use the default credential chain)"
            )
        if self.key_prefix.strip("/"):
            validate_key(self.key_prefix.strip("/"))
        for name in ("max_attempts", "max_pool_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"S3Config.{name} must be at least 1, got {getattr(self, name)}")
