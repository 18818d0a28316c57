"""A job's files from an archive: `.sqlfluffignore` files, configs' `ignore_paths` and
`sql_file_exts` leave out what `sqlfluff lint` would leave out (SQLFluff's own discovery
decides), counted as ignored."""

import json
from pathlib import Path

from core.settings import Settings
from db.models import SubmissionType
from linting.engine import LintRequest, lint_file
from linting.sources import collect_files
from tests.support.factories import make_zip
from tests.support.oracle import cli_tree_violations


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


def test_every_extension_sqlfluff_lints_by_default(tmp_path: Path) -> None:
    settings = Settings(DATA_DIR=tmp_path)
    root = settings.NFS_SHARE_ROOT_PATH
    root.mkdir(parents=True, exist_ok=True)
    sql = b"select 1\n"
    names = ["a.sql", "b.sql.j2", "c.dml", "d.ddl", "e.pkb", "F.SQL"]
    make_zip(root / "in.zip", {**dict.fromkeys(names, sql), "notes.txt": b"x", "g.bteq": sql})
    files, ignored = collect_files("job-1", SubmissionType.ZIP_ARCHIVE, "in.zip", settings)
    assert sorted(f.file_name for f in files) == sorted(names)
    assert ignored == 2


def test_sql_file_exts_of_the_top_config_choose_the_files_as_the_cli_does(tmp_path: Path) -> None:
    """`sql_file_exts` in the archive's top config (not a nested one: SQLFluff reads it from the
    root config only) chooses the files; each is then linted as `sqlfluff lint .` lints it."""
    settings = Settings(DATA_DIR=tmp_path / "data")
    root = settings.NFS_SHARE_ROOT_PATH
    root.mkdir(parents=True, exist_ok=True)
    entries = {
        ".sqlfluff": b"[sqlfluff]\nsql_file_exts = .sql,.bteq,.dml\n",
        "a.sql": b"SELECT a  from t\n",
        "b.bteq": b"select  B from t\n",
        "c.dml": b"insert into t values (1)\n",
        "d.ddl": b"create table t (a int)\n",
        "sub/.sqlfluff": b"[sqlfluff]\nsql_file_exts = .foo\n",
        "sub/z.foo": b"select 1\n",
        "sub/y.sql": b"select y from t\n",
    }
    make_zip(root / "in.zip", entries)
    files, ignored = collect_files("job-1", SubmissionType.ZIP_ARCHIVE, "in.zip", settings)
    linted = sorted(f.file_name for f in files)
    assert linted == ["a.sql", "b.bteq", "c.dml", "sub/y.sql"] and ignored == 2

    tree = tmp_path / "tree"
    for name, data in entries.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    expected = cli_tree_violations(tree, ["--dialect", "ansi"])
    assert sorted(expected) == sorted(str((tree / n).resolve()) for n in linted)
    for i, f in enumerate(files):
        result = tmp_path / "results" / f"{i}.json"
        outcome = lint_file(
            LintRequest.for_dialect(
                str(root / f.source_file_path), f.file_name, str(result), "ansi", 1_048_576
            )
        )
        assert outcome.ok, outcome.error
        got = json.loads(result.read_text())[0]["violations"]
        assert got == expected[str((tree / f.file_name).resolve())], f.file_name


def test_a_single_file_job_is_named_as_the_cli_names_it(tmp_path: Path) -> None:
    settings = Settings(DATA_DIR=tmp_path)
    uploaded = "jobs/job-u/upload/orders_report.sql"
    inline = "jobs/job-i/source/input.sql"
    for path, name in ((uploaded, "orders_report.sql"), (inline, "input.sql")):
        [task], ignored = collect_files("job", SubmissionType.SINGLE_FILE, path, settings)
        assert (task.source_file_path, task.file_name, ignored) == (path, name, 0)
