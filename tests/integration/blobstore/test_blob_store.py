"""The BlobStore contract, run against the local directory store and S3 (moto over HTTP)."""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from service.blobstore import BlobInfo, BlobNotFound, BlobStore, InvalidBlobKey
from service.blobstore.keys import file_key, upload_part_key, upload_prefix
from tests.integration.blobstore.stores_under_test import TEST_PART_SIZE_BYTES, StoreUnderTest

MIB = 1024 * 1024
# Bigger than two parts: S3 takes the multipart path (two full parts and a short last one).
MULTIPART_SIZE_BYTES = 2 * TEST_PART_SIZE_BYTES + 1 * MIB + 123


def payload(size_bytes: int) -> bytes:
    return os.urandom(size_bytes)


async def chunked(data: bytes, chunk_bytes: int = 64 * 1024 + 7) -> AsyncIterator[bytes]:
    """`data` in odd-sized chunks, like a multipart parser hands them over."""
    for start in range(0, len(data), chunk_bytes):
        yield data[start : start + chunk_bytes]


async def read_all(store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read_stream(key)])


def expected_info(key: str, data: bytes, *, md5: bool = False) -> BlobInfo:
    return BlobInfo(
        key=key,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest() if md5 else None,
    )


@pytest.mark.parametrize(
    "size_bytes", [0, 1, 300 * 1024, MULTIPART_SIZE_BYTES], ids=["empty", "1B", "300KiB", "11MiB"]
)
async def test_round_trip_reports_size_and_digests(
    store_under_test: StoreUnderTest, size_bytes: int
) -> None:
    store = store_under_test.store
    key = file_key("proj_1", "file-abc")
    data = payload(size_bytes)

    info = await store.put_stream(key, chunked(data), md5=True)

    assert info == expected_info(key, data, md5=True)
    assert await read_all(store, key) == data
    assert await store.size_of(key) == size_bytes
    assert store_under_test.stored() == [key]


async def test_large_chunks_are_taken_whole_and_read_back_in_requested_sizes(
    store_under_test: StoreUnderTest,
) -> None:
    store = store_under_test.store
    data = payload(MULTIPART_SIZE_BYTES)

    info = await store.put_stream("big/one", chunked(data, chunk_bytes=6 * MIB))
    chunks = [chunk async for chunk in store.read_stream("big/one", chunk_size_bytes=MIB)]

    assert info == expected_info("big/one", data)
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= MIB


