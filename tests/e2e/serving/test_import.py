"""Importing an adapter trained elsewhere (``POST /v1/models/import``) on the serving stack: a
peft adapter uploaded as a File becomes an ``ft:`` model that answers through the engine as
peft does, lists, downloads, stays invisible to other projects and deletes; hostile archives and
adapters that do not fit the base are 400 with nothing stored; ``ftapi models import``."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import openai
import pytest
from openai.types import Model

from service.serving.names import engine_adapter_name
from tests.e2e.serving.conftest import BASE_MODEL_ID, ServingStack
from tests.e2e.serving.test_download import download, extract, greedy_with_peft
from tests.e2e.serving.test_serving import assert_agent_drops, chat
from tests.integration.models.conftest import caller_of
from tests.support.stack import REPO_ROOT


def adapter_tar(adapter_dir: Path, *, base: str = BASE_MODEL_ID, top: str = "my-lora") -> bytes:
    """A tar.gz of a peft adapter directory in one top-level directory, its config naming
    ``base`` (peft wrote the local path it trained on)."""
    files = {path.name: path.read_bytes() for path in adapter_dir.iterdir() if path.is_file()}
    config = json.loads(files["adapter_config.json"])
    config["base_model_name_or_path"] = base
    files["adapter_config.json"] = json.dumps(config).encode()
    return gzip.compress(tar_of({f"{top}/{name}": body for name, body in files.items()}))


def tar_of(files: dict[str, bytes], *, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra or []:
            tar.addfile(info)
    return buffer.getvalue()


def unterminated_tar(files: dict[str, bytes]) -> bytes:
    """The members of a tar without its end-of-archive blocks, so more can be appended."""
    buffer = io.BytesIO()
    tar = tarfile.open(fileobj=buffer, mode="w")  # noqa: SIM115 - never closed: no end blocks
    for name, body in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def lora_dir(directory: Path, modules: dict[str, tuple[int, int]], rank: int = 8) -> Path:
    """A rank-``rank`` LoRA adapter on ``modules`` (name -> (out, in) features), zeros."""
    directory.mkdir(parents=True)
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 16,
        "target_modules": sorted({name.rsplit(".", 1)[1] for name in modules}),
        "bias": "none",
        "base_model_name_or_path": BASE_MODEL_ID,
    }
    (directory / "adapter_config.json").write_text(json.dumps(config))
    header: dict[str, object] = {}
    offset = 0
    for module, (out_features, in_features) in modules.items():
        for kind, shape in (("A", [rank, in_features]), ("B", [out_features, rank])):
            size = shape[0] * shape[1] * 4
            header[f"base_model.model.{module}.lora_{kind}.weight"] = {
                "dtype": "F32",
                "shape": shape,
                "data_offsets": [offset, offset + size],
            }
            offset += size
    encoded = json.dumps(header).encode()
    (directory / "adapter_model.safetensors").write_bytes(
        struct.pack("<Q", len(encoded)) + encoded + b"\0" * offset
    )
    return directory


def upload(stack: ServingStack, key: str, archive: bytes) -> str:
    with stack.sdk(key) as sdk:
        return sdk.files.create(file=("adapter.tar.gz", archive), purpose="user_data").id


def post_import(stack: ServingStack, key: str, **body: str) -> httpx.Response:
    return httpx.post(
        f"{stack.api.base_url}/models/import",
        json={"base_model": BASE_MODEL_ID} | body,
        headers={"authorization": f"Bearer {key}"},
        timeout=120,
    )


def stored_imports(stack: ServingStack, key: str) -> list[Path]:
    """Every blob under the project's imports prefix (the stack's store is on local disk)."""
    project = caller_of(stack.api, key).project_id
    root = stack.settings.blob_root / "projects" / project / "imports"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def fine_tuned_ids(stack: ServingStack, key: str) -> list[str]:
    with stack.sdk(key) as sdk:
        return [model.id for model in sdk.models.list() if model.id.startswith("ft:")]


def test_an_imported_adapter_answers_as_peft_does_downloads_and_stays_private(
    serving_stack: ServingStack, project_key: str, tmp_path: Path
) -> None:
    original = serving_stack.adapter(53)
    file_id = upload(serving_stack, project_key, adapter_tar(original))
    with serving_stack.sdk(project_key) as sdk:
        imported = sdk.post(
            "/models/import",
            body={"file": file_id, "base_model": BASE_MODEL_ID, "suffix": "from-elsewhere"},
            cast_to=Model,
        )
        assert imported.id.startswith(f"ft:{BASE_MODEL_ID}:")
        assert ":from-elsewhere:" in imported.id
        assert sdk.models.retrieve(imported.id).id == imported.id
        assert imported.id in fine_tuned_ids(serving_stack, project_key)
        served = chat(sdk, imported.id)
        assert served != chat(sdk, BASE_MODEL_ID)  # the adapter matters: the check is sharp

    response = download(serving_stack, project_key, imported.id)
    assert response.status_code == 200, response.text
    extract(response, tmp_path)
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == (
        original / "adapter_model.safetensors"
    ).read_bytes()
    assert "imported into ftapi" in (tmp_path / "README.md").read_text()
    assert greedy_with_peft(serving_stack.model_dir, tmp_path).strip() == served.strip()

    other = serving_stack.api.new_key("import-other-project")
    with serving_stack.sdk(other) as sdk:
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve(imported.id)
        with pytest.raises(openai.NotFoundError):
            chat(sdk, imported.id)
        # Another project cannot import this project's file either.
        assert post_import(serving_stack, other, file=file_id).status_code == 404
    assert download(serving_stack, other, imported.id).status_code == 404

    # Shared like a trained model: the grantee calls it (and still cannot download it).
    with serving_stack.sdk(project_key) as sdk:
        sdk.fine_tuning.checkpoints.permissions.create(
            imported.id, project_ids=[caller_of(serving_stack.api, other).project_id]
        )
    with serving_stack.sdk(other) as sdk:
        assert chat(sdk, imported.id) == served
    assert download(serving_stack, other, imported.id).status_code == 404

    with serving_stack.sdk(project_key) as sdk:
        assert sdk.models.delete(imported.id).deleted
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve(imported.id)
    # Deleting a job-less model unloads it everywhere too.
    name = engine_adapter_name(imported.id)
    assert_agent_drops(serving_stack, name)


def test_a_downloaded_model_imports_as_is_and_answers_alike(
    serving_stack: ServingStack, project_key: str
) -> None:
    """ftapi's own download (tokenizer, card and checksums beside the adapter, the config naming
    the base by its registry id) is an import archive as it stands."""
    trained = serving_stack.publish(project_key, seed=59)
    archive = download(serving_stack, project_key, trained)
    assert archive.status_code == 200, archive.text
    file_id = upload(serving_stack, project_key, archive.content)
    response = post_import(serving_stack, project_key, file=file_id, suffix="copy")
    assert response.status_code == 200, response.text
    copy = response.json()["id"]
    assert copy != trained
    with serving_stack.sdk(project_key) as sdk:
        assert chat(sdk, copy) == chat(sdk, trained)


def hostile_archives(adapter: Path) -> dict[str, bytes]:
    """Each an otherwise valid adapter archive with one hostile addition."""
    good = {path.name: path.read_bytes() for path in adapter.iterdir() if path.is_file()}
    config = json.loads(good["adapter_config.json"])
    config["base_model_name_or_path"] = BASE_MODEL_ID
    good["adapter_config.json"] = json.dumps(config).encode()

    def with_member(kind: bytes, name: str = "evil", linkname: str = "") -> bytes:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        return tar_of(good, extra=[info])

    deep = tarfile.TarInfo("a/b/c")
    deep.type = tarfile.DIRTYPE
    # A member declaring 64 MiB (a non-weights file may have 32): refused on its header alone.
    oversized = tarfile.TarInfo("notes.txt")
    oversized.size = 64 << 20
    return {
        "oversized": unterminated_tar(good) + oversized.tobuf(),
        "traversal": tar_of({**good, "../escape.txt": b"x"}),
        "absolute": tar_of({**good, "/var/escape.txt": b"x"}),
        "symlink": with_member(tarfile.SYMTYPE, "link", "/etc/passwd"),
        "hardlink": with_member(tarfile.LNKTYPE, "link", "/etc/passwd"),
        "device": with_member(tarfile.CHRTYPE),
        "fifo": with_member(tarfile.FIFOTYPE),
        "nested": tar_of(good, extra=[deep]),
        "many-members": tar_of({**good, **{f"f{i}.txt": b"" for i in range(100)}}),
        "bomb": gzip.compress(tar_of({**good, "zeros.txt": b"\0" * (16 << 20)})),
        "pickle-name": tar_of({**good, "pytorch_model.bin": b"weights"}),
        "pickle-bytes": tar_of({**good, "notes.txt": b"\x80\x04\x95\x05\x00"}),
        "not-a-tar": b"hello" * 1000,
    }


# What each refusal says (part of the message), so each case fails for its own reason.
HOSTILE_REASONS = {
    "traversal": "climbs out of the archive's root",
    "absolute": "not a plain relative path",
    "symlink": "a symbolic link",
    "hardlink": "a hard link",
    "device": "a device",
    "fifo": "a fifo",
    "nested": "directories nest at most one level",
    "many-members": "more than 64 members",
    "oversized": "at most 33554432 for it",
    "bomb": "compression bomb",
    "pickle-name": "pickled files are never accepted",
    "pickle-bytes": "its bytes are a pickle",
    "not-a-tar": "not a readable tar archive",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_REASONS))
def test_a_hostile_archive_is_400_and_nothing_is_stored(
    serving_stack: ServingStack, project_key: str, kind: str
) -> None:
    archive = hostile_archives(serving_stack.adapter(53))[kind]
    file_id = upload(serving_stack, project_key, archive)
    response = post_import(serving_stack, project_key, file=file_id)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_archive"
    assert HOSTILE_REASONS[kind] in error["message"]
    assert error["param"] == "file"
    assert error["type"] == "invalid_request_error"
    assert fine_tuned_ids(serving_stack, project_key) == []
    assert stored_imports(serving_stack, project_key) == []


def test_adapters_that_do_not_fit_the_base_are_400_and_nothing_is_stored(
    serving_stack: ServingStack, project_key: str, tmp_path: Path
) -> None:
    adapter = serving_stack.adapter(53)
    cases: dict[str, tuple[bytes, str]] = {
        "other base": (adapter_tar(adapter, base="/home/me/llama"), "names the base model"),
    }
    # An adapter made for a wider model of the family, and one for a deeper one.
    cases["shapes"] = (
        adapter_tar(lora_dir(tmp_path / "wide", {"model.layers.0.self_attn.q_proj": (128, 128)})),
        "do not fit the base model",
    )
    cases["layers"] = (
        adapter_tar(lora_dir(tmp_path / "deep", {"model.layers.99.self_attn.q_proj": (64, 64)})),
        "modules the base model does not have",
    )
    modules = json.loads((adapter / "adapter_config.json").read_text())
    modules["modules_to_save"] = ["lm_head"]
    saving = tmp_path / "saving"
    saving.mkdir()
    (saving / "adapter_config.json").write_text(json.dumps(modules))
    (saving / "adapter_model.safetensors").write_bytes(
        (adapter / "adapter_model.safetensors").read_bytes()
    )
    cases["modules_to_save"] = (adapter_tar(saving), "modules_to_save must be empty")
    for name, (archive, message) in cases.items():
        response = post_import(
            serving_stack, project_key, file=upload(serving_stack, project_key, archive)
        )
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"]["code"] == "invalid_adapter", name
        assert message in response.json()["error"]["message"], name
    unknown = post_import(serving_stack, project_key, file="file-nope")
    assert unknown.status_code == 404
    assert fine_tuned_ids(serving_stack, project_key) == []
    assert stored_imports(serving_stack, project_key) == []


def test_ftapi_models_import_packs_a_directory_and_prints_the_model(
    serving_stack: ServingStack, project_key: str, tmp_path: Path
) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for path in serving_stack.adapter(53).iterdir():
        (adapter / path.name).write_bytes(path.read_bytes())
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = BASE_MODEL_ID
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    # A trainer's output directory: its pickled state stays behind, it is never sent.
    (adapter / "training_args.bin").write_bytes(b"\x80\x04pickled")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "models",
            "import",
            str(adapter),
            "--base-model",
            BASE_MODEL_ID,
            "--suffix",
            "cli",
            "--base-url",
            serving_stack.api.base_url,
            "--api-key",
            project_key,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    model = result.stdout.strip().splitlines()[-1]
    assert model.startswith(f"ft:{BASE_MODEL_ID}:")
    assert ":cli:" in model
    assert fine_tuned_ids(serving_stack, project_key) == [model]
