"""The client sends what `sqlfluff lint FOLDER` would lint (SQLFluff's own discovery is the
oracle), plus config and ignore files; never VCS or build folders, secrets or other files."""

import io
import os
import zipfile
from pathlib import Path

import pytest
from sqlfluff.core.linter.discovery import paths_from_path
from sqlfluff_service_client import files

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


def sqlfluff_would_lint(root: Path) -> list[str]:
    found = paths_from_path(str(root), working_path=str(root), target_file_exts=(".sql",))
    rels = [Path(p).resolve().relative_to(root.resolve()).as_posix() for p in found]
    return sorted(r for r in rels if not r.startswith(".git/"))


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
