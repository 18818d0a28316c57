"""Probes of the security tier (tests/security): configs in the spellings SQLFluff's loaders
accept, a module that leaves a mark when imported, secrets planted outside a job, ZIPs written
byte by byte, and everything a user can read back of a job (to show nothing leaked into it)."""

import io
import stat
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# The running system's CALLBACK_SECRET in the security tier (a test reads it from the outside).
CALLBACK_SECRET = f"callback-secret-{uuid.uuid4().hex}"

# The folder of the shared root that `zip_file_path` must name (IMPORT_ROOT of the tier).
IMPORT_AREA = "imports"
# What /etc/passwd starts with on every Linux host: never in anything a submitter reads back.
PASSWD_MARK = "root:x:0:0"


@dataclass(frozen=True)
class Planted:
    """A module that writes `marker` when imported, and secrets outside any submitter's job."""

    plugins: Path  # a folder holding `pwn.py` (library_path would import it)
    marker: Path  # appears only if `pwn.py` was imported, by any process
    secret_dir: Path  # holds `secret.txt` (outside the shared root)
    secret: str  # the content of `secret.txt`
    victim_sql: str  # the SQL of another submitter's job, stored under its job folder
    victim_path: str  # that SQL's path relative to the shared root

    def secrets(self) -> tuple[str, ...]:
        return (self.secret, self.victim_sql.split("'")[1], PASSWD_MARK, "IMPORTED-PWN")


def pwn_module(marker: Path) -> str:
    """A module whose import is the harm: it writes `marker`."""
    return (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('IMPORTED-PWN')\n"
        "VALUE = 'IMPORTED-PWN'\n"
    )


# Every INI spelling SQLFluff reads `library_path` from (config/ini.py, config/file.py):
# a request's `config` is one of these texts; an archive may hold any of them as `.sqlfluff`.
LIBRARY_PATH_INI = {
    "section": "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n",
    "dotted": "[sqlfluff:templater]\njinja.library_path = {v}\n",
    "core": "[sqlfluff]\nlibrary_path = {v}\n",
    "DEFAULT": "[DEFAULT]\nlibrary_path = {v}\n[sqlfluff]\n",
    "mixed case": "[sqlfluff:templater:jinja]\nLibrary_Path = {v}\n",
}
# The other file names SQLFluff reads in a folder, each in its own syntax.
LIBRARY_PATH_FILES = {
    "setup.cfg": ("setup.cfg", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n"),
    "tox.ini": ("tox.ini", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n"),
    "pep8.ini": ("pep8.ini", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n"),
    "toml table": ("pyproject.toml", '[tool.sqlfluff.templater.jinja]\nlibrary_path = "{v}"\n'),
    "toml escaped key": (
        "pyproject.toml",
        '[tool.sqlfluff.templater.jinja]\n"library\\u005fpath" = "{v}"\n',
    ),
    "toml dotted key": (
        "pyproject.toml",
        '[tool.sqlfluff]\ntemplater.jinja.library_path = "{v}"\n',
    ),
}

# SQL that uses what a refused key would have brought in.
USES_PWN = "select '{{ pwn.VALUE }}' as x from t\n"
INCLUDES_PASSWD = "select a from t where b = '{% include 'etc/passwd' %}'\n"


def includes(name: str) -> str:
    return f"select a from t where b = '{{% include '{name}' %}}'\n"


def raw_zip(entries: list[tuple[bytes, bytes, int, int]]) -> bytes:
    """A stored ZIP written byte by byte: (name bytes, data, flags, unix mode) per entry, so
    names and modes are exactly what a hostile tool could write."""
    local = central = b""
    for name, data, flags, mode in entries:
        fields = (zlib.crc32(data), len(data), len(data), len(name))
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 0x031E, 20, flags, 0, 0, 0, *fields, 0, 0, 0, 0,
            mode << 16, len(local),
        ) + name  # fmt: skip
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 0, 0, 0, *fields, 0)
        local += name + data
    n = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(local), 0)
    return local + central + end


FILE_MODE = stat.S_IFREG | 0o644
LINK_MODE = stat.S_IFLNK | 0o777


def bomb_zip(entries: dict[str, bytes], bomb_name: str, inflated: int) -> bytes:
    """`entries` plus one Deflate entry of `inflated` zero bytes (about 1000x smaller)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        with zf.open(bomb_name, "w", force_zip64=True) as out:
            chunk = b"\0" * (1 << 20)
            for _ in range(inflated >> 20):
                out.write(chunk)
    return buffer.getvalue()


def dump_entries() -> dict[str, bytes]:
    """A 3 MB dump of one repeated INSERT (it compresses 300x)."""
    row = b"INSERT INTO film_actor VALUES (1, 1, '2006-02-15 05:05:03');\n"
    return {"dump/film_actor.sql": row * (3_000_000 // len(row))}


def everything_readable(api: str, job_id: str) -> str:
    """All a submitter can read of a job: the job with every task, its violations, summary,
    each report format and each result file, as one text."""
    parts: list[str] = []
    with httpx.Client(base_url=api, timeout=60) as client:
        job = client.get(f"/jobs/{job_id}", params={"size": 1000})
        parts.append(job.text)
        parts.append(client.get(f"/jobs/{job_id}/violations", params={"size": 1000}).text)
        parts.append(client.get(f"/jobs/{job_id}/summary").text)
        for fmt in ("sarif", "junit", "csv", "html"):
            parts.append(client.get(f"/jobs/{job_id}/report", params={"format": fmt}).text)
        for item in job.json()["sub_tasks"]["items"]:
            parts.append(client.get(f"/tasks/{item['task_id']}/result").text)
    return "\n".join(parts)


def all_tasks(api: str, job_id: str) -> list[dict[str, Any]]:
    """Every task of a job (one page of up to 1000)."""
    body = httpx.get(f"{api}/jobs/{job_id}", params={"size": 1000}, timeout=30).json()
    assert body["sub_tasks"]["total"] == len(body["sub_tasks"]["items"])
    return list(body["sub_tasks"]["items"])


def tasks_by_name(api: str, job_id: str) -> dict[str, dict[str, Any]]:
    return {t["file_name"]: t for t in all_tasks(api, job_id)}


def upload(api: str, name: str, data: bytes, **form: str) -> httpx.Response:
    """`POST /jobs/upload` of one file, with options as form fields."""
    return httpx.post(f"{api}/jobs/upload", files={"file": (name, data)}, data=form, timeout=60)


def submit_sql(api: str, entry: str, sql: str, **options: Any) -> httpx.Response:
    """The same SQL and options through one entry point: `lint` (POST /lint), `job` (POST /jobs
    with `sql_content`) or `upload` (POST /jobs/upload of a .sql file)."""
    if entry == "lint":
        return httpx.post(f"{api}/lint", json={"sql": sql, **options}, timeout=60)
    if entry == "job":
        return httpx.post(f"{api}/jobs", json={"sql_content": sql, **options}, timeout=60)
    assert entry == "upload", entry
    form = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in options.items()}
    return upload(api, "probe.sql", sql.encode(), **form)


def submit_archive(system: Any, entry: str, name: str, data: bytes, **options: Any) -> str:
    """Submit ZIP bytes as `zip_file_path` (placed in the import area) or as an upload."""
    if entry == "upload":
        response = upload(system.api, name, data, **options)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])
    assert entry == "zip_file_path", entry
    target = system.shared_root / IMPORT_AREA / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return str(system.submit({"zip_file_path": f"{IMPORT_AREA}/{name}", **options}))
