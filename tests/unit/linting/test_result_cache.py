"""The result cache: a hit needs the same bytes, config, config files and SQLFluff version."""

import json
from pathlib import Path

from linting.children import lint_with_limit
from linting.engine import LintRequest
from linting.result_cache import cache_key
from tests.conftest import CORPUS

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
