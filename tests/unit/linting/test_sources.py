"""A job's files from an archive: `.sqlfluffignore` files and configs' `ignore_paths` leave out
what `sqlfluff lint` would leave out (SQLFluff's own discovery decides), counted as ignored."""

from pathlib import Path

from core.settings import Settings
from db.models import SubmissionType
from linting.sources import collect_files
from tests.support.factories import make_zip


def test_sqlfluffignore_in_an_archive_is_honoured_and_counted(tmp_path: Path) -> None:
    settings = Settings(DATA_DIR=tmp_path)
    root = settings.NFS_SHARE_ROOT_PATH
    root.mkdir(parents=True, exist_ok=True)
    sql = b"select 1\n"
    make_zip(
        root / "in.zip",
        {
            ".sqlfluffignore": b"scratch/\n*_tmp.sql\n",
            "a.sql": sql,
            "b_tmp.sql": sql,
            "scratch/x.sql": sql,
            "models/.sqlfluffignore": b"legacy.sql\n",
            "models/legacy.sql": sql,
            "models/m.sql": sql,
            "marts/.sqlfluff": b"[sqlfluff]\nignore_paths = old.sql\n",
            "marts/old.sql": sql,
            "marts/new.sql": sql,
            "README.md": b"# not SQL\n",
        },
    )
    files, ignored = collect_files("job-1", SubmissionType.ZIP_ARCHIVE, "in.zip", settings)
    assert sorted(f.file_name for f in files) == ["a.sql", "marts/new.sql", "models/m.sql"]
    assert ignored == 5  # four ignored .sql files and the README


def test_without_ignore_files_every_sql_file_is_linted(tmp_path: Path) -> None:
    settings = Settings(DATA_DIR=tmp_path)
    root = settings.NFS_SHARE_ROOT_PATH
    root.mkdir(parents=True, exist_ok=True)
    make_zip(root / "in.zip", {"a.sql": b"select 1\n", "scratch/x.sql": b"select 1\n"})
    files, ignored = collect_files("job-1", SubmissionType.ZIP_ARCHIVE, "in.zip", settings)
    assert sorted(f.file_name for f in files) == ["a.sql", "scratch/x.sql"] and ignored == 0
