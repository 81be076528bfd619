"""A player's activity feed and title history."""
