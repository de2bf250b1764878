"""The engine: what each route does, in vLLM's terms, with torch confined to the worker thread.

Model names resolve like vLLM's ``_check_model``: the served base name (or no name) is the base
model, a registered ``lora_name`` is that adapter, and, with a resolver cache directory, an
unknown name may be found on disk; anything else is 404 "The model `x` does not exist.".

Adapters: registering a name (``adapters``) and holding its weights (``residency``) are separate,
as in vLLM. Names are not bounded; weights are, by ``--max-cpu-loras``, least recently used out
first, reloaded from ``lora_path`` on the next request that needs them. Every torch call runs on
the single worker thread, so while a request generates no other job runs: an adapter serving a
request is never evicted or unloaded under it, and an unload waits for the running generation.
``--max-loras`` (distinct adapters in one batch) is met trivially by batches of one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tokenizers import Tokenizer

from gpu_runner.engine import responses
from gpu_runner.engine.adapter_files import check_adapter_dir
from gpu_runner.engine.adapters import AdapterRecord, AdapterRegistry
from gpu_runner.engine.config import EngineConfig
from gpu_runner.engine.errors import (
    BadRequestError,
    EngineError,
    InvalidUserInput,
    NotFoundError,
    model_not_found,
)
from gpu_runner.engine.generation import GenerationEvent, generate
from gpu_runner.engine.model import ServingModel
from gpu_runner.engine.residency import AdapterResidency
from gpu_runner.engine.resolver import find_cached_adapter
from gpu_runner.engine.sampling import SamplingParams
from gpu_runner.engine.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    LoadLoRAAdapterRequest,
    UnloadLoRAAdapterRequest,
)
from gpu_runner.engine.worker import ModelWorker
from service.datasets.for_gpu_runner import (
    ChatTemplateRenderError,
    ChatTokenizer,
    MalformedExampleError,
    read_tokenizer_files,
)
from service.errors import ModelTokenizerError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedGeneration:
    """A request ready for the worker: which weights, which tokens, how to decode."""

    model: str  # the name the response reports
    adapter: AdapterRecord | None  # None: the base model
    prompt_ids: list[int]
    params: SamplingParams


class Started:
    """First item of every generation stream: the adapter is in place and decoding begins."""


class Engine:
    """One base model with LoRA adapters, serving vLLM's routes."""

    def __init__(
        self,
        config: EngineConfig,
        model: ServingModel,
        chat: ChatTokenizer,
        tokenizer: Tokenizer,
        max_model_len: int,
    ) -> None:
        self.config = config
        self.max_model_len = max_model_len
        self.adapters = AdapterRegistry()
        self.worker = ModelWorker()
        self.running_adapters: Counter[str] = Counter()  # by adapter name, "" for the base
        self.waiting_adapters: Counter[str] = Counter()
        self._model = model
        self._chat = chat
        self._tokenizer = tokenizer
        self._residency = AdapterResidency(config.resident_adapters)  # worker thread only
        self._name_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @classmethod
    def load(cls, config: EngineConfig) -> Engine:
        """Load the base model and its tokenizer (slow: seconds to minutes)."""
        model_dir = Path(config.model)
        files = read_tokenizer_files(model_dir)
        model = ServingModel(model_dir, config.device)
        longest = model.max_position_embeddings or files.model_max_length
        if (
            config.max_model_len is not None
            and longest is not None
            and config.max_model_len > longest
        ):
            raise ValueError(
                f"--max-model-len {config.max_model_len} is above the model's {longest}"
            )
        max_model_len = config.max_model_len or longest
        if max_model_len is None:
            raise ValueError("the model does not say its context length: set --max-model-len")
        chat = ChatTokenizer(
            files, max_seq_length=max_model_len, chat_template=config.chat_template
        )
        return cls(config, model, chat, files.tokenizer, max_model_len)

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda``)."""
        return str(self._model.device)

    def token_text(self, token_id: int) -> str:
        """One token's text as logprobs name it (special tokens spelled out)."""
        return str(self._tokenizer.decode([token_id], skip_special_tokens=False))

    def close(self) -> None:
        """Stop running generations and the worker."""
        self.worker.shutdown()

    # -- models and adapters --------------------------------------------------------------------

    def model_list(self) -> dict[str, object]:
        """``GET /v1/models``."""
        return responses.model_list(
            self.config.model_name, self.config.model, self.max_model_len, self.adapters.all()
        )

    async def load_adapter(self, request: LoadLoRAAdapterRequest) -> str:
        """Register and load an adapter; vLLM's success text."""
        name, path = request.lora_name, request.lora_path
        if not name or not path:
            raise InvalidUserInput("Both 'lora_name' and 'lora_path' must be provided.")
        async with self._name_locks[name]:
            if not request.load_inplace and self.adapters.get(name) is not None:
                raise InvalidUserInput(
                    f"The lora adapter '{name}' has already been loaded. If you want to load "
                    "the adapter in place, set 'load_inplace' to True."
                )
            await self._load(name, path)
        return f"Success: LoRA adapter '{name}' added successfully."

    async def unload_adapter(self, request: UnloadLoRAAdapterRequest) -> str:
        """Forget an adapter and free its weights; vLLM's success text."""
        name = request.lora_name
        if not name:
            raise InvalidUserInput("'lora_name' needs to be provided to unload a LoRA adapter.")
        async with self._name_locks[name]:
            if self.adapters.remove(name) is None:
                raise NotFoundError(f"The lora adapter '{name}' cannot be found.")
            await self.worker.call(partial(self._free_weights, name))
        return f"Success: LoRA adapter '{name}' removed successfully."

    async def _load(self, name: str, path: str) -> AdapterRecord:
        record = self.adapters.prepare(name, path)
        await self.worker.call(partial(self._load_weights, record))
        self.adapters.register(record)
        return record

    async def _resolve(self, name: str | None) -> AdapterRecord | None:
        if not name or name == self.config.model_name:
            return None
        record = self.adapters.get(name)
        if record is not None:
            return record
        cache_dir = self.config.lora_resolver_cache_dir
        if cache_dir is None or not self.config.runtime_lora_updating:
            raise model_not_found(name)
        path = find_cached_adapter(cache_dir, name, self.config.model)
        if path is None:
            raise model_not_found(name)
        async with self._name_locks[name]:
            record = self.adapters.get(name)
            if record is not None:
                return record
            try:
                return await self._load(name, str(path))
            except EngineError as exc:
                raise BadRequestError(
                    f"LoRA adapter '{name}' was found but could not be loaded."
                ) from exc

    # -- worker-thread jobs ---------------------------------------------------------------------

    def _load_weights(self, record: AdapterRecord) -> None:
        check_adapter_dir(record.name, record.path, max_lora_rank=self.config.max_lora_rank)
        self._free_weights(record.name)  # load_inplace: the new files replace the old weights
        self._make_resident(record)

    def _free_weights(self, name: str) -> None:
        if self._residency.remove(name):
            self._model.delete_adapter(name)

    def _make_resident(self, record: AdapterRecord) -> None:
        for victim in self._residency.make_room():
            self._model.delete_adapter(victim)
            logger.info("evicted adapter %r (least recently used)", victim)
        try:
            self._model.load_adapter(record.name, Path(record.path))
        except Exception as exc:  # peft and torch raise many types for a bad adapter
            raise BadRequestError(f"Loading lora {record.name} failed: {exc}") from exc
        self._residency.add(record.name)
        logger.info("loaded adapter %r from %s", record.name, record.path)

    def _generation_job(
        self, prepared: PreparedGeneration, cancelled: threading.Event
    ) -> Generator[Started | GenerationEvent, None, None]:
        record = prepared.adapter
        decode = partial(self._tokenizer.decode, skip_special_tokens=True)
        run = partial(generate, self._model, prepared.prompt_ids, prepared.params, decode)
        if record is None:
            with self._model.adapter_scope(None):
                yield Started()
                yield from run(cancelled)
            return
        current = self.adapters.current(record)
        if current is None:  # unloaded (or unloaded and loaded again) since it was resolved
            raise model_not_found(record.name)
        record = current
        if not self._residency.is_resident(record.name):
            # Evicted earlier: read it again from its path, as vLLM does after a CPU-cache miss.
            check_adapter_dir(record.name, record.path, max_lora_rank=self.config.max_lora_rank)
            self._make_resident(record)
        self._residency.touch(record.name)
        with self._residency.in_use(record.name), self._model.adapter_scope(record.name):
            yield Started()
            yield from run(cancelled)

    # -- generation -----------------------------------------------------------------------------

    async def prepare_chat(self, request: ChatCompletionRequest) -> PreparedGeneration:
        """Resolve the model and render the conversation with the trainer's chat template."""
        adapter = await self._resolve(request.model)
        try:
            text = self._chat.render_chat(
                request.messages, tools=request.tools, add_generation_prompt=True
            )
        except MalformedExampleError as exc:
            raise BadRequestError(str(exc), param=exc.param) from exc
        except (ChatTemplateRenderError, ModelTokenizerError) as exc:
            raise BadRequestError(f"The chat template cannot render these messages: {exc}") from exc
        # The template writes any BOS itself; the trainer encodes its text the same way.
        prompt_ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        params = self._sampling(request, prompt_ids, request.output_limit, "messages")
        return PreparedGeneration(
            request.model or self.config.model_name, adapter, prompt_ids, params
        )

    async def prepare_completion(self, request: CompletionRequest) -> PreparedGeneration:
        """Resolve the model and tokenize the prompt (text gets the tokenizer's BOS, if any)."""
        adapter = await self._resolve(request.model)
        prompt = request.prompt
        if isinstance(prompt, list) and all(isinstance(item, int) for item in prompt):
            prompt_ids = [int(item) for item in prompt]
            if any(not 0 <= item < self._model.vocab_size for item in prompt_ids):
                raise BadRequestError("Token id out of vocabulary in prompt.", param="prompt")
        else:
            text = prompt if isinstance(prompt, str) else str(prompt[0])
            prompt_ids = self._tokenizer.encode(text, add_special_tokens=True).ids
        if not prompt_ids:
            raise BadRequestError("The prompt cannot be empty.", param="prompt")
        params = self._sampling(request, prompt_ids, request.output_limit, "prompt")
        return PreparedGeneration(
            request.model or self.config.model_name, adapter, prompt_ids, params
        )

    async def events(
        self, prepared: PreparedGeneration
    ) -> AsyncGenerator[Started | GenerationEvent, None]:
        """Run a prepared request: ``Started``, then text pieces, then one ``GenerationEnd``."""
        label = prepared.adapter.name if prepared.adapter is not None else ""
        self.waiting_adapters[label] += 1
        started = False
        try:
            async for event in self.worker.stream(partial(self._generation_job, prepared)):
                if isinstance(event, Started):
                    started = True
                    self.waiting_adapters[label] -= 1
                    self.running_adapters[label] += 1
                yield event
        finally:
            (self.running_adapters if started else self.waiting_adapters)[label] -= 1

    def _sampling(
        self,
        request: ChatCompletionRequest | CompletionRequest,
        prompt_ids: list[int],
        output_limit: int | None,
        prompt_param: str,
    ) -> SamplingParams:
        limit, used = self.max_model_len, len(prompt_ids)
        if used >= limit:
            raise BadRequestError(
                f"This model's maximum context length is {limit} tokens. However, your request "
                f"has {used} input tokens. Please reduce the length of the input messages.",
                param=prompt_param,
            )
        if output_limit is not None and output_limit > limit - used:
            raise BadRequestError(
                f"'max_tokens' or 'max_completion_tokens' is too large: {output_limit}. This "
                f"model's maximum context length is {limit} tokens and your request has {used} "
                f"input tokens ({output_limit} > {limit} - {used}).",
                param="max_tokens",
            )
        return SamplingParams(
            max_tokens=output_limit if output_limit is not None else limit - used,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            top_k=request.top_k or 0,
            seed=request.seed,
            stop=request.stop_strings,
            stop_token_ids=frozenset(request.stop_token_ids or ()),
            ignore_eos=request.ignore_eos,
            logprobs=request.top_count,
        )
