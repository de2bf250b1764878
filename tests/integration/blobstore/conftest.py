"""Fixtures giving each blob store test a real store: a local directory, or S3 on moto."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.blobstore import LocalBlobStore, S3BlobStore
from tests.integration.blobstore.stores_under_test import (
    StoreUnderTest,
    bucket_contents,
    files_under,
    s3_config_for,
)
from tests.support.moto_server import MotoS3Server


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[MotoS3Server]:
    """One moto S3 server over HTTP for the session; tests isolate themselves by bucket."""
    with MotoS3Server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def store_under_test(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreUnderTest]:
    """Each real BlobStore in turn, empty, with multipart-sized parts small enough to test."""
    if request.param == "local":
        root = tmp_path / "blobs"
        root.mkdir()
        store = LocalBlobStore(root)
        yield StoreUnderTest("local", store, lambda: files_under(root))
        await store.close()
        return
    server: MotoS3Server = request.getfixturevalue("moto_s3_server")
    bucket = server.create_bucket()
    s3_store = S3BlobStore(s3_config_for(server, bucket))
    yield StoreUnderTest("s3", s3_store, lambda: bucket_contents(server, bucket))
    await s3_store.close()
    server.delete_bucket(bucket)
