"""Serving fine-tuned models, in two processes: the api's inference gateway (``gateway/``) and
the adapter agent beside each engine replica (``agent/``). Only what both speak lives here: the
engine-side adapter names and headers (``names.py``), the errors (``errors.py``) and how an
engine's error answers read (``engine_errors.py``)."""
