"""Alembic migrations; `laurels.schema.upgrade` runs them."""
