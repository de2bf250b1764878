"""Errors raised by the blob store.

    Exception
     ├── BlobNotFound          the key has no committed object
     ├── BlobStoreUnavailable  the store cannot be reached or written (network, permissions,
     │    │                    missing bucket or root); the message names the reason
     │    └── BlobStoreFull    no space left (a full disk or quota; S3: a full or over-quota
     │                         store); nothing of the failed write remains
     └── ValueError
          └── InvalidBlobKey   a key or id outside the allowed alphabet, or one that could escape
                               its root (`..`, absolute paths, hidden segments)

They are plain exceptions on purpose: the service maps them onto its own error tree.
"""


class BlobNotFound(Exception):
    """No committed object exists under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob under key {key!r}")
        self.key = key


class BlobStoreUnavailable(Exception):
    """The store cannot be reached or written; the message says why."""


class BlobStoreFull(BlobStoreUnavailable):
    """The store has no space left for the write; an operator has to free or add some.

    A kind of BlobStoreUnavailable, so code that only knows the store failed still handles it.
    """


class InvalidBlobKey(ValueError):
    """A blob key, prefix or id that the key rules refuse."""
