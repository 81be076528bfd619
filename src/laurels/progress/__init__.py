"""Players' achievement progress: the update path, the list, rarity and resets."""
