"""Blueprints: HTTP in, one controller call, HTTP out."""
