"""moto's S3 served over real HTTP on 127.0.0.1, for tests that need an S3 endpoint.

Pytest-agnostic: wrap it in whatever fixture scope you need.

    with MotoS3Server() as server:
        bucket = server.create_bucket()
        ...  # point an S3 client at server.endpoint_url with server.access_key_id/secret

moto keeps its state per process, so servers started in one process share buckets: give each
test its own bucket (`create_bucket()` picks a unique name) instead of relying on a fresh server.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Self

import boto3
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MOTO_REGION = "us-east-1"
MOTO_ACCESS_KEY_ID = "testing"  # moto accepts any credentials
MOTO_SECRET_ACCESS_KEY = "testing"


class MotoS3Server:
    """A ThreadedMotoServer on 127.0.0.1 and a free port, with helpers for buckets."""

    region = MOTO_REGION
    access_key_id = MOTO_ACCESS_KEY_ID
    secret_access_key = MOTO_SECRET_ACCESS_KEY

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self._endpoint_url: str | None = None
        self._client: S3Client | None = None

    @property
    def endpoint_url(self) -> str:
        """`http://127.0.0.1:<port>` of the running server."""
        if self._endpoint_url is None:
            raise RuntimeError("MotoS3Server is not running; call start() first")
        return self._endpoint_url

    def start(self) -> None:
        """Start serving; port 0 lets the OS pick a free port, read back afterwards."""
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is None:
            return
        self._server.stop()
        # ThreadedMotoServer.stop() shuts the loop down but leaves the listening socket open.
        werkzeug_server = getattr(self._server, "_server", None)
        if werkzeug_server is not None:
            werkzeug_server.server_close()
        self._server = None
        self._endpoint_url = None

    def client(self) -> S3Client:
        """A boto3 S3 client for this server, for setting up and inspecting tests.

        One shared client (boto3 clients are thread-safe, and building one costs ~0.1 s):
        do not close it; stop() does.
        """
        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
            )
        return self._client

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name unless given) and return its name."""
        bucket = name or f"ftapi-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def delete_bucket(self, bucket: str) -> None:
        """Delete `bucket` with everything in it, multipart uploads in progress included."""
        client = self.client()
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for stored in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=stored["Key"])
        client.delete_bucket(Bucket=bucket)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
