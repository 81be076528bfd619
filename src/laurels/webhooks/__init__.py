"""Webhooks: a studio's endpoints receive every unlock, signed, retried for a day.

Receivers check a request with `verify_signature` (standard library only):

    from laurels.webhooks import verify_signature
    ok = verify_signature(secret, request.headers["Laurels-Signature"], raw_body)
"""

from laurels.webhooks.policy import SIGNATURE_HEADER, verify_signature

__all__ = ["SIGNATURE_HEADER", "verify_signature"]
