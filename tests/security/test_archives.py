"""Hostile archives and archive paths through the running system: a zip bomb and a 3 MB dump
beside normal files fail only themselves; bad entry names are each a FAILURE with a reason that
names no server path and nothing lands outside the job; `zip_file_path` cannot name the
service's own areas. And the companion: a dbt-style archive with its own macros and includes
lints to SUCCESS exactly as the SQLFluff CLI lints the same tree."""

import os
from pathlib import Path

import httpx
import pytest

from tests.support.attacks import (
    FILE_MODE,
    IMPORT_AREA,
    LINK_MODE,
    Planted,
    all_tasks,
    bomb_zip,
    dump_entries,
    everything_readable,
    raw_zip,
    submit_archive,
    tasks_by_name,
    upload,
)
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip, zip_bytes
from tests.support.oracle import cli_violations
from tests.support.system import System

pytestmark = pytest.mark.e2e

TOO_LARGE = "too large: over the limit of 1048576 bytes (LINT_MAX_FILE_BYTES)"


def normal_entries() -> dict[str, bytes]:
    return folder_entries(CORPUS / "tpch", "tpch", "q0[1-6].sql")


@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_bomb_and_dump_fail_alone_and_the_rest_is_linted(system: System, entry: str) -> None:
    normal = normal_entries()
    data = bomb_zip({**normal, **dump_entries()}, "bomb/zeros.sql", 200 * 1024**2)
    assert len(data) < 2_000_000  # a 200 MB entry and a 3 MB dump in well under 2 MB
    job_id = submit_archive(system, entry, "bomb.zip", data, dialect="ansi")
    job = system.wait_final(job_id, 180)
    tasks = tasks_by_name(system.api, job["job_id"])
    assert job["job_status"] == "PARTIALLY_COMPLETED", job
    assert {n for n, t in tasks.items() if t["status"] == "SUCCESS"} == set(normal)
    for name in ("bomb/zeros.sql", "dump/film_actor.sql"):
        assert tasks[name]["status"] == "FAILURE"
        assert tasks[name]["error_message"].endswith(TOO_LARGE)
    extracted = system.shared_root / f"jobs/{job_id}/extracted"
    assert sum(p.stat().st_size for p in extracted.rglob("*") if p.is_file()) < 100_000


BAD_NAMES: list[tuple[bytes, int, str]] = [
    (b"bad\xff\xfe.sql", 0x800, "name is not valid UTF-8"),
    (b"a" * 256 + b".sql", 0, "over 255 bytes a part"),
    (b"a//b.sql", 0, "empty or '.' folder"),
    (b"a\x00.sql", 0, "NUL or control character"),
    (b"a\\b.sql", 0, "backslash"),
    ("evil\u202elqs.sql".encode(), 0x800, "control character"),
    (b"/abs-escape.sql", 0, "absolute path"),
    (b"../zip-slip-escape.sql", 0, "escapes the extraction directory"),
    (b"x/../../zip-slip-escape2.sql", 0, "escapes the extraction directory"),
    (b"a.sql", 0, ""),  # fine alone: the folder entry below collides with it
    (b"a.sql/b.sql", 0, "a folder in the entry's path is a file in the archive"),
    (b"dup.sql", 0, ""),
    (b"DUP.SQL", 0, "only in letter case or Unicode form"),
]


@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_bad_entry_names_are_each_a_failure_and_write_nothing_outside(
    system: System, entry: str
) -> None:
    data = raw_zip([(name, b"select 1\n", flags, FILE_MODE) for name, flags, _ in BAD_NAMES])
    job_id = submit_archive(system, entry, "names.zip", data)
    job = system.wait_final(job_id, 120)
    assert job["job_status"] == "PARTIALLY_COMPLETED", job
    items = all_tasks(system.api, job_id)
    assert len(items) == len(BAD_NAMES)
    assert {t["file_name"] for t in items if t["status"] == "SUCCESS"} == {"a.sql", "dup.sql"}
    reasons = [t["error_message"] for t in items if t["status"] == "FAILURE"]
    for _, _, reason in BAD_NAMES:
        assert not reason or any(reason in r for r in reasons), (reason, reasons)
    for item in items:
        assert item["file_name"].isprintable() and len(item["file_name"]) <= 301
        assert str(system.data) not in (item.get("error_message") or "")
    for escaped in ("abs-escape.sql", "zip-slip-escape.sql", "zip-slip-escape2.sql"):
        assert not any(system.data.rglob(escaped)), escaped
        assert not Path("/", escaped).exists()


