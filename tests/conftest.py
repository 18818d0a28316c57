"""Session-wide safety and the shared fixtures: a private Prefect home, a temp shared root,
and a migrated test database (SQLite, or MariaDB when DATABASE_URL points at one)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db.engine import make_engine, make_sessionmaker
from tests.support import databases, prefect_server
from tests.support.corpus import CORPUS

# Read before any fixture changes the environment: the server the run was pointed at.
BASE_DATABASE_URL = os.environ.get("DATABASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    # No test may reach a Prefect server it did not start, or write into ~/.prefect. Prefect
    # reads these once at import, so they are set here, before any test module imports it.
    home = Path(config.rootpath) / ".pytest_prefect_home"
    home.mkdir(exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_API_URL"] = prefect_server.reserve_api_url()
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    assert CORPUS.is_dir(), f"the shared corpus is missing at {CORPUS}"


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server at PREFECT_API_URL, for the session."""
    url = os.environ["PREFECT_API_URL"]
    assert url.startswith("http://127.0.0.1:"), f"refusing a non-local Prefect API: {url}"
    with prefect_server.running_server(url, tmp_path_factory.mktemp("prefect")):
        yield url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = databases.test_database_url(BASE_DATABASE_URL, tmp_path_factory.mktemp("db"))
    mysql = databases.is_mysql(url)
    if mysql:
        databases.create_mysql_database(url)
    databases.migrate(url)
    yield url
    if mysql:
        databases.drop_mysql_database(url)


@pytest.fixture(scope="session")
def session_maker(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def shared_root(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    root.mkdir()
    return root


@pytest.fixture
def settings(
    monkeypatch: pytest.MonkeyPatch, database_url: str, shared_root: Path, tmp_path: Path
) -> Iterator[Settings]:
    """Settings of a test: its own shared root and the session's test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("NFS_SHARE_ROOT_PATH", str(shared_root))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
