"""The connections every ftapi process opens: the database, the blob store and Redis.

Opened once from ``Settings`` at start-up (the api's lifespan, a worker's start-up) and closed at
shutdown; each process builds the services it uses on top of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from service.blobstore import BlobStore, S3Config, create_blob_store
from service.clock import Clock, SystemClock
from service.db.engine import SessionFactory, create_engine, create_session_factory
from service.db.migrate import upgrade_database_async
from service.logs import configure_logging
from service.queue.arq_queue import ArqTaskQueue, arq_redis
from service.queue.protocol import TaskQueue
from service.settings import Settings, StorageBackend


@dataclass(frozen=True)
class Resources:
    """One process's database engine and sessions, blob store, Redis and task queue."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    blobs: BlobStore
    redis: ArqRedis
    queue: TaskQueue
    clock: Clock

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        """Create every client from settings; nothing connects until first use."""
        engine = create_engine(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        redis = arq_redis(settings.redis.url, connect_timeout_s=settings.redis.connect_timeout_s)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            blobs=blob_store_from_settings(settings),
            redis=redis,
            queue=ArqTaskQueue(redis),
            clock=SystemClock(),
        )

    async def close(self) -> None:
        """Release connections and pools."""
        await self.redis.aclose(close_connection_pool=True)
        await self.blobs.close()
        await self.engine.dispose()


async def open_worker_resources(settings: Settings) -> Resources:
    """A worker's start-up: logging, the data directory and migrations, then its resources."""
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.database.migrate_on_start:
        await upgrade_database_async(settings.database_url)
    return Resources.open(settings)


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The blob store the storage settings describe."""
    storage = settings.storage
    if storage.backend is StorageBackend.LOCAL:
        return create_blob_store(backend="local", local_root=settings.blob_root)
    secret = storage.s3_secret_access_key
    return create_blob_store(
        backend="s3",
        s3=S3Config(
            bucket=storage.s3_bucket,
            endpoint_url=storage.s3_endpoint_url,
            region=storage.s3_region,
            path_style=storage.s3_path_style,
            access_key_id=storage.s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            key_prefix=storage.s3_prefix,
            part_size_bytes=storage.s3_part_size_bytes,
        ),
    )
