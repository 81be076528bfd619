"""Tokens: minting, verifying, and who may do what."""
