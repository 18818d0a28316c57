"""The web UI (/ui) on the real app and test DB: pages rendered in headless Chromium and checked
for the job's numbers, the new/existing filter, escaping of submitted text, the same API keys
(a login that keeps the key in a /ui-only cookie), and page times on a 20,000-file job."""

import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db import queries
from db.models import LintingViolation, Severity
from services.keys import hash_key, new_key
from tests.support.browser import rendered_dom, screenshot
from tests.support.corpus import CORPUS
from tests.support.findings import lint_into, store_job

ADDED = "select a from t join u on t.x = u.x\n"


@pytest.fixture
def seeded(
    client: TestClient, session_maker: sessionmaker[Session], settings: Settings
) -> dict[str, str]:
    """A project with a gate; a baseline job of two tpch queries and a job of the same files
    with lines shifted and one statement added."""
    root = settings.NFS_SHARE_ROOT_PATH
    q01, q03 = ((CORPUS / "tpch" / n).read_text() for n in ("q01.sql", "q03.sql"))
    pid = client.post(
        "/projects", json={"name": "ui <b>demo</b>", "gate": {"on": "new", "max": {"MAJOR": 0}}}
    ).json()["project_id"]
    ids = []
    for files, extra in (
        ({"q01.sql": q01, "q03.sql": q03}, {}),
        (
            {"q01.sql": "-- x\n" + q01, "q03.sql": "-- y\n" + q03 + "\n" + ADDED},
            {"baseline": "latest"},
        ),
    ):
        body = {
            "sql_content": "x\n",
            "project_id": pid,
            "submitter": "<script>alert(1)</script>",
            **extra,
        }
        ids.append(client.post("/jobs", json=body).json()["job_id"])
        lint_into(session_maker, root, ids[-1], files, {})
    return {"project": pid, "base": ids[0], "job": ids[1]}


def _save(tmp_path: Path, name: str, html: str) -> Path:
    page = tmp_path / f"{name}.html"
    page.write_text(html)
    return page


def test_pages_render_in_chromium_with_the_jobs_numbers(
    client: TestClient, seeded: dict[str, str], tmp_path: Path
) -> None:
    job_id = seeded["job"]
    job = client.get(f"/jobs/{job_id}").json()
    everything = client.get(f"/jobs/{job_id}/violations", params={"size": 1000}).json()
    new = client.get(f"/jobs/{job_id}/violations", params={"size": 1000, "new_only": True}).json()
    assert 0 < new["total"] < everything["total"]

    home = client.get("/ui")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    dom = rendered_dom(_save(tmp_path, "home", home.text), tmp_path / "profile")
    assert job_id in dom and seeded["base"] in dom and seeded["project"] in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert" not in dom
    assert "ui &lt;b&gt;demo&lt;/b&gt;" in dom

    page = client.get(f"/ui/jobs/{job_id}")
    assert page.status_code == 200
    saved = _save(tmp_path, "job", page.text)
    dom = rendered_dom(saved, tmp_path / "profile")
    assert f'<td id="total">{everything["total"]} ({new["total"]} new)</td>' in dom
    assert dom.count('class="finding"') == everything["total"]
    assert dom.count('class="new">new<') == new["total"]
    assert job["gate"]["status"] == "failed" and job["gate"]["reasons"][0] in dom
    assert f"/jobs/{job_id}/report?format=html" in dom and f"/ui/jobs/{seeded['base']}" in dom
    assert 'id="flow-run" href="http' in dom and job["flow_run_id"] in dom
    assert "join u on t.x = u.x" in dom  # the offending SQL is quoted
    shot = screenshot(saved, tmp_path / "job.png", tmp_path / "profile")
    assert shot.stat().st_size > 10_000  # a page was drawn, not a blank canvas

    only_new = client.get(f"/ui/jobs/{job_id}", params={"show": "new"}).text
    assert only_new.count('class="finding"') == new["total"]
    assert 'class="existing">existing<' not in only_new
    old = client.get(f"/ui/jobs/{job_id}", params={"show": "existing"}).text
    assert old.count('class="finding"') == everything["total"] - new["total"]

    project = client.get(f"/ui/projects/{seeded['project']}").text
    dom = rendered_dom(_save(tmp_path, "project", project), tmp_path / "profile")
    assert job_id in dom and seeded["base"] in dom
    majors = job["gate"]["counts"]["MAJOR"]
    assert majors > 0 and "failed" in dom
    assert client.get("/ui/projects/proj-nope").status_code == 404


