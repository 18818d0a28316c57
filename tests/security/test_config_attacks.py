"""Configs that would import code, read host files or load another templater, through every
entry point of the running system: refused with a message naming the key (a 400 for a request's
`config`, a FAILURE of the files beneath an archive's config file or of a file whose own
`-- sqlfluff:` lines set it), and the harm absent: `pwn.py` never imported, no planted secret,
other submitter's SQL or /etc/passwd line in anything the attacker can read back."""

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.attacks import (
    FILE_MODE,
    IMPORT_AREA,
    INCLUDES_PASSWD,
    LIBRARY_PATH_FILES,
    LIBRARY_PATH_INI,
    LINK_MODE,
    USES_PWN,
    Planted,
    everything_readable,
    includes,
    pwn_module,
    raw_zip,
    submit_archive,
    submit_sql,
    tasks_by_name,
    upload,
)
from tests.support.factories import make_zip, zip_bytes
from tests.support.oracle import SQLFLUFF
from tests.support.system import System

pytestmark = pytest.mark.e2e

JINJA = "[sqlfluff:templater:jinja]\n"


def request_probes(p: Planted) -> dict[str, tuple[str, str, str]]:
    """id -> (config text, SQL, what the refusal names), as a request's `config` field."""
    probes = {
        f"library_path {spelling}": (
            text.format(v=p.plugins),
            USES_PWN,
            "Library_Path" if spelling == "mixed case" else "library_path",
        )
        for spelling, text in LIBRARY_PATH_INI.items()
    }
    probes |= {
        "templater dbt": ("[sqlfluff]\ntemplater = dbt\n", "select 1\n", "templater"),
        "templater unknown": ("[sqlfluff]\ntemplater = evil\n", "select 1\n", "templater"),
        "loader_search_path /": (
            f"{JINJA}loader_search_path = /\n",
            INCLUDES_PASSWD,
            "loader_search_path",
        ),
        "dotted loader_search_path /": (
            "[sqlfluff:templater]\njinja.loader_search_path = /\n",
            INCLUDES_PASSWD,
            "loader_search_path",
        ),
        "load_macros_from_path /etc": (
            f"{JINJA}load_macros_from_path = /etc\n",
            "select 1\n",
            "load_macros_from_path",
        ),
        "exclude_macros_from_path": (
            f"{JINJA}exclude_macros_from_path = /etc\n",
            "select 1\n",
            "exclude_macros_from_path",
        ),
        "relative escape": (
            f"{JINJA}loader_search_path = ../../../../..\n",
            includes(p.victim_path),
            "loader_search_path",
        ),
        "secret folder": (
            f"{JINJA}loader_search_path = {p.secret_dir}\n",
            includes("secret.txt"),
            "loader_search_path",
        ),
    }
    return probes


REQUEST_PROBES = [
    *(f"library_path {s}" for s in LIBRARY_PATH_INI),
    "templater dbt",
    "templater unknown",
    "loader_search_path /",
    "dotted loader_search_path /",
    "load_macros_from_path /etc",
    "exclude_macros_from_path",
    "relative escape",
    "secret folder",
]
ENTRIES = ["lint", "job", "upload"]


def assert_no_harm(text: str, planted: Planted) -> None:
    assert not planted.marker.exists(), "pwn.py was imported"
    for secret in planted.secrets():
        assert secret not in text


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("probe", REQUEST_PROBES)
def test_request_config_is_refused_naming_the_key(
    system: System, planted: Planted, probe: str, entry: str
) -> None:
    config, sql, key = request_probes(planted)[probe]
    response = submit_sql(system.api, entry, sql, config=config)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert key in detail and "'config'" in detail, detail
    assert str(system.data) not in detail
    assert_no_harm(response.text, planted)


