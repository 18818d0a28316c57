"""The test database: a SQLite file by default, or `<name>_test_<worker>` on the MySQL server
named by DATABASE_URL (never the named database itself), migrated to head once per session."""

import os
from pathlib import Path

from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from alembic import command

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def is_mysql(url: str) -> bool:
    return make_url(url).get_backend_name() in ("mysql", "mariadb")


def test_database_url(base_url: str | None, tmp_dir: Path) -> str:
    """The URL the tests use: derived from `base_url` and safe to drop."""
    if not base_url or not is_mysql(base_url):
        return f"sqlite:///{tmp_dir / 'test.db'}"
    parsed = make_url(base_url)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    name = f"{parsed.database or 'sqlfluff'}_test_{worker}"
    return parsed.set(database=name).render_as_string(hide_password=False)


def create_mysql_database(url: str) -> None:
    parsed = make_url(url)
    assert parsed.database and "_test_" in parsed.database, f"refusing to touch {parsed.database}"
    server: URL = parsed.set(database="information_schema")
    engine = create_engine(server)
    with engine.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
        conn.execute(text(f"CREATE DATABASE `{parsed.database}` CHARACTER SET utf8mb4"))
    engine.dispose()


def drop_mysql_database(url: str) -> None:
    parsed = make_url(url)
    assert parsed.database and "_test_" in parsed.database, f"refusing to touch {parsed.database}"
    engine = create_engine(parsed.set(database="information_schema"))
    with engine.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
    engine.dispose()


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
