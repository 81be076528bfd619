"""Webhooks: a studio's endpoints receive every unlock, signed, retried for a day."""