@pytest.mark.parametrize("entry", ["new project", "project update"])
@pytest.mark.parametrize("probe", REQUEST_PROBES)
def test_project_profile_config_is_refused_naming_the_key(
    system: System, planted: Planted, probe: str, entry: str
) -> None:
    """A project's profile becomes the lowest config layer of each of its jobs: its `config`
    is checked as a request's is, when the project is made and when it is changed."""
    config, _, key = request_probes(planted)[probe]
    if entry == "new project":
        response = httpx.post(
            f"{system.api}/projects", json={"name": "probe", "config": config}, timeout=60
        )
    else:
        made = httpx.post(f"{system.api}/projects", json={"name": "clean"}, timeout=60)
        assert made.status_code == 201, made.text
        response = httpx.patch(
            f"{system.api}/projects/{made.json()['project_id']}",
            json={"config": config},
            timeout=60,
        )
    assert response.status_code == 400, response.text
    assert key in response.json()["detail"], response.text
    assert str(system.data) not in response.text
    assert_no_harm(response.text, planted)


@pytest.mark.parametrize("entry", ENTRIES)
def test_templater_option_other_than_the_four_is_refused(system: System, entry: str) -> None:
    response = submit_sql(system.api, entry, "select 1\n", templater="dbt")
    assert response.status_code == 400, response.text
    assert "unknown templater 'dbt'" in response.json()["detail"]


def test_python_templater_is_allowed_and_reaches_no_attribute(
    system: System, planted: Planted
) -> None:
    config = "[sqlfluff:templater:python:context]\ntbl = orders\n"
    body = {"templater": "python", "config": config}
    plain = httpx.post(f"{system.api}/lint", json={"sql": "select a from {tbl}\n", **body})
    assert plain.status_code == 200, plain.text
    assert plain.json()["effective_config"]["templater"] == "python"
    # Format strings walk attributes; SQLFluff's python templater refuses dotted names.
    sql = "select '{tbl.__init__.__globals__}' as g from t\n"
    probe = httpx.post(f"{system.api}/lint", json={"sql": sql, **body}, timeout=60)
    assert probe.status_code == 200, probe.text
    assert {v["code"] for v in probe.json()["violations"]} >= {"TMP"}
    assert "__builtins__" not in probe.text and "DATABASE_URL" not in probe.text
    assert_no_harm(probe.text, planted)


# Fields SQLFluff's dot-notation rewrite misses (a `:` or `!` before the dot), from the object
# `ignore = templating` puts in place of a missing name, to a module's globals and beyond.
PYTHON_FIELDS = {
    "colon key": "{x[:].__init__.__globals__[ast].sys.modules[sqlfluff.core.templaters.jinja]}",
    "bang key": "{x[!].__init__.__globals__[os].environ[HOME]}",
    "nested spec": "{tbl:{x[:].__init__.__globals__}}",
}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("field", list(PYTHON_FIELDS))
def test_python_templater_fields_past_a_variable_fail_the_file(
    system: System, planted: Planted, entry: str, field: str
) -> None:
    """Another submitter's macro, left in the lint process's caches, is what such a field
    would read (and the process's environment and paths): the file fails before rendering."""
    secret = f"TENANT-{entry}-{field}-SECRET".replace(" ", "-")
    victim = submit_sql(
        system.api,
        entry,
        "select {{ victim() }} as c from t\n",
        config=f"[sqlfluff:templater:jinja:macros]\nm = {{% macro victim() %}}{secret}"
        "{% endmacro %}\n",
    )
    assert victim.status_code in (200, 202), victim.text
    config = "[sqlfluff]\nignore = templating\n[sqlfluff:templater:python:context]\ntbl = t\n"
    sql = f"select a from t where )) {PYTHON_FIELDS[field]}\n"
    response = submit_sql(system.api, entry, sql, templater="python", config=config)
    if entry == "lint":
        assert response.status_code == 422, response.text
        readable, reason = response.text, response.json()["detail"]
    else:
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        [task] = system.wait_final(job_id, 120)["sub_tasks"]["items"]
        assert task["status"] == "FAILURE", task
        readable, reason = everything_readable(system.api, job_id), task["error_message"]
    assert "may only use plain variable names" in reason, reason
    assert secret not in readable and "__globals__" not in reason.split("not {")[0]
    assert str(system.data) not in readable
    assert_no_harm(readable, planted)


