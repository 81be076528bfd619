"""Laurels: a self-hostable achievements platform for games.

`laurels.sdk` is what a game links against; everything else is the service and
needs the `server` extra.
"""

__version__ = "0.1.0"
