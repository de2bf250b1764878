"""create_blob_store and S3Config: the seam the settings layer maps onto."""

from pathlib import Path

import pytest

from service.blobstore import LocalBlobStore, S3BlobStore, S3Config, create_blob_store
from service.blobstore.s3_config import MIN_PART_SIZE_BYTES


async def test_the_local_backend_creates_its_root(tmp_path: Path) -> None:
    root = tmp_path / "data" / "blobs"
    store = create_blob_store(backend="local", local_root=root)

    assert isinstance(store, LocalBlobStore)
    assert root.is_dir()
    await store.ping()
    await store.close()


async def test_the_s3_backend_builds_an_s3_store() -> None:
    config = S3Config(bucket="b", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    store = create_blob_store(backend="s3", s3=config)

    assert isinstance(store, S3BlobStore)
    await store.close()


def test_a_backend_without_its_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="local_root"):
        create_blob_store(backend="local")
    with pytest.raises(ValueError, match="S3Config"):
        create_blob_store(backend="s3")
    with pytest.raises(ValueError, match="unknown blob store backend 'ftp'"):
        create_blob_store(backend="ftp")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bucket": ""}, "bucket"),
        ({"part_size_bytes": MIN_PART_SIZE_BYTES - 1}, "part_size_bytes"),
        ({"access_key_id": "AKIA"}, "together"),
        ({"secret_access_key": "s3cr3t"}, "together"),
        ({"key_prefix": "../up"}, "invalid blob key"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_s3_config_refuses_bad_values_and_names_them(
    overrides: dict[str, object], message: str
) -> None:
    settings: dict[str, object] = {"bucket": "b", **overrides}
    with pytest.raises(ValueError, match=message):
        S3Config(**settings)  # type: ignore[arg-type]


def test_s3_config_repr_hides_the_secret() -> None:
    config = S3Config(bucket="b", access_key_id="AKIA", secret_access_key="very-secret")
    assert "very-secret" not in repr(config)
