"""The player's page: what a player sees of their achievements (their titles, each
title's achievement list and activity feed), opened through a short-lived link and
kept by a session cookie, updated live by `static/play.js` over the real-time channel."""

from laurels.player.links import link_url, mint_link

__all__ = ["link_url", "mint_link"]
