"""Routers of the HTTP API (SPEC §5)."""
