"""The api process: the Litestar app, what it builds at start-up, how handlers are injected,
its probes and its OpenAPI document. The routes themselves live in each domain's ``http.py``."""
