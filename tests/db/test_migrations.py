"""Migration 001 goes up, down and up again, on SQLite and (in CI) MariaDB."""

from sqlalchemy import inspect

from db.engine import make_engine
from tests.support import databases


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert {"linting_jobs", "linting_tasks"} <= _tables(database_url)
    databases.downgrade(database_url, "base")
    assert not {"linting_jobs", "linting_tasks"} & _tables(database_url)
    databases.migrate(database_url)
    engine = make_engine(database_url)
    try:
        inspector = inspect(engine)
        columns = {c["name"] for c in inspector.get_columns("linting_tasks")}
        assert {
            "task_id",
            "job_id",
            "status",
            "source_file_path",
            "result_file_path",
            "error_message",
            "created_at",
            "updated_at",
        } <= columns
        uniques = {i["name"]: i for i in inspector.get_indexes("linting_tasks") if i["unique"]}
        assert uniques["uq_linting_tasks_job_id_source_path_hash"]["column_names"] == [
            "job_id",
            "source_path_hash",
        ]
    finally:
        engine.dispose()
