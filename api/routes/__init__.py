"""Routers of the HTTP API (docs/api.md, HTTP API)."""
