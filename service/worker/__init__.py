"""arq worker processes: ``ftapi worker --queue ctl`` (control work) and ``--queue gpu``."""
