"""Metadata store: SQLAlchemy rows, the async engine and Alembic migrations."""
