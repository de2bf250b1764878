"""The arq implementation of ``TaskQueue``, and arq's Redis settings with retry and backoff."""

from __future__ import annotations

import time

from arq.connections import ArqRedis, RedisSettings
from arq.constants import abort_jobs_ss
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.queue.names import ARQ_IN_PROGRESS_KEY_PREFIX, ARQ_JOB_KEY_PREFIX, QueueName, TaskName
from service.queue.serialization import deserialize, serialize

REDIS_RETRY_ATTEMPTS = 10


def arq_redis_settings(url: str, *, connect_timeout_s: float = 2.0) -> RedisSettings:
    """arq settings for ``url`` that ride out a Redis restart instead of crashing the worker."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = max(1, int(connect_timeout_s))
    settings.conn_retries = REDIS_RETRY_ATTEMPTS
    settings.conn_retry_delay = 1
    settings.retry_on_timeout = True
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionError, OSError]
    settings.retry = Retry(ExponentialBackoff(cap=5.0, base=0.1), REDIS_RETRY_ATTEMPTS)
    return settings


def arq_redis(url: str, *, connect_timeout_s: float = 2.0) -> ArqRedis:
    """A lazily connecting arq Redis client with msgpack payloads and retry with backoff."""
    pool = ConnectionPool.from_url(
        url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=max(connect_timeout_s, 5.0),
        retry_on_timeout=True,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        retry=Retry(ExponentialBackoff(cap=5.0, base=0.1), REDIS_RETRY_ATTEMPTS),
        health_check_interval=30,
    )
    return ArqRedis(
        pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=QueueName.CTL.value,
    )


class ArqTaskQueue:
    """``TaskQueue`` over an arq Redis pool."""

    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def enqueue(
        self,
        task: TaskName,
        *args: str | int,
        queue: QueueName,
        key: str,
        defer_s: float | None = None,
    ) -> bool:
        job = await self._redis.enqueue_job(
            task.value, *args, _job_id=key, _queue_name=queue.value, _defer_by=defer_s
        )
        return job is not None

    async def is_pending(self, key: str) -> bool:
        found = await self._redis.exists(ARQ_JOB_KEY_PREFIX + key, ARQ_IN_PROGRESS_KEY_PREFIX + key)
        return bool(found)

    async def abort(self, key: str) -> None:
        # arq #485: aborting an id that is not queued leaves it in the abort set; every training
        # attempt gets a fresh id (see names.train_key), so a later attempt is never hit.
        if await self.is_pending(key):
            await self._redis.zadd(abort_jobs_ss, {key: int(time.time() * 1000)})

    async def release_claim(self, key: str) -> None:
        # arq re-runs a lost task only when its in-progress marker expires, and that TTL is the
        # worker's longest timeout (hours for training; arq #402/#407): drop the marker instead.
        await self._redis.delete(ARQ_IN_PROGRESS_KEY_PREFIX + key)
