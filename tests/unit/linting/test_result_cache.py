"""The result cache: a hit needs the same bytes, config, config files and SQLFluff version."""

import json
from pathlib import Path

import pytest

from linting.children import lint_with_limit
from linting.config_policy import CONFIG_FILE_NAMES
from linting.engine import LintRequest
from linting.options import FolderConfigs
from linting.result_cache import cache_key, tree_digest
from tests.support.corpus import CORPUS

OVERRIDES = {"dialect": "ansi", "large_file_skip_byte_limit": 1000, "use_rust_parser": False}


def test_key_follows_bytes_config_and_config_files(tmp_path: Path) -> None:
    source = tmp_path / "a/q.sql"
    source.parent.mkdir()
    source.write_text("select 1\n")
    key = cache_key(source, b"select 1\n", OVERRIDES)
    assert key == cache_key(tmp_path / "a/other.sql", b"select 1\n", OVERRIDES)
    assert key != cache_key(source, b"select 2\n", OVERRIDES)
    assert key != cache_key(source, b"select 1\n", {**OVERRIDES, "dialect": "postgres"})
    (tmp_path / ".sqlfluff").write_text("[sqlfluff:rules]\nmax_line_length = 20\n")
    assert key != cache_key(source, b"select 1\n", OVERRIDES)


def test_a_batch_looks_up_each_folders_config_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are the same with the batch's memo as without, and the memo asks the file system
    about each name once per folder on the way, not once per file."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models/.sqlfluff").write_text("[sqlfluff]\ndialect = postgres\n")
    sources = []
    for n in range(6):
        folder = tmp_path / f"models/m{n}"
        folder.mkdir()
        if n % 2:
            (folder / "setup.cfg").write_text(f"[sqlfluff:rules]\nmax_line_length = {60 + n}\n")
        sources += [folder / f"q{i}.sql" for i in range(5)]
    fresh = [cache_key(s, b"select 1\n", OVERRIDES) for s in sources]
    assert len(set(fresh)) == 4  # one per config: models' own, and three folders with their own

    looked_up: list[Path] = []
    is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda p: looked_up.append(p) or is_file(p))
    configs = FolderConfigs()
    assert [cache_key(s, b"select 1\n", OVERRIDES, configs=configs) for s in sources] == fresh
    folders = {*tmp_path.parents, tmp_path, tmp_path / "models"} | {s.parent for s in sources}
    assert len(looked_up) == len(folders) * len(CONFIG_FILE_NAMES)


def test_second_lint_of_same_bytes_is_served_from_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    original = CORPUS / "tpch/q02.sql"
    copy = tmp_path / "elsewhere/copy.sql"
    copy.parent.mkdir()
    copy.write_bytes(original.read_bytes())
    first = lint_with_limit(
        LintRequest.for_dialect(
            str(original), "q02.sql", str(tmp_path / "1.json"), "ansi", 10**6, cache_dir=str(cache)
        ),
        60,
    )
    assert first.ok and len(list(cache.rglob("*.json"))) == 1
    [entry] = cache.rglob("*.json")
    entry.write_text(entry.read_text().replace('"LT', '"ZZ'))  # prove the next answer is cached
    second = lint_with_limit(
        LintRequest.for_dialect(
            str(copy), "copy.sql", str(tmp_path / "2.json"), "ansi", 10**6, cache_dir=str(cache)
        ),
        60,
    )
    assert second.violation_count == first.violation_count
    [record] = json.loads((tmp_path / "2.json").read_text())
    assert record["filepath"] == "copy.sql"
    assert any(v["code"].startswith("ZZ") for v in record["violations"])


def test_a_template_reading_other_files_is_never_served_another_trees_result(
    tmp_path: Path,
) -> None:
    """Two jobs with the same SQL and config but a different file it includes: the second is
    linted, not served the first's result (the key holds the job's tree)."""
    cache = tmp_path / "cache"
    outcomes = []
    for job, included in (("one", "select a\n"), ("two", "select from from where\n")):
        tree = tmp_path / job / "extracted"
        tree.mkdir(parents=True)
        (tree / ".sqlfluff").write_text(
            "[sqlfluff]\ntemplater = jinja\n[sqlfluff:templater:jinja]\nloader_search_path = .\n"
        )
        (tree / "part.sql").write_text(included)
        (tree / "q.sql").write_text("{% include 'part.sql' %}\n")
        request = LintRequest.for_dialect(
            str(tree / "q.sql"),
            "q.sql",
            str(tmp_path / f"{job}.json"),
            "ansi",
            10**6,
            cache_dir=str(cache),
            cache_salt=tree_digest(tree),
            job_root=str(tmp_path / job),
        )
        outcomes.append(lint_with_limit(request, 60))
    assert all(o.ok for o in outcomes), outcomes
    assert outcomes[0].violation_count != outcomes[1].violation_count
    assert len(list(cache.rglob("*.json"))) == 2
    assert tree_digest(tmp_path / "one/extracted") != tree_digest(tmp_path / "two/extracted")
    assert tree_digest(tmp_path / "nothing-here") == tree_digest(tmp_path / "nor-here")
