"""The client sends what `sqlfluff lint FOLDER` (or `sqlfluff lint FILE ...`) would lint, with
the `sql_file_exts` its configs set (SQLFluff's own config loader and discovery are the oracle),
plus config and ignore files; never VCS or build folders, secrets or other files."""

import io
import os
import zipfile
from pathlib import Path

import pytest
from sqlfluff.core import FluffConfig
from sqlfluff.core.linter.discovery import paths_from_path
from sqlfluff_service_client import configs, files

TREE = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/hooks/evil.sql": "select 1\n",
    ".env": "SECRET=1\n",
    "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "README.md": "# project\n",
    "pyproject.toml": "[project]\nname = 'x'\n",
    "setup.cfg": "[sqlfluff]\ndialect = ansi\n",
    ".sqlfluff": "[sqlfluff]\ndialect = ansi\n",
    ".sqlfluffignore": "# comment\nscratch/\n*.tmp.sql\n/top_only.sql\n",
    "top_only.sql": "select 1\n",
    "a.sql": "select 1\n",
    "b.tmp.sql": "select 1\n",
    "UPPER.SQL": "select 1\n",
    "scratch/x.sql": "select 1\n",
    "models/top_only.sql": "select 1\n",
    "models/m.sql": "select 1\n",
    "models/staging/.sqlfluffignore": "legacy_*.sql\n!legacy_keep.sql\n[ab]?.sql\n",
    "models/staging/legacy_old.sql": "select 1\n",
    "models/staging/legacy_keep.sql": "select 1\n",
    "models/staging/a1.sql": "select 1\n",
    "models/staging/c1.sql": "select 1\n",
    "models/staging/deep/legacy_x.sql": "select 1\n",
    "models/marts/.sqlfluff": "[sqlfluff]\nignore_paths = generated,old.sql\n",
    "models/marts/old.sql": "select 1\n",
    "models/marts/new.sql": "select 1\n",
    "models/marts/generated/g.sql": "select 1\n",
    "analyses/**/x.sql": None,
    "analyses/one/two/y.sql": "select 1\n",
}


def make_tree(root: Path, tree: dict[str, str | None]) -> None:
    for rel, text in tree.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def sqlfluff_exts(root: Path) -> list[str]:
    """`sql_file_exts` as `sqlfluff lint` run in `root` reads it (its root config)."""
    cwd = Path.cwd()
    os.chdir(root)
    try:
        config = FluffConfig.from_root(overrides={"dialect": "ansi"})
    finally:
        os.chdir(cwd)
    return str(config.get("sql_file_exts")).lower().split(",")


def sqlfluff_would_lint(root: Path, *paths: str) -> list[str]:
    exts = sqlfluff_exts(root)
    found = [
        p
        for path in paths or (".",)
        for p in paths_from_path(str(root / path), working_path=str(root), target_file_exts=exts)
    ]
    rels = [Path(p).resolve().relative_to(root.resolve()).as_posix() for p in found]
    # The client never walks VCS and build folders (SQLFluff does).
    return sorted(r for r in rels if not set(r.split("/")[:-1]) & files.SKIPPED_FOLDERS)


def test_the_files_sent_are_the_files_sqlfluff_would_lint(tmp_path: Path) -> None:
    make_tree(tmp_path, TREE)
    selection = files.select_files(tmp_path)
    assert sorted(selection.sql_files) == sqlfluff_would_lint(tmp_path)
    assert "models/staging/legacy_keep.sql" in selection.sql_files
    assert "models/staging/c1.sql" in selection.sql_files
    assert "scratch/x.sql" not in selection.sql_files  # its folder is not even walked
    assert {"b.tmp.sql", "top_only.sql", "models/marts/old.sql"} <= set(selection.ignored_sql)


@pytest.mark.parametrize(
    "patterns",
    [
        ["*.sql", "!keep/*.sql"],
        ["**/deep/**"],
        ["a/**/z.sql"],
        ["/a/"],
        ["a/b"],
        ["?.sql"],
        ["[!x]*.sql"],
        ["sub"],
        ["\\#hash.sql"],
        ["b/*/"],
    ],
)
def test_gitignore_patterns_match_as_sqlfluff_reads_them(
    tmp_path: Path, patterns: list[str]
) -> None:
    names = [
        "x.sql", "y.sql", "keep/k.sql", "a/z.sql", "a/b/z.sql", "a/b/c/z.sql", "a/deep/q.sql",
        "b/deep/r.sql", "b/c/s.sql", "sub/t.sql", "q/sub/u.sql", "#hash.sql", "xy.sql",
    ]  # fmt: skip
    make_tree(tmp_path, dict.fromkeys(names, "select 1\n"))
    (tmp_path / ".sqlfluffignore").write_text("\n".join(patterns) + "\n")
    assert sorted(files.select_files(tmp_path).sql_files) == sqlfluff_would_lint(tmp_path)


def test_the_zip_holds_sql_configs_and_ignore_files_only(tmp_path: Path) -> None:
    make_tree(tmp_path, TREE)
    (tmp_path / "target/compiled").mkdir(parents=True)
    (tmp_path / "target/compiled/c.sql").write_text("select 1\n")
    (tmp_path / "node_modules/p").mkdir(parents=True)
    (tmp_path / "node_modules/p/n.sql").write_text("select 1\n")
    outside = tmp_path.parent / "outside.sql"
    outside.write_text("select 'secret'\n")
    os.symlink(outside, tmp_path / "link.sql")
    selection = files.select_files(tmp_path)
    with zipfile.ZipFile(io.BytesIO(files.zip_selection(tmp_path, selection))) as archive:
        names = set(archive.namelist())
    assert not {n for n in names if n.startswith((".git/", "target/", "node_modules/"))}
    assert not {".env", "id_rsa", "README.md", "link.sql"} & names
    assert "pyproject.toml" not in names  # no [tool.sqlfluff] in it: nothing to send
    assert {".sqlfluff", "setup.cfg", ".sqlfluffignore", "models/marts/.sqlfluff"} <= names
    assert "models/staging/.sqlfluffignore" in names
    assert set(selection.sql_files) <= names and not set(selection.ignored_sql) & names


