"""``ftapi engine``: one base model and many LoRA adapters behind vLLM's HTTP surface.

The embedded default inference engine and what CI runs. It answers the same routes, request
fields, plain-text success bodies, error shapes and status codes as vLLM started with
``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=true``
(``shared/reference/vllm-lora.md`` §1.3, §1.4, §6.9), so the adapter agent and the contract
suite (``tests/contract``) cannot tell the two apart.

Modules, from the wire inward: ``http`` (Litestar routes and the error envelope), ``engine``
(the facade: resolve a model name, render the prompt, admin operations), ``worker`` (the one
thread every torch call runs on), ``generation`` (the decode loop), ``sampling`` and
``text_stream`` (next token; detokenizing and stop strings), ``adapters`` (registered names)
and ``residency`` (which adapters' weights are loaded, LRU), ``model`` (transformers + peft),
``adapter_files`` and ``resolver`` (what a ``lora_path`` holds), ``schemas`` and ``responses``
(request and response shapes), ``config`` and ``errors``.
"""
