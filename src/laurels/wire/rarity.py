"""How rare an achievement is, as the wire shows it (`rarity` of spec/wire.md): the
achievement list, the activity feed and the real-time pushes all compute it here."""

from __future__ import annotations

RARE_BELOW_PERCENT = 10.0


def rarity(unlocks: int, players: int) -> tuple[str, float]:
    """(category, percent of the sandbox's players of the title who unlocked it)."""
    percent = 0.0 if players <= 0 else min(100.0, round(100.0 * unlocks / players, 2))
    return ("Rare" if percent < RARE_BELOW_PERCENT else "Common"), percent
