"""Titles and their achievement configuration: drafts, published versions, media."""