def _key(sessions: sessionmaker[Session], name: str) -> str:
    key_id, key = new_key()
    with sessions.begin() as s:
        queries.keys.add_api_key(s, key_id, hash_key(key), name, False)
    return key


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, client: TestClient) -> Iterator[TestClient]:
    monkeypatch.setenv("API_KEYS_REQUIRED", "true")
    get_settings.cache_clear()
    yield client


def test_the_ui_is_behind_the_same_keys(
    keyed: TestClient, session_maker: sessionmaker[Session]
) -> None:
    alice, bob = _key(session_maker, "alice"), _key(session_maker, "bob")
    job_id = keyed.post(
        "/jobs", json={"sql_content": "select 1\n"}, headers={"X-API-Key": alice}
    ).json()["job_id"]
    first = keyed.get("/ui", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/ui/login"
    wrong = keyed.post("/ui/login", data={"key": "sfs_000000000000_nope"})
    assert wrong.status_code == 401 and "unknown API key" in wrong.text
    login = keyed.post("/ui/login", data={"key": alice}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "Path=/ui" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert job_id in keyed.get("/ui").text
    assert keyed.get(f"/ui/jobs/{job_id}").status_code == 200
    keyed.cookies.clear()
    assert keyed.post("/ui/login", data={"key": bob}, follow_redirects=False).status_code == 303
    assert job_id not in keyed.get("/ui").text
    assert keyed.get(f"/ui/jobs/{job_id}").status_code == 403
    # The cookie is for /ui only: the API still wants its header.
    assert keyed.get(f"/jobs/{job_id}").status_code == 401


def _big_job(
    client: TestClient,
    sessions: sessionmaker[Session],
    root: Path,
    files: int,
    baseline: str | None = None,
) -> str:
    """A finished job of `files` files, 5 findings each, seeded straight into the database;
    against a baseline, every 100th file has one finding of another rule (new)."""
    body = {"sql_content": "x\n", "baseline_job_id": baseline}
    job_id = client.post("/jobs", json=body).json()["job_id"]
    text = "select a,b\nfrom t\nwhere x=1\n"
    records = [
        {"code": code, "start_line_no": n % 3 + 1, "start_line_pos": 1, "description": "d"}
        for n, code in enumerate(("LT01", "CP01", "RF02", "AM04", "ST06"))
    ]
    changed = [{**records[0], "code": "AM05"}, *records[1:]]
    store_job(
        sessions,
        root,
        job_id,
        {
            f"d{n % 50}/f{n}.sql": (text, changed if baseline and n % 100 == 0 else records)
            for n in range(files)
        },
    )
    return job_id


def test_pages_answer_under_200_ms_for_a_20000_file_job(
    client: TestClient, session_maker: sessionmaker[Session], settings: Settings
) -> None:
    root = settings.NFS_SHARE_ROOT_PATH
    base = _big_job(client, session_maker, root, 20_000)
    job_id = _big_job(client, session_maker, root, 20_000, baseline=base)
    summary = client.get(f"/jobs/{job_id}/summary").json()
    assert summary["progress"]["total"] == 20_000 and summary["violations_total"] == 100_000
    with session_maker() as s:  # where the 900th page of existing findings starts
        deep = s.scalar(
            select(LintingViolation.id)
            .where(LintingViolation.job_id == job_id, LintingViolation.is_new.is_(False))
            .order_by(LintingViolation.id)
            .offset(899 * 100 - 1)
        )
    pages = (
        "/ui",
        f"/ui/jobs/{job_id}",
        f"/ui/jobs/{job_id}?show=new",
        f"/ui/jobs/{job_id}?show=existing&after={deep}",
    )
    for url in pages:
        client.get(url)  # warm: templates compiled, connections open
        times = []
        for _ in range(5):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        assert statistics.median(times) < 0.2, (url, times)
    page = client.get(f"/ui/jobs/{job_id}").text
    assert '<td id="total">100000 (200 new)</td>' in page
    assert page.count('class="finding"') == 100
    new_page = client.get(f"/ui/jobs/{job_id}?show=new").text
    assert new_page.count('class="new">new<') == 100
    last = re.search(r'id="next" href="\?show=new&amp;after=(\d+)', new_page)
    assert last is not None
    rest = client.get(f"/ui/jobs/{job_id}?show=new&after={last.group(1)}").text
    assert rest.count('class="new">new<') == 100 and 'id="next"' not in rest  # 200 in all
    tail = client.get(f"/ui/jobs/{job_id}?show=existing&after={deep}").text
    assert tail.count('class="existing">existing<') == 100
    assert str(summary["by_severity"][Severity.MAJOR.value]) in page
