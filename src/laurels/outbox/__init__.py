"""The transactional outbox: what an update committed, for whoever reports it later.

The update transaction writes one row per accepted update and one per unlock
(`writing`); after commit the real-time relay follows the rows in commit order
(`OutboxTail`, `read_player`, woken by `listen` and the writer) and the webhooks
take the unlocks once each (`hand_over_unlocks`); old rows are pruned (`prune`).
This module is the outbox's face: other features import from here only.
"""

from laurels.outbox.handover import hand_over_unlocks, has_waiting_unlocks
from laurels.outbox.reading import (
    START,
    Key,
    OutboxEntry,
    format_key,
    head,
    parse_key,
    prune,
    read_after,
    read_player,
)
from laurels.outbox.tables import PROGRESS_CHANGED, UNLOCKED
from laurels.outbox.tail import OutboxTail, outbox_tail
from laurels.outbox.wakeup import CHANNEL, listen
from laurels.outbox.writing import (
    AchievementProgress,
    Player,
    bulk_insert_statement,
    insert_statement,
    progress_changed,
    requirements_moved,
    unlocked,
)

__all__ = [
    "CHANNEL",
    "PROGRESS_CHANGED",
    "START",
    "UNLOCKED",
    "AchievementProgress",
    "Key",
    "OutboxEntry",
    "OutboxTail",
    "Player",
    "bulk_insert_statement",
    "format_key",
    "hand_over_unlocks",
    "has_waiting_unlocks",
    "head",
    "insert_statement",
    "listen",
    "outbox_tail",
    "parse_key",
    "progress_changed",
    "prune",
    "read_after",
    "read_player",
    "requirements_moved",
    "unlocked",
]
