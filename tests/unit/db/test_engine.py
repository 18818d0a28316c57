"""The engine of a SQLite URL whose folder does not exist yet (a fresh clone's DATA_DIR)."""

from pathlib import Path

from sqlalchemy import text

from db.engine import make_engine


def test_sqlite_engine_creates_the_folder_of_its_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "data" / "service.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    assert path.is_file()


def test_in_memory_sqlite_creates_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///:memory:")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
    assert list(tmp_path.iterdir()) == []
