"""The `sqlfluff-service` command for CI: a client of sqlfluff-service needing only httpx and
rich. It imports nothing of the server (tests/unit/test_architecture.py)."""

__version__ = "0.2.0"
