"""Alembic migrations; `laurels.schema.upgrade` runs them. The migrations assemble
the features' tables, so this package sits above the features (`laurels.schema`,
which only runs them, sits below)."""

from sqlalchemy import MetaData

from laurels.db import metadata


def all_metadata() -> MetaData:
    """The MetaData with every feature's tables registered."""
    from laurels.activity import tables as _activity  # noqa: F401
    from laurels.auth import tables as _auth  # noqa: F401
    from laurels.outbox import tables as _outbox  # noqa: F401
    from laurels.player import tables as _player  # noqa: F401
    from laurels.portal import tables as _portal  # noqa: F401
    from laurels.progress import tables as _progress  # noqa: F401
    from laurels.titles import tables as _titles  # noqa: F401
    from laurels.webhooks import tables as _webhooks  # noqa: F401

    return metadata
