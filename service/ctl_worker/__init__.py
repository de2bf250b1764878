"""The ctl worker process (``ftapi worker --queue ctl``): validation, webhook delivery, the
reconciler and sweeps."""
