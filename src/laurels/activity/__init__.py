"""A player's activity feed and title history.

What other features use to write the feed, in their own transaction, is exported
here (`feed_row`, `insert_statement`, `forget_player`); the reads are
`activity.service`. Activity imports no progress (progress writes the feed, so it
sits above): the reads get the rarity counters and the titles played from the
assembly (`service.ProgressReads`, which `laurels.progress.service` fulfils).
"""

from laurels.activity.writing import (
    bulk_insert_statement,
    feed_row,
    forget_player,
    insert_statement,
)

__all__ = ["bulk_insert_statement", "feed_row", "forget_player", "insert_statement"]
