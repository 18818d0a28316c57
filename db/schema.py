"""Whether the database's schema is the one this code expects: the Alembic revision it is at
against the newest revision the code ships (`alembic/versions`)."""

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

REPO_ROOT = Path(__file__).resolve().parent.parent


@cache
def code_heads() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code (read once per process)."""
    script = ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini")))
    return frozenset(script.get_heads())


def database_heads(connection: Connection) -> frozenset[str]:
    """The revision(s) the database is at; empty when it was never migrated."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())