@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_python_templater_fields_in_an_archive_fail_the_file(
    system: System, planted: Planted, entry: str
) -> None:
    """The archive's top config chooses the python templater (as `sqlfluff lint .` there):
    the same fields fail the file, and its neighbour without one is linted."""
    entries = {
        ".sqlfluff": b"[sqlfluff]\ndialect = ansi\ntemplater = python\nignore = templating\n",
        "evil.sql": f"select a from t where )) {PYTHON_FIELDS['colon key']}\n".encode(),
        "fine.sql": b"select a from {tbl}\n",
    }
    job_id = submit_archive(system, entry, "pytpl.zip", zip_bytes(entries))
    system.wait_final(job_id, 120)
    tasks = tasks_by_name(system.api, job_id)
    assert tasks["fine.sql"]["status"] == "SUCCESS", tasks
    evil = tasks["evil.sql"]
    assert evil["status"] == "FAILURE" and "plain variable names" in evil["error_message"], evil
    readable = everything_readable(system.api, job_id)
    assert str(system.data) not in readable
    assert_no_harm(readable, planted)


def inline_probes(p: Planted) -> dict[str, tuple[str, str]]:
    """id -> (SQL setting the key in its own `-- sqlfluff:` lines, what the refusal names)."""
    line = "-- sqlfluff:templater:jinja:"
    return {
        "library_path": (f"{line}library_path:{p.plugins}\n{USES_PWN}", "library_path"),
        "loader_search_path /": (f"{line}loader_search_path:/\n{INCLUDES_PASSWD}", "loader_"),
        "load_macros_from_path": (f"{line}load_macros_from_path:/etc\nselect 1\n", "load_macros"),
        "secret folder": (
            f"{line}loader_search_path:{p.secret_dir}\n{includes('secret.txt')}",
            "loader_search_path",
        ),
        "templater dbt": ("-- sqlfluff:templater:dbt\nselect 1\n", "templater"),
    }


INLINE_PROBES = ["library_path", "loader_search_path /", "load_macros_from_path", "secret folder"]
INLINE_PROBES += ["templater dbt"]


@pytest.mark.parametrize("probe", INLINE_PROBES)
def test_inline_config_lines_via_lint_are_refused(
    system: System, planted: Planted, probe: str
) -> None:
    sql, key = inline_probes(planted)[probe]
    response = submit_sql(system.api, "lint", sql)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "SQLFluff could not lint it" in detail and key in detail, detail
    assert_no_harm(response.text, planted)


@pytest.fixture(scope="module")
def inline_jobs(system: System, planted: Planted) -> dict[tuple[str, str], str]:
    """Every inline probe as a `sql_content` job and as an uploaded .sql, submitted at once."""
    jobs = {}
    for probe, (sql, _) in inline_probes(planted).items():
        for entry in ("job", "upload"):
            response = submit_sql(system.api, entry, sql)
            assert response.status_code == 202, response.text
            jobs[probe, entry] = response.json()["job_id"]
    return jobs


@pytest.mark.parametrize("entry", ["job", "upload"])
@pytest.mark.parametrize("probe", INLINE_PROBES)
def test_inline_config_lines_in_a_job_fail_the_file_with_the_reason(
    system: System,
    planted: Planted,
    inline_jobs: dict[tuple[str, str], str],
    probe: str,
    entry: str,
) -> None:
    job_id = inline_jobs[probe, entry]
    job = system.wait_final(job_id, 120)
    [task] = job["sub_tasks"]["items"]
    key = inline_probes(planted)[probe][1]
    assert task["status"] == "FAILURE" and key in task["error_message"], task
    assert "allowed" in task["error_message"]
    assert str(system.data) not in task["error_message"]
    assert job["job_status"] == "FAILED"  # its only file failed
    assert_no_harm(everything_readable(system.api, job_id), planted)


