"""S3-only behaviour: multipart versus single PUT, key prefixes, failures mid-upload."""

import hashlib
import os
from collections.abc import AsyncIterator

import pytest
from botocore.exceptions import ClientError

from service.blobstore import BlobStoreUnavailable, S3BlobStore
from tests.integration.blobstore.stores_under_test import TEST_PART_SIZE_BYTES, s3_config_for
from tests.support.moto_server import MotoS3Server

MIB = 1024 * 1024


@pytest.fixture
def bucket(moto_s3_server: MotoS3Server) -> str:
    """A fresh bucket on the session's moto server."""
    return moto_s3_server.create_bucket()


async def chunks_of(data: bytes, chunk_bytes: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk_bytes):
        yield data[start : start + chunk_bytes]


async def test_objects_bigger_than_a_part_are_multipart_and_smaller_ones_a_single_put(
    moto_s3_server: MotoS3Server, bucket: str
) -> None:
    store = S3BlobStore(s3_config_for(moto_s3_server, bucket))
    await store.put_stream("small", chunks_of(os.urandom(MIB)))
    await store.put_stream("large", chunks_of(os.urandom(2 * TEST_PART_SIZE_BYTES + MIB)))
    await store.close()

    client = moto_s3_server.client()
    small_etag = client.head_object(Bucket=bucket, Key="small")["ETag"].strip('"')
    large_etag = client.head_object(Bucket=bucket, Key="large")["ETag"].strip('"')
    assert "-" not in small_etag  # a single PutObject: the ETag is the md5
    assert large_etag.endswith("-3")  # completed from three parts


async def test_a_key_prefix_confines_every_operation(
    moto_s3_server: MotoS3Server, bucket: str
) -> None:
    prefixed = S3BlobStore(s3_config_for(moto_s3_server, bucket, key_prefix="tenant-a"))
    bare = S3BlobStore(s3_config_for(moto_s3_server, bucket))
    await bare.put_stream("jobs/1/log", chunks_of(b"not the prefixed store's"))

    info = await prefixed.put_stream("jobs/1/log", chunks_of(b"prefixed"))
    assert info.key == "jobs/1/log"
    assert await prefixed.size_of("jobs/1/log") == len(b"prefixed")
    assert await prefixed.delete_prefix("jobs/") == 1
    assert await bare.size_of("jobs/1/log") == len(b"not the prefixed store's")
    await prefixed.close()
    await bare.close()


async def test_a_commit_whose_upload_vanished_fails_and_leaves_nothing(
    moto_s3_server: MotoS3Server, bucket: str
) -> None:
    store = S3BlobStore(s3_config_for(moto_s3_server, bucket))
    client = moto_s3_server.client()
    data = os.urandom(TEST_PART_SIZE_BYTES)  # one full part, so commit only completes

    writer = store.open_writer("doomed")
    async for chunk in chunks_of(data):
        await writer.write(chunk)
    # Pull the upload out from under the writer, as a lifecycle rule or an operator might.
    await writer._wait_for_in_flight()
    (upload,) = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    client.abort_multipart_upload(Bucket=bucket, Key="doomed", UploadId=upload["UploadId"])

    # S3 answers NoSuchUpload (404); moto answers 500, which reads as the store failing.
    with pytest.raises((ClientError, BlobStoreUnavailable)):
        await writer.commit()

    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    await store.close()


async def test_content_written_via_the_store_matches_what_s3_holds(
    moto_s3_server: MotoS3Server, bucket: str
) -> None:
    store = S3BlobStore(s3_config_for(moto_s3_server, bucket))
    data = os.urandom(2 * TEST_PART_SIZE_BYTES + 17)
    info = await store.put_stream("exact", chunks_of(data, chunk_bytes=100_003))
    await store.close()

    client = moto_s3_server.client()
    held = client.get_object(Bucket=bucket, Key="exact")["Body"].read()
    assert held == data
    assert info.sha256 == hashlib.sha256(held).hexdigest()


async def test_ping_names_a_missing_bucket(moto_s3_server: MotoS3Server) -> None:
    store = S3BlobStore(s3_config_for(moto_s3_server, "no-such-bucket-here"))
    with pytest.raises(BlobStoreUnavailable, match=r"'no-such-bucket-here'.*bucket not found"):
        await store.ping()
    with pytest.raises(BlobStoreUnavailable, match="NoSuchBucket"):
        await store.put_stream("k", chunks_of(b"data"))
    await store.close()
