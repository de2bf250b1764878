"""Errors raised by the blob store.

    Exception
     ├── BlobNotFound          the key has no committed object
     ├── BlobStoreUnavailable  the store cannot be reached or written (network, permissions,
     │                         full disk, missing bucket or root); the message names the reason
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


class InvalidBlobKey(ValueError):
    """A blob key, prefix or id that the key rules refuse."""