@pytest.fixture(scope="module")
def another_upload(system: System) -> str:
    """The stored path of another submitter's uploaded archive."""
    response = upload(system.api, "theirs.zip", zip_bytes({"theirs.sql": b"select 1\n"}))
    assert response.status_code == 202, response.text
    return f"jobs/{response.json()['job_id']}/upload/theirs.zip"


def refused_path(system: System, path: str) -> str:
    response = httpx.post(f"{system.api}/jobs", json={"zip_file_path": path}, timeout=30)
    assert response.status_code == 400, response.text
    return str(response.json()["detail"])


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (f"{IMPORT_AREA}/../../secrets/secret.zip", "escapes the shared root"),
        ("/etc/passwd", "must be relative to the shared root"),
        (f"{IMPORT_AREA}/link-out.zip", "leads outside the shared root"),
        ("elsewhere/theirs.zip", f"outside your import area {IMPORT_AREA}/"),
        (f"{IMPORT_AREA}/link-into-jobs.zip", "in the service's own area (jobs/)"),
    ],
)
def test_zip_file_path_outside_the_import_area_is_refused(
    system: System, planted: Planted, another_upload: str, path: str, fragment: str
) -> None:
    outside = planted.secret_dir / "secret.zip"
    make_zip(outside, {"secret.sql": f"select '{planted.secret}'\n".encode()})
    make_zip(system.shared_root / "elsewhere/theirs.zip", {"q.sql": b"select 1\n"})
    links = {"link-out.zip": outside, "link-into-jobs.zip": system.shared_root / another_upload}
    for name, target in links.items():
        link = system.shared_root / IMPORT_AREA / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            os.symlink(target, link)
    detail = refused_path(system, path)
    assert fragment in detail, detail
    assert str(system.data) not in detail and planted.secret not in detail


def test_zip_file_path_to_another_jobs_files_is_refused(
    system: System, another_upload: str
) -> None:
    # Its upload is a valid ZIP under the shared root: only the boundary refuses it.
    assert (system.shared_root / another_upload).is_file()
    assert "in the service's own area (jobs/)" in refused_path(system, another_upload)
    # Named or not, existing or not: a probe learns nothing of jobs/.
    missing = refused_path(system, "jobs/job-0000/upload/none.zip")
    assert "in the service's own area (jobs/)" in missing


def test_zip_file_path_into_the_cache_is_refused(system: System) -> None:
    make_zip(system.shared_root / "cache/results/planted.zip", {"q.sql": b"select 1\n"})
    detail = refused_path(system, "cache/results/planted.zip")
    assert "in the service's own area (cache/)" in detail


MODELS = ("dim_modes", "dim_provider_gtfs_data", "dim_components", "dim_contracts")
DBT_CONFIG = """[sqlfluff]
dialect = bigquery
templater = jinja

[sqlfluff:templater:jinja]
apply_dbt_builtins = True
load_macros_from_path = macros
loader_search_path = includes
"""


def dbt_style_entries() -> dict[str, bytes]:
    """A real dbt project's macros and models, a relative macros folder and an include."""
    project = CORPUS / "dbt/cal-itp-data-infra"
    entries = folder_entries(project / "macros", "project/macros")
    for model in MODELS:
        source = project / f"models/mart/transit_database/{model}.sql"
        entries[f"project/models/{model}.sql"] = source.read_bytes()
    entries["project/.sqlfluff"] = DBT_CONFIG.encode()
    entries["project/includes/base_stops.sql"] = b"SELECT stop_id, stop_name FROM stops\n"
    entries["project/models/with_include.sql"] = (
        b"WITH base AS (\n{% include 'base_stops.sql' %}\n)\n\n"
        b"SELECT stop_id FROM base\nWHERE {{ make_end_of_valid_range('stop_id') }} IS NOT NULL\n"
    )
    return entries


@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_archive_with_its_own_macros_and_includes_lints_like_the_cli(
    system: System, planted: Planted, tmp_path: Path, entry: str
) -> None:
    entries = dbt_style_entries()
    data = zip_bytes(entries)
    job_id = submit_archive(system, entry, "dbt.zip", data)
    job = system.wait_final(job_id, 240)
    tasks = tasks_by_name(system.api, job["job_id"])
    assert job["job_status"] == "COMPLETED", [t for t in tasks.values() if t["status"] != "SUCCESS"]
    assert set(tasks) == {n for n in entries if n.endswith(".sql")}
    extracted = system.shared_root / f"jobs/{job_id}/extracted"
    sources = {name: extracted / name for name in tasks}
    expected = cli_violations(list(sources.values()), "bigquery", 1_048_576, tmp_path)
    for name, task in tasks.items():
        [record] = httpx.get(f"{system.api}/tasks/{task['task_id']}/result", timeout=30).json()
        assert record["violations"] == expected[str(sources[name].resolve())], name
    # The macro (from the archive's macros folder), the include and dbt's ref rendered.
    for model in ("dim_modes", "with_include"):
        [record] = httpx.get(
            f"{system.api}/tasks/{tasks[f'project/models/{model}.sql']['task_id']}/result"
        ).json()
        assert "TMP" not in {v["code"] for v in record["violations"]}, (model, record)
    assert planted.secret not in everything_readable(system.api, job_id)


