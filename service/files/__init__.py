"""The Files API: file bodies in the blob store, their metadata in the database."""