async def test_object_is_invisible_until_commit(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    key = file_key("proj_1", "file-pending")
    data = payload(MULTIPART_SIZE_BYTES)

    writer = store.open_writer(key)
    async for chunk in chunked(data):
        await writer.write(chunk)

    assert await store.size_of(key) is None
    with pytest.raises(BlobNotFound):
        await read_all(store, key)
    # The partial write exists, just not under its key: a temp file or a multipart upload.
    (partial,) = store_under_test.stored()
    assert partial.startswith((".tmp/", "multipart-upload-in-progress:"))

    assert await writer.commit() == expected_info(key, data)
    assert await read_all(store, key) == data
    assert store_under_test.stored() == [key]


@pytest.mark.parametrize("size_bytes", [100, MULTIPART_SIZE_BYTES], ids=["small", "multipart"])
async def test_abort_leaves_nothing_behind(
    store_under_test: StoreUnderTest, size_bytes: int
) -> None:
    store = store_under_test.store
    key = file_key("proj_1", "file-aborted")

    writer = store.open_writer(key)
    async for chunk in chunked(payload(size_bytes)):
        await writer.write(chunk)
    await writer.abort()
    await writer.abort()  # twice is fine

    assert await store.size_of(key) is None
    assert store_under_test.stored() == []  # no temp file, no multipart upload in progress
    with pytest.raises(RuntimeError, match="aborted"):
        await writer.write(b"more")


async def test_an_exception_inside_async_with_leaves_nothing_behind(
    store_under_test: StoreUnderTest,
) -> None:
    store = store_under_test.store
    key = file_key("proj_1", "file-broken")

    async def write_then_fail() -> None:
        async with store.open_writer(key) as writer:
            async for chunk in chunked(payload(MULTIPART_SIZE_BYTES)):
                await writer.write(chunk)
            raise ValueError("client went away")

    with pytest.raises(ValueError, match="client went away"):
        await write_then_fail()

    assert await store.size_of(key) is None
    assert store_under_test.stored() == []


async def test_leaving_async_with_without_commit_aborts(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    async with store.open_writer("forgotten") as writer:
        await writer.write(payload(MULTIPART_SIZE_BYTES))

    assert store_under_test.stored() == []


async def test_a_cancelled_writer_leaves_nothing_behind(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    wrote_enough = asyncio.Event()

    async def write_forever() -> None:
        async with store.open_writer("cancelled") as writer:
            written = 0
            while True:
                await writer.write(payload(256 * 1024))
                written += 256 * 1024
                if written > TEST_PART_SIZE_BYTES + MIB:
                    wrote_enough.set()

    task = asyncio.create_task(write_forever())
    await wrote_enough.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert store_under_test.stored() == []


async def test_commit_replaces_an_existing_object(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    await store.put_stream("replaced", chunked(b"first version"))
    await store.put_stream("replaced", chunked(b"second"))

    assert await read_all(store, "replaced") == b"second"
    assert store_under_test.stored() == ["replaced"]


async def test_a_committed_writer_refuses_more_writes(store_under_test: StoreUnderTest) -> None:
    async with store_under_test.store.open_writer("done") as writer:
        await writer.write(b"x")
        await writer.commit()
        with pytest.raises(RuntimeError, match="committed"):
            await writer.write(b"y")
        await writer.abort()  # a no-op once committed

    assert store_under_test.stored() == ["done"]


async def test_reading_a_missing_key_raises_blob_not_found(
    store_under_test: StoreUnderTest,
) -> None:
    stream = store_under_test.store.read_stream(file_key("proj_1", "file-missing"))
    with pytest.raises(BlobNotFound, match="file-missing"):
        await anext(stream)
    assert await store_under_test.store.size_of(file_key("proj_1", "file-missing")) is None


@pytest.mark.parametrize("chunk_size_bytes", [0, -1])
async def test_a_read_chunk_size_below_one_is_refused(
    store_under_test: StoreUnderTest, chunk_size_bytes: int
) -> None:
    store = store_under_test.store
    await store.put_stream("k", chunked(b"data"))
    with pytest.raises(ValueError, match="chunk_size_bytes"):
        await anext(store.read_stream("k", chunk_size_bytes=chunk_size_bytes))


async def test_delete_is_idempotent(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    await store.put_stream("doomed", chunked(b"bytes"))

    await store.delete("doomed")
    await store.delete("doomed")
    await store.delete("never/existed")

    assert await store.size_of("doomed") is None
    assert store_under_test.stored() == []


async def test_delete_prefix_deletes_exactly_the_objects_under_it(
    store_under_test: StoreUnderTest,
) -> None:
    store = store_under_test.store
    doomed = [upload_part_key("proj_1", "upload_1", f"part_{n}") for n in range(3)]
    kept = [
        upload_part_key("proj_1", "upload_2", "part_0"),
        file_key("proj_1", "file-1"),
        upload_part_key("proj_2", "upload_1", "part_0"),
    ]
    for key in doomed + kept:
        await store.put_stream(key, chunked(key.encode()))

    assert await store.delete_prefix(upload_prefix("proj_1", "upload_1")) == len(doomed)
    assert await store.delete_prefix(upload_prefix("proj_1", "upload_1")) == 0
    assert store_under_test.stored() == sorted(kept)
    if store_under_test.backend == "local":  # no empty directory is left behind either
        root = store.root  # type: ignore[attr-defined]
        assert not (root / upload_prefix("proj_1", "upload_1")).exists()


async def test_delete_prefix_matches_key_prefixes_not_just_directories(
    store_under_test: StoreUnderTest,
) -> None:
    # S3 prefixes are plain string prefixes; the local store must agree.
    store = store_under_test.store
    for key in ["runs/a1/x", "runs/a10/y", "runs/a1", "runs/b1/z"]:
        if store_under_test.backend == "local" and key == "runs/a1":
            continue  # a local path cannot be both a file and a directory
        await store.put_stream(key, chunked(b"."))

    deleted = await store.delete_prefix("runs/a1")

    assert deleted == (2 if store_under_test.backend == "local" else 3)
    assert store_under_test.stored() == ["runs/b1/z"]


@pytest.mark.parametrize(
    "bad_key",
    ["", "../escape", "/etc/passwd", "a/../../b", "a//b", "a/./b", ".tmp/x", "a/", "a\\b", "naïve"],
)
async def test_keys_that_could_escape_or_collide_are_rejected(
    store_under_test: StoreUnderTest, bad_key: str
) -> None:
    store = store_under_test.store
    with pytest.raises(InvalidBlobKey):
        store.open_writer(bad_key)
    with pytest.raises(InvalidBlobKey):
        await store.size_of(bad_key)
    with pytest.raises(InvalidBlobKey):
        await store.delete(bad_key)
    with pytest.raises(InvalidBlobKey):
        await anext(store.read_stream(bad_key))
    assert store_under_test.stored() == []


@pytest.mark.parametrize("bad_prefix", ["", "/", "../", "a/../"])
async def test_dangerous_prefixes_are_rejected(
    store_under_test: StoreUnderTest, bad_prefix: str
) -> None:
    with pytest.raises(InvalidBlobKey):
        await store_under_test.store.delete_prefix(bad_prefix)


async def test_concurrent_writers_do_not_mix(store_under_test: StoreUnderTest) -> None:
    store = store_under_test.store
    bodies = {f"concurrent/{n}": payload(TEST_PART_SIZE_BYTES + n * 100_000) for n in range(3)}

    infos = await asyncio.gather(*(store.put_stream(k, chunked(v)) for k, v in bodies.items()))

    assert list(infos) == [expected_info(k, v) for k, v in bodies.items()]
    for key, body in bodies.items():
        assert await read_all(store, key) == body


async def test_ping_succeeds_on_a_healthy_store(store_under_test: StoreUnderTest) -> None:
    await store_under_test.store.ping()
    assert store_under_test.stored() == []


async def discard_abandoned(store: BlobStore, *, older_than_s: float) -> int:
    """Discard each write abandoned for ``older_than_s``, as the ctl worker's sweep does."""
    writes = await store.abandoned_writes(older_than_s, limit=100)
    return sum([await store.discard_abandoned(write) for write in writes])


async def test_writes_abandoned_by_a_dead_writer_are_swept_once_stale(
    store_under_test: StoreUnderTest,
) -> None:
    store = store_under_test.store
    kept = file_key("proj_1", "file-kept")
    await store.put_stream(kept, chunked(b"kept"))
    abandoned = store.open_writer(file_key("proj_1", "file-abandoned"))
    async for chunk in chunked(payload(MULTIPART_SIZE_BYTES)):
        await abandoned.write(chunk)  # the writer "dies" here: neither commit nor abort
    assert len(store_under_test.stored()) == 2

    if store_under_test.backend == "local":  # moto dates every multipart upload 2010-11-10
        assert await discard_abandoned(store, older_than_s=3600) == 0  # still fresh: maybe alive
        assert len(store_under_test.stored()) == 2
    await asyncio.sleep(0.05)
    assert await discard_abandoned(store, older_than_s=0) == 1
    assert store_under_test.stored() == [kept]
    assert await read_all(store, kept) == b"kept"
    assert await discard_abandoned(store, older_than_s=0) == 0
    await abandoned.abort()  # releases the dead writer's handle; its write is already gone


async def test_abandoned_writes_are_listed_up_to_the_limit_and_discarded_once(
    store_under_test: StoreUnderTest,
) -> None:
    store = store_under_test.store
    writers = [store.open_writer(file_key("proj_1", f"file-dead{n}")) for n in range(2)]
    for writer in writers:
        async for chunk in chunked(payload(MULTIPART_SIZE_BYTES)):
            await writer.write(chunk)  # the writers "die" here
    await asyncio.sleep(0.05)

    (first,) = await store.abandoned_writes(0, limit=1)
    assert len(await store.abandoned_writes(0, limit=10)) == 2
    assert await store.discard_abandoned(first) is True
    assert await store.discard_abandoned(first) is False  # gone already
    assert len(await store.abandoned_writes(0, limit=10)) == 1
    for writer in writers:
        await writer.abort()
    assert store_under_test.stored() == []