def test_disregarding_ignore_files_sends_every_sql_file(tmp_path: Path) -> None:
    make_tree(tmp_path, TREE)
    selection = files.select_files(tmp_path, honour_ignores=False)
    assert "scratch/x.sql" in selection.sql_files and not selection.ignored_sql


def test_the_path_prefix_is_the_folder_from_the_git_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "warehouse/models").mkdir(parents=True)
    assert files.path_prefix(tmp_path / "warehouse/models") == "warehouse/models"
    assert files.path_prefix(tmp_path) == ""
    (tmp_path / "warehouse/models/a.sql").write_text("select 1\n")
    assert files.path_prefix(tmp_path / "warehouse/models/a.sql") == "warehouse/models"


EXTS_TREE = {
    "a.sql": "select 1\n",
    "b.sql.j2": "select {{ 1 }}\n",
    "c.dml": "insert into t values (1)\n",
    "d.DDL": "create table t (a int)\n",
    "e.pkb": "select 1\n",
    "f.bq": "select 1\n",
    "notes.txt": "select 1\n",
    "sub/g.dml": "select 1\n",
    "sub/h.j2": "select 1\n",
}


def test_sqlfluffs_default_extensions_are_the_clients() -> None:
    default = FluffConfig(overrides={"dialect": "ansi"}).get("sql_file_exts")
    assert configs.DEFAULT_SQL_FILE_EXTS == tuple(default.lower().split(","))


@pytest.mark.parametrize(
    "config",
    [
        {},
        {".sqlfluff": "[sqlfluff]\nsql_file_exts = .sql,.bq,.DML\n"},
        {"setup.cfg": "[sqlfluff]\nsql_file_exts = .j2\n"},
        {"tox.ini": "[sqlfluff]\nsql_file_exts = .sql.j2\n",
         ".sqlfluff": "[sqlfluff]\nsql_file_exts = .bq\n"},
        {"pyproject.toml": '[tool.sqlfluff.core]\nsql_file_exts = ".ddl,.txt"\n',
         ".sqlfluff": "[sqlfluff]\nsql_file_exts = .bq\n"},
        {"pyproject.toml": '[tool.other]\nsql_file_exts = ".txt"\n'},
        # Only the root's config decides the extensions, as in SQLFluff.
        {"sub/.sqlfluff": "[sqlfluff]\nsql_file_exts = .j2\n"},
    ],
)  # fmt: skip
def test_the_files_sent_have_the_extensions_sqlfluffs_configs_name(
    tmp_path: Path, config: dict[str, str]
) -> None:
    make_tree(tmp_path, {**EXTS_TREE, **config})
    selection = files.select_files(tmp_path)
    assert sorted(selection.sql_files) == sqlfluff_would_lint(tmp_path)
    assert set(config) <= set(selection.support_files) | {"pyproject.toml"}


def test_a_repository_sends_every_sql_file_but_no_secret(tmp_path: Path) -> None:
    hidden = {".git/x.dml": "s\n", "target/run/y.sql.j2": "s\n", "secrets/.env.ddl.bak": "x\n"}
    make_tree(tmp_path, {**TREE, **EXTS_TREE, **hidden})
    selection = files.select_files(tmp_path)
    assert sorted(selection.sql_files) == sqlfluff_would_lint(tmp_path)
    assert {"b.sql.j2", "c.dml", "d.DDL", "e.pkb", "sub/g.dml"} <= set(selection.sql_files)
    with zipfile.ZipFile(io.BytesIO(files.zip_selection(tmp_path, selection))) as archive:
        names = set(archive.namelist())
    assert not {n for n in names if n.startswith((".git/", "target/", "secrets/"))}
    assert not {"notes.txt", "f.bq", ".env", "id_rsa"} & names


def test_pyproject_is_read_by_hand_without_tomllib() -> None:
    text = (
        '[tool.sqlfluff.templater]\nsql_file_exts = ".no"\n'
        '[tool.sqlfluff.core]\ndialect = "ansi"\nsql_file_exts = [".sql", ".dml"]\n'
        "ignore_paths = 'gen,old.sql'\n"
    )
    assert configs._simple_toml_core_value(text, "sql_file_exts") == [".sql", ".dml"]
    assert configs._simple_toml_core_value(text, "ignore_paths") == "gen,old.sql"
    assert configs._simple_toml_core_value(text, "rules") is None


def test_named_files_are_taken_as_sqlfluff_lint_takes_them(tmp_path: Path) -> None:
    make_tree(tmp_path, {**TREE, **EXTS_TREE})
    named = ["a.sql", "b.tmp.sql", "c.dml", "notes.txt", "models/staging/legacy_old.sql",
             "models/staging/legacy_keep.sql", "models/marts/old.sql", "models/marts"]  # fmt: skip
    selection = files.select_paths(tmp_path, [tmp_path / p for p in named])
    assert sorted(selection.sql_files) == sqlfluff_would_lint(tmp_path, *named)
    assert {".sqlfluff", ".sqlfluffignore", "models/staging/.sqlfluffignore",
            "models/marts/.sqlfluff"} <= set(selection.support_files)  # fmt: skip
