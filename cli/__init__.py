"""The ``ftapi`` command line, above ``service`` and ``gpu_runner``: a sub-command per process
(api, workers, engine, agent, dev), operators' tasks (keys, db, openapi), and the user client."""
