"""A player's activity feed and title history.

What other features use to write the feed, in their own transaction, is exported
here (`feed_row`, `insert_statement`, `forget_player`); the reads are
`activity.service`. This module imports nothing of another feature, so the update
path can write the feed without importing the reads.
"""

from laurels.activity.writing import feed_row, forget_player, insert_statement

__all__ = ["feed_row", "forget_player", "insert_statement"]