def archive_probes(p: Planted) -> dict[str, tuple[str | None, str, str, str]]:
    """folder -> (config file name or None, its text, the SQL beneath it, what is named)."""
    probes: dict[str, tuple[str | None, str, str, str]] = {
        f"lib {s}": (".sqlfluff", t.format(v=p.plugins), USES_PWN, "library_path")
        for s, t in LIBRARY_PATH_INI.items()
        if s != "mixed case"
    }
    probes["lib mixed case"] = (
        ".sqlfluff",
        LIBRARY_PATH_INI["mixed case"].format(v=p.plugins),
        USES_PWN,
        "Library_Path",
    )
    probes |= {
        f"lib {s}": (name, t.format(v=p.plugins), USES_PWN, "library_path")
        for s, (name, t) in LIBRARY_PATH_FILES.items()
    }
    # Code is never lint configuration, even from the job's own folder.
    probes["lib inside the job"] = (".sqlfluff", f"{JINJA}library_path = .\n", USES_PWN, "library")
    probes |= {
        "tpl dbt": (".sqlfluff", "[sqlfluff]\ntemplater = dbt\n", "select 1\n", "templater"),
        "tpl unknown": (".sqlfluff", "[sqlfluff]\ntemplater = evil\n", "select 1\n", "templater"),
        "tpl toml dbt": (
            "pyproject.toml",
            '[tool.sqlfluff.core]\ntemplater = "dbt"\n',
            "select 1\n",
            "templater",
        ),
        "search root": (".sqlfluff", f"{JINJA}loader_search_path = /\n", INCLUDES_PASSWD, "loader"),
        "search dotted": (
            ".sqlfluff",
            "[sqlfluff:templater]\njinja.loader_search_path = /\n",
            INCLUDES_PASSWD,
            "loader_search_path",
        ),
        "search toml": (
            "pyproject.toml",
            '[tool.sqlfluff.templater.jinja]\nloader_search_path = "/"\n',
            INCLUDES_PASSWD,
            "loader_search_path",
        ),
        "macros etc": (
            "tox.ini",
            f"{JINJA}load_macros_from_path = /etc\n",
            "select 1\n",
            "load_macros_from_path",
        ),
        "exclude macros": (
            "setup.cfg",
            f"{JINJA}exclude_macros_from_path = /etc\n",
            "select 1\n",
            "exclude_macros_from_path",
        ),
        # From jobs/<id>/extracted/<folder>: four levels up is the shared root.
        "escape": (
            ".sqlfluff",
            f"{JINJA}loader_search_path = ../../../..\n",
            includes(p.victim_path),
            "loader_search_path",
        ),
        "secret": (
            ".sqlfluff",
            f"{JINJA}loader_search_path = {p.secret_dir}\n",
            includes("secret.txt"),
            "loader_search_path",
        ),
    }
    probes |= {
        f"inline {probe.replace('/', 'root')}": (None, "", sql, key)
        for probe, (sql, key) in inline_probes(p).items()
    }
    return probes


def archive_entries(p: Planted) -> list[tuple[bytes, bytes, int, int]]:
    entries: list[tuple[bytes, bytes, int, int]] = [
        (b"ok/q.sql", b"select a from t\n", 0, FILE_MODE),
        # A config refused above a folder fails every file beneath it.
        (b"nest/.sqlfluff", f"{JINJA}library_path = {p.plugins}\n".encode(), 0, FILE_MODE),
        (b"nest/deeper/q.sql", USES_PWN.encode(), 0, FILE_MODE),
        # Links are never extracted: a config that is one is ignored, SQL that is one fails.
        (b"link/.sqlfluff", str(p.secret_dir / "evil.sqlfluff").encode(), 0, LINK_MODE),
        (b"link/q.sql", INCLUDES_PASSWD.encode(), 0, FILE_MODE),
        (b"link/leak.sql", b"/etc/passwd", 0, LINK_MODE),
        (b"link/secret.sql", str(p.secret_dir / "secret.txt").encode(), 0, LINK_MODE),
        # Ignored (not SQL): the module never lands where a library_path could find it.
        (b"lib inside the job/pwn.py", (p.plugins / "pwn.py").read_bytes(), 0, FILE_MODE),
    ]
    for folder, (name, text, sql, _) in archive_probes(p).items():
        if name is not None:
            entries.append((f"{folder}/{name}".encode(), text.encode(), 0, FILE_MODE))
        entries.append((f"{folder}/q.sql".encode(), sql.encode(), 0, FILE_MODE))
    return entries


