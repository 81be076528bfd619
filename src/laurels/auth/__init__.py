"""Tokens: minting, verifying, and who may do what.

Other features import this face, or `auth.service` (tokens), nothing deeper: the
delivery credentials' listing and revocation are here."""

from laurels.auth.credentials import (
    StoredCredential,
    list_credentials,
    revoke_credential,
    revoke_player_credentials,
)

__all__ = [
    "StoredCredential",
    "list_credentials",
    "revoke_credential",
    "revoke_player_credentials",
]
