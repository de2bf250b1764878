"""Serving fine-tuned models: the api's inference gateway and the adapter agent.

The gateway (``gateway.py``, routes in ``http.py``) resolves ``model`` against the database and
forwards the request to an adapter agent chosen by adapter affinity (``routing.py``,
``agent_client.py``). The agent (``agent.py``, app in ``agent_http.py``) runs beside one engine
replica (vLLM, or ``ftapi engine``): it downloads adapters into a disk cache
(``adapter_cache.py``), keeps the engine's set of loaded adapters bounded (``residency.py``), and
talks to the engine only through vLLM's HTTP API (``engine_client.py``).
"""