@pytest.fixture(scope="module")
def archive_jobs(system: System, planted: Planted) -> dict[str, str]:
    """The same hostile archive placed under the shared root and uploaded."""
    # A link the archive would have followed: a config that imports pwn.py.
    (planted.secret_dir / "evil.sqlfluff").write_text(f"{JINJA}library_path = {planted.plugins}\n")
    data = raw_zip(archive_entries(planted))
    make_zip(system.shared_root / IMPORT_AREA / "hostile-configs.zip", {})
    (system.shared_root / IMPORT_AREA / "hostile-configs.zip").write_bytes(data)
    placed = system.submit({"zip_file_path": f"{IMPORT_AREA}/hostile-configs.zip"})
    uploaded = upload(system.api, "hostile-configs.zip", data)
    assert uploaded.status_code == 202, uploaded.text
    return {"zip_file_path": placed, "upload": uploaded.json()["job_id"]}


@pytest.mark.parametrize("entry", ["zip_file_path", "upload"])
def test_archive_configs_fail_only_the_files_beneath_them(
    system: System, planted: Planted, archive_jobs: dict[str, str], entry: str
) -> None:
    job_id = archive_jobs[entry]
    job = system.wait_final(job_id, 180)
    tasks = tasks_by_name(system.api, job["job_id"])
    assert job["job_status"] == "PARTIALLY_COMPLETED", job
    failures: dict[str, Any] = {}
    for folder, (name, _, _, key) in archive_probes(planted).items():
        task = tasks[f"{folder}/q.sql"]
        message = task.get("error_message") or ""
        if task["status"] != "FAILURE" or key not in message or "allowed" not in message:
            failures[folder] = task
        elif name is not None and f"{folder}/{name}" not in message:
            failures[folder] = task  # the reason names the config file, as the user wrote it
    assert not failures, failures
    assert tasks["ok/q.sql"]["status"] == "SUCCESS"
    assert tasks["nest/deeper/q.sql"]["status"] == "FAILURE"
    assert "nest/.sqlfluff" in tasks["nest/deeper/q.sql"]["error_message"]
    # The linked config was left out, so its folder linted with the defaults: no loader at all.
    assert tasks["link/q.sql"]["status"] == "SUCCESS"
    for link in ("link/leak.sql", "link/secret.sql"):
        assert tasks[link]["status"] == "FAILURE"
        assert tasks[link]["error_message"].endswith("entry is a symbolic link")
    for task in tasks.values():
        assert str(system.data) not in (task.get("error_message") or "")
    assert_no_harm(everything_readable(system.api, job_id), planted)
    assert not (system.shared_root / f"jobs/{job_id}/extracted/lib inside the job/pwn.py").exists()


def test_the_probe_is_live_sqlfluff_itself_would_import_the_module(tmp_path: Path) -> None:
    # The witness works: given the same config, plain SQLFluff imports pwn.py and the SQL reads
    # its value, so a marker that never appears means the service refused, not that it missed.
    witness = tmp_path / "witness"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/pwn.py").write_text(pwn_module(witness))
    (tmp_path / "cfg").write_text(LIBRARY_PATH_INI["dotted"].format(v=tmp_path / "lib"))
    (tmp_path / "q.sql").write_text(USES_PWN)
    run = subprocess.run(
        [str(SQLFLUFF), "render", "--dialect", "ansi", "--config", "cfg", "q.sql"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "select 'IMPORTED-PWN' as x from t" in run.stdout
    assert witness.read_text() == "IMPORTED-PWN"
