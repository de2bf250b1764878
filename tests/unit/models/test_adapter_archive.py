"""``read_adapter_archive``: an adapter comes out of a good tar (plain or gzipped, at the root or
in one directory); every kind of hostile archive is refused and nothing is kept."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from service.models.adapter_archive import (
    ArchiveLimits,
    HostileArchive,
    read_adapter_archive,
)
from tests.support.serving import write_fake_adapter


def tar_of(files: dict[str, bytes], *, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra or []:
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture
def adapter_files(tmp_path: Path) -> dict[str, bytes]:
    directory = write_fake_adapter(tmp_path / "adapter")
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def read(archive: bytes, target: Path, limits: ArchiveLimits | None = None) -> list[str]:
    target.mkdir(exist_ok=True)
    read_adapter_archive(io.BytesIO(archive), target, limits)
    return sorted(path.name for path in target.iterdir())


def refused(archive: bytes, target: Path, match: str, limits: ArchiveLimits | None = None) -> None:
    target.mkdir(exist_ok=True)
    with pytest.raises(HostileArchive, match=match):
        read_adapter_archive(io.BytesIO(archive), target, limits)


def test_the_adapter_files_are_kept_and_the_rest_dropped(
    adapter_files: dict[str, bytes], tmp_path: Path
) -> None:
    files = {f"my-adapter/{name}": body for name, body in adapter_files.items()}
    files["my-adapter/README.md"] = b"# card"
    sums = "".join(
        f"{hashlib.sha256(body).hexdigest()}  {name.split('/')[1]}\n"
        for name, body in files.items()
    )
    files["my-adapter/checksums"] = sums.encode()
    archive = tar_of(files)
    assert read(archive, tmp_path / "plain") == sorted(adapter_files)
    assert read(gzip.compress(archive), tmp_path / "gz") == sorted(adapter_files)
    for name, body in adapter_files.items():
        assert (tmp_path / "gz" / name).read_bytes() == body


def test_a_checksum_mismatch_is_refused(adapter_files: dict[str, bytes], tmp_path: Path) -> None:
    files = dict(adapter_files)
    files["checksums"] = f"{'0' * 64}  adapter_config.json\n".encode()
    refused(tar_of(files), tmp_path / "t", "does not match its sha256")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../adapter_config.json", "climbs out"),
        ("a/../../x", "climbs out"),
        ("/etc/passwd", "not a plain relative path"),
        ("a\\b", "not a plain relative path"),
        ("a/b/c/adapter_config.json", "one top-level directory"),
        ("weights.bin", "pickled"),
        ("optimizer.pt", "pickled"),
        ("x.PKL", "pickled"),
    ],
)
def test_hostile_names_are_refused(
    adapter_files: dict[str, bytes], tmp_path: Path, name: str, match: str
) -> None:
    refused(tar_of({**adapter_files, name: b"x"}), tmp_path / "t", match)


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "device"),
        (tarfile.BLKTYPE, "device"),
        (tarfile.FIFOTYPE, "fifo"),
    ],
)
def test_links_devices_and_fifos_are_refused(
    adapter_files: dict[str, bytes], tmp_path: Path, kind: bytes, match: str
) -> None:
    info = tarfile.TarInfo("adapter_model.safetensors")
    info.type = kind
    info.linkname = "/etc/passwd"
    refused(
        tar_of({"adapter_config.json": adapter_files["adapter_config.json"]}, extra=[info]),
        tmp_path / "t",
        match,
    )


def test_pickle_bytes_under_an_innocent_name_are_refused(
    adapter_files: dict[str, bytes], tmp_path: Path
) -> None:
    refused(tar_of({**adapter_files, "README.md": b"\x80\x04\x95junk"}), tmp_path / "a", "pickle")
    refused(tar_of({**adapter_files, "notes.txt": b"PK\x03\x04zip"}), tmp_path / "b", "zip")


def test_deep_directories_many_members_and_large_members_are_refused(
    adapter_files: dict[str, bytes], tmp_path: Path
) -> None:
    deep = tarfile.TarInfo("a/b")
    deep.type = tarfile.DIRTYPE
    refused(tar_of(adapter_files, extra=[deep]), tmp_path / "deep", "at most one level")
    many = {**adapter_files, **{f"f{i}.txt": b"" for i in range(70)}}
    refused(tar_of(many), tmp_path / "many", "more than 64 members")
    limits = ArchiveLimits(max_other_bytes=100)
    refused(tar_of({**adapter_files, "big.txt": b"x" * 101}), tmp_path / "big", "at most", limits)


def test_duplicates_and_missing_files_are_refused(
    adapter_files: dict[str, bytes], tmp_path: Path
) -> None:
    twice = {**adapter_files, "x/adapter_config.json": adapter_files["adapter_config.json"]}
    refused(tar_of(twice), tmp_path / "twice", "a second adapter_config.json")
    only_config = {"adapter_config.json": adapter_files["adapter_config.json"]}
    refused(tar_of(only_config), tmp_path / "missing", "holds no adapter_model.safetensors")
    refused(b"not a tar at all" * 100, tmp_path / "garbage", "not a readable tar")
    refused(b"BZh91AY&SY", tmp_path / "bz", "bzip2")


def test_a_compression_bomb_is_refused_before_it_inflates(
    adapter_files: dict[str, bytes], tmp_path: Path
) -> None:
    bomb = gzip.compress(tar_of({**adapter_files, "zeros.txt": b"\0" * (8 << 20)}))
    assert len(bomb) < 100_000
    refused(bomb, tmp_path / "ratio", "compression bomb")
    limits = ArchiveLimits(max_archive_bytes=1 << 20, max_ratio=10**6)
    refused(bomb, tmp_path / "total", "compression bomb", limits)


def test_a_huge_pax_header_is_refused_unread(
    adapter_files: dict[str, bytes], tmp_path: Path
) -> None:
    info = tarfile.TarInfo("notes.txt")
    info.pax_headers = {"comment": "x" * (2 << 20)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    refused(buffer.getvalue(), tmp_path / "pax", "refusing records over")
