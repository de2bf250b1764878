"""``ftapi registry``: add base models to the registry file and list them (operator commands).

``ftapi models add`` is the same ``add``; ``ftapi models list`` asks the api (see
``cli.client.models``), so it shows what callers see, fine-tuned models included.

The registry is the TOML file named by ``FTAPI_MODELS__REGISTRY_PATH`` (see
``service.models.registry``). ``add`` appends one ``[[models]]`` table as text, so an operator's
comments and layout survive, and replaces the file atomically only once the result reads back as
a valid registry. ``put_model`` (``ftapi dev``'s own registry) rewrites every entry instead, to
replace one in place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from service.models.registry import DEFAULT_TARGET_MODULES, BaseModelSpec, ModelRegistry
from service.settings import Settings

registry_app = typer.Typer(no_args_is_help=True, help="Base-model registry file (operator).")

# What serving and tokenization read from a model directory before anything else.
REQUIRED_MODEL_FILES = ("config.json", "tokenizer.json")


class RegistryEditError(ValueError):
    """The entry or the registry file is unusable; the message says which and why."""


def check_model_dir(path: Path) -> None:
    """Refuse a directory that is missing or lacks the files ftapi reads first."""
    if not path.is_dir():
        raise RegistryEditError(f"{path} is not a directory")
    missing = [name for name in REQUIRED_MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise RegistryEditError(
            f"{path} lacks {', '.join(missing)}; a model directory needs "
            f"{' and '.join(REQUIRED_MODEL_FILES)} (a fast tokenizer)"
        )


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (escaping what TOML requires, UTF-8 kept as is)."""
    named = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
    named["\r"] = "\\r"
    out = []
    for ch in value:
        if ch in named:
            out.append(named[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def registry_entry(spec: BaseModelSpec) -> str:
    """One ``[[models]]`` table describing ``spec``."""
    modules = ", ".join(toml_string(name) for name in spec.lora_target_modules)
    lines = [
        "[[models]]",
        f"id = {toml_string(spec.id)}",
    ]
    sources: list[tuple[str, object]] = [
        ("path", spec.path),
        ("hub_id", spec.hub_id),
        ("revision", spec.revision),
        ("blob_prefix", spec.blob_prefix),
    ]
    lines += [f"{key} = {toml_string(str(value))}" for key, value in sources if value is not None]
    lines += [
        f"max_seq_length = {spec.max_seq_length}",
        f"lora_target_modules = [{modules}]",
        f"max_lora_rank = {spec.max_lora_rank}",
        f"created = {spec.created}",
    ]
    if spec.chat_template is not None:
        lines.append(f"chat_template = {toml_string(spec.chat_template)}")
    if spec.learning_rate is not None:
        lines.append(f"learning_rate = {spec.learning_rate!r}")
    if spec.reference_set is not None:
        lines.append(f"reference_set = {toml_string(str(spec.reference_set))}")
    return "\n".join(lines) + "\n"


def add_model(registry_path: Path, spec: BaseModelSpec) -> None:
    """Append ``spec`` to the registry file (created if missing); refuses a duplicate id."""
    if spec.path is None:
        raise RegistryEditError(
            "`ftapi models add` registers a local --path; add hub_id or blob_prefix models by "
            "editing the registry file"
        )
    check_model_dir(spec.path)
    existing = _read_registry(registry_path)
    if existing.get(spec.id) is not None:
        raise RegistryEditError(f"{registry_path} already lists a model with id {spec.id!r}")
    old_text = registry_path.read_text(encoding="utf-8") if registry_path.exists() else ""
    if old_text and not old_text.endswith("\n"):
        old_text += "\n"
    separator = "\n" if old_text else ""
    _replace_registry(registry_path, old_text + separator + registry_entry(spec), spec)


def put_model(registry_path: Path, spec: BaseModelSpec) -> bool:
    """Make the registry's entry for ``spec.id`` exactly ``spec``, adding or replacing it and
    keeping the other entries (rewritten from what they say: comments do not survive).

    False when the entry was already ``spec`` (the file is left untouched)."""
    existing = _read_registry(registry_path)
    if existing.get(spec.id) == spec:
        return False
    specs = [other for other in existing.models if other.id != spec.id] + [spec]
    _replace_registry(registry_path, "\n".join(registry_entry(entry) for entry in specs), spec)
    return True


def _replace_registry(registry_path: Path, text: str, spec: BaseModelSpec) -> None:
    """Write ``text`` in place of the registry once it reads back with ``spec`` unchanged."""
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=registry_path.parent, prefix=".models-", suffix=".toml"
    )
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp:
            temp.write(text)
        if registry_path.exists():
            shutil.copymode(registry_path, temp_path)
        if _read_registry(temp_path).get(spec.id) != spec:
            raise RegistryEditError(f"the entry for {spec.id!r} did not read back unchanged")
        temp_path.replace(registry_path)
    finally:
        temp_path.unlink(missing_ok=True)


def _read_registry(path: Path) -> ModelRegistry:
    try:
        return ModelRegistry.from_file(path)
    except (ValueError, TypeError, KeyError) as exc:  # tomllib's error is a ValueError
        raise RegistryEditError(f"{path} is not a valid registry: {exc}") from exc


def _registry_path(settings: Settings) -> Path:
    path = settings.models.registry_path
    if path is None:
        _fail("no registry file configured: set FTAPI_MODELS__REGISTRY_PATH")
    return path


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@registry_app.command("add")
def add(
    model_id: Annotated[str, typer.Option("--id", help="The id callers pass as `model`.")],
    path: Annotated[Path, typer.Option("--path", help="Local model directory.")],
    max_seq_length: Annotated[int, typer.Option(help="Longest training example, tokens.")] = 2048,
    lora_target_modules: Annotated[
        str, typer.Option(help="Comma-separated default LoRA target modules.")
    ] = ",".join(DEFAULT_TARGET_MODULES),
    max_lora_rank: Annotated[int, typer.Option(help="Largest LoRA rank allowed.")] = 64,
    chat_template_file: Annotated[
        Path | None, typer.Option(help="A Jinja chat template replacing the tokenizer's.")
    ] = None,
) -> None:
    """Add a base model to the registry file."""
    registry_path = _registry_path(Settings())
    modules = tuple(name.strip() for name in lora_target_modules.split(","))
    try:
        if not all(modules):
            raise RegistryEditError("--lora-target-modules must name modules, comma-separated")
        chat_template = None
        if chat_template_file is not None:
            chat_template = chat_template_file.read_text(encoding="utf-8")
        spec = BaseModelSpec(
            id=model_id,
            path=path.resolve(),
            max_seq_length=max_seq_length,
            chat_template=chat_template,
            lora_target_modules=modules,
            max_lora_rank=max_lora_rank,
            created=int(time.time()),
        )
        add_model(registry_path, spec)
    except (ValueError, OSError) as exc:  # RegistryEditError and BaseModelSpec's checks
        _fail(str(exc))
    typer.echo(f"added {model_id} to {registry_path}")


@registry_app.command("list")
def list_models() -> None:
    """List the registry's base models (id, directory, limits)."""
    registry_path = _registry_path(Settings())
    try:
        registry = _read_registry(registry_path)
    except RegistryEditError as exc:
        _fail(str(exc))
    if not registry.models:
        typer.echo(f"{registry_path} lists no models; add one with `ftapi registry add`", err=True)
    for spec in registry.models:
        typer.echo(
            f"{spec.id}\t{spec.path}\tmax_seq_length={spec.max_seq_length}"
            f"\tmax_lora_rank={spec.max_lora_rank}"
            f"\tlora_target_modules={','.join(spec.lora_target_modules)}"
        )


@registry_app.command("chat-template")
def chat_template(
    model_id: Annotated[str, typer.Argument(help="The registry id of the base model.")],
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the registry's chat_template for a model, for vLLM's --chat-template.

    Exits 3 (writing nothing) when the entry keeps the tokenizer's own template: vLLM then reads
    it from the model directory, as the trainer does.
    """
    registry_path = _registry_path(Settings())
    try:
        spec = _read_registry(registry_path).get(model_id)
    except RegistryEditError as exc:
        _fail(str(exc))
    if spec is None:
        _fail(f"{registry_path} lists no model with id {model_id!r}")
    if spec.chat_template is None:
        typer.echo(f"{model_id} uses its tokenizer's chat template", err=True)
        raise typer.Exit(3)
    if output is None:
        typer.echo(spec.chat_template, nl=False)
    else:
        output.write_text(spec.chat_template, encoding="utf-8")
