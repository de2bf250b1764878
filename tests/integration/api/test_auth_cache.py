"""The api's cache of authenticated keys: a revoked key is refused once its entry expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from cli.keys import project_store
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig

CACHE_TTL_S = 3.0


@pytest.fixture(scope="module")
def caching_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[ApiServer]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("auth-cache"),
        redis_url=redis_server.new_database_url(),
        extra_env={"FTAPI_AUTH__CACHE_TTL_S": str(CACHE_TTL_S)},
    )
    with ApiServer(config, ctl_worker=False) as server:
        yield server


async def _revoke(api: ApiServer, key: str) -> None:
    async with project_store(api.config.settings()) as store:
        caller = await store.authenticate(key, last_used_resolution_s=0)
        assert caller is not None
        assert await store.revoke_key(caller.api_key_id) is not None


def _list_files(api: ApiServer, key: str) -> httpx.Response:
    return httpx.get(f"{api.base_url}/files", headers={"Authorization": f"Bearer {key}"})


def test_a_revoked_key_is_refused_once_the_cache_entry_expires(caching_api: ApiServer) -> None:
    key = caching_api.new_key("cached")
    assert _list_files(caching_api, key).status_code == 200  # now cached
    cached_at = time.monotonic()
    asyncio.run(_revoke(caching_api, key))

    still_cached = _list_files(caching_api, key)
    if time.monotonic() - cached_at < CACHE_TTL_S - 0.5:
        assert still_cached.status_code == 200  # the bounded delay the cache costs
    time.sleep(max(0.0, cached_at + CACHE_TTL_S + 0.2 - time.monotonic()))

    refused = _list_files(caching_api, key)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
