"""What each process builds at start-up and closes at shutdown, and nothing it does not use.

``resources`` opens the connections every process shares and ``shared`` builds the services more
than one process uses. Each process builds the rest in its own package:
``service/api/services.py``, ``service/ctl_worker/context.py`` and
``gpu_runner/gpu_worker/context.py``. Domain packages never import this package (a layer
contract in ``pyproject.toml`` says so); what they need is passed to them.
"""
