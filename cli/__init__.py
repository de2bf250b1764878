"""The ``ftapi`` command line: operators' sub-commands (and, later, users')."""
