"""Extracting a downloaded model archive: hostile members are refused before anything is
written, and every file must match ``checksums``."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from cli.client.archives import UnsafeArchive, extract_model_archive


def _archive(
    path: Path, files: dict[str, bytes], *, extra: tuple[tarfile.TarInfo, ...] = ()
) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra:
            tar.addfile(info)
    return path


def _with_checksums(files: dict[str, bytes]) -> dict[str, bytes]:
    listing = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in files.items())
    return files | {"checksums": listing.encode()}


def test_a_good_archive_is_extracted_and_verified(tmp_path: Path) -> None:
    files = _with_checksums({"adapter_config.json": b"{}", "adapter_model.safetensors": b"x" * 9})
    written = extract_model_archive(_archive(tmp_path / "a.tar", files), tmp_path / "out")
    assert sorted(written) == sorted(files)
    assert (tmp_path / "out" / "adapter_model.safetensors").read_bytes() == b"x" * 9


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("../evil", tarfile.REGTYPE),
        ("/etc/evil", tarfile.REGTYPE),
        ("link", tarfile.SYMTYPE),
        ("hard", tarfile.LNKTYPE),
        ("dev", tarfile.CHRTYPE),
        ("fifo", tarfile.FIFOTYPE),
        ("sub", tarfile.DIRTYPE),
    ],
)
def test_hostile_members_are_refused_before_anything_is_written(
    tmp_path: Path, name: str, kind: bytes
) -> None:
    hostile = tarfile.TarInfo(name)
    hostile.type = kind
    hostile.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    files = _with_checksums({"adapter_config.json": b"{}"})
    archive = _archive(tmp_path / "a.tar", files, extra=(hostile,))
    with pytest.raises(UnsafeArchive, match="refusing"):
        extract_model_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil").exists()


def test_a_file_that_does_not_match_checksums_fails(tmp_path: Path) -> None:
    files = _with_checksums({"adapter_model.safetensors": b"x" * 9})
    files["adapter_model.safetensors"] = b"y" * 9
    with pytest.raises(UnsafeArchive, match="does not match"):
        extract_model_archive(_archive(tmp_path / "a.tar", files), tmp_path / "out")


def test_a_file_missing_from_checksums_fails(tmp_path: Path) -> None:
    files = _with_checksums({"adapter_config.json": b"{}"}) | {"model.pkl": b"pickle"}
    with pytest.raises(UnsafeArchive, match="not in checksums"):
        extract_model_archive(_archive(tmp_path / "a.tar", files), tmp_path / "out")
