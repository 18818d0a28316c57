"""Engines and sessionmakers: one engine per process, created lazily, never pickled to a task."""

from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    """An engine tuned for this service's short transactions.

    MySQL: `pool_pre_ping` so a restarted server costs one failed ping, not an error;
    `pool_recycle` below the server's `wait_timeout`. SQLite: WAL and a busy timeout, because the
    API, flow runs and Dask workers write to the same file from several processes.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            # SQLite creates the file but not its folder: on a fresh clone with the share
            # elsewhere nothing else has made DATA_DIR yet ("unable to open database file").
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return create_engine(parsed, pool_pre_ping=True, pool_recycle=1800)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@cache
def sessions(url: str) -> sessionmaker[Session]:
    """The per-process sessionmaker for `url` (flow runs and Dask workers)."""
    return make_sessionmaker(make_engine(url))