@pytest.mark.parametrize("where", [".sqlfluffignore", ".sqlfluff ignore_paths"])
@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_ignore_patterns_that_would_run_for_ever_fail_the_job_in_bounded_time(
    system: System, entry: str, where: str
) -> None:
    """pathspec's regex of `*a*a*...*b` backtracks exponentially on a long name of `a`s."""
    pattern = "*a" * 16 + "*b"
    ignore = (
        {".sqlfluffignore": f"{pattern}\n".encode()}
        if where == ".sqlfluffignore"
        else {".sqlfluff": f"[sqlfluff]\nignore_paths = {pattern}\n".encode()}
    )
    entries = {**normal_entries(), **ignore, "a" * 60 + ".sql": b"select 1\n"}
    job_id = submit_archive(system, entry, "redos.zip", zip_bytes(entries), dialect="ansi")
    job = system.wait_final(job_id, 120)  # LINT_TIMEOUT_SECONDS is 20 here
    assert job["job_status"] == "FAILED", job
    assert "ignore patterns" in job["error_message"] and "took longer than" in job["error_message"]
    assert str(system.data) not in everything_readable(system.api, job_id)


UNREADABLE_CONFIGS = {
    "ini without a section header": ("sub/.sqlfluff", b"[sqlfluff\nx\n", "sub/q.sql"),
    "toml syntax error": ("sub/pyproject.toml", b"[tool.sqlfluff\n", "sub/q.sql"),
    "toml list of paths": (
        "sub/pyproject.toml",
        b'[tool.sqlfluff.templater.jinja]\nloader_search_path = ["/etc"]\n',
        "sub/q.sql",
    ),
}


@pytest.mark.parametrize("config", list(UNREADABLE_CONFIGS))
@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_a_config_discovery_cannot_read_fails_only_the_files_beneath_it(
    system: System, entry: str, config: str
) -> None:
    """SQLFluff's discovery reads `.sqlfluff` and `pyproject.toml` for `ignore_paths`; one it
    cannot load (or the policy refused) must not take the job down with it."""
    name, text, beneath = UNREADABLE_CONFIGS[config]
    normal = normal_entries()
    entries = {**normal, name: text, beneath: b"select 1\n", ".sqlfluffignore": b"skip.sql\n"}
    job_id = submit_archive(system, entry, "badcfg.zip", zip_bytes(entries), dialect="ansi")
    job = system.wait_final(job_id, 180)
    tasks = tasks_by_name(system.api, job["job_id"])
    assert job["job_status"] == "PARTIALLY_COMPLETED", job
    assert {n for n, t in tasks.items() if t["status"] == "SUCCESS"} == set(normal)
    assert tasks[beneath]["status"] == "FAILURE" and name in tasks[beneath]["error_message"]
    assert str(system.data) not in everything_readable(system.api, job_id)


def test_symlinked_macros_folder_is_not_followed(system: System, planted: Planted) -> None:
    # An archive's config may name only its own files; a link entry never becomes a file.
    data = raw_zip(
        [
            (b".sqlfluff", b"[sqlfluff:templater:jinja]\nloader_search_path = inc\n", 0, FILE_MODE),
            (b"inc/secret.sql", str(planted.secret_dir / "secret.txt").encode(), 0, LINK_MODE),
            (b"q.sql", b"select a from t where b = '{% include 'secret.sql' %}'\n", 0, FILE_MODE),
        ]
    )
    response = upload(system.api, "linked.zip", data)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = system.wait_final(job_id, 120)
    tasks = tasks_by_name(system.api, job["job_id"])
    assert tasks["inc/secret.sql"]["status"] == "FAILURE"
    assert tasks["inc/secret.sql"]["error_message"].endswith("entry is a symbolic link")
    # `inc` holds nothing (the link was not written), so the config is refused or the include
    # fails; either way the secret stays on the host.
    assert planted.secret not in everything_readable(system.api, job_id)
