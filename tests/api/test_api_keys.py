"""API keys: created and revoked with the `sqlfluff-service-admin keys` command, stored hashed; with
API_KEYS_REQUIRED each job belongs to its key; 401 and 403 with clear messages; /health and
/metrics stay open."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db import queries
from db.models import ApiKey
from services.keys_admin import main as cli
from tests.support.factories import make_zip


def create_key(capsys: pytest.CaptureFixture[str], name: str, admin: bool = False) -> str:
    capsys.readouterr()
    assert cli(["keys", "create", "--name", name, *(["--admin"] if admin else [])]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sfs_")
    return key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_client(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, lint_deployment: str
) -> Iterator[TestClient]:
    from api.main import create_app

    monkeypatch.setenv("API_KEYS_REQUIRED", "true")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        yield client


def test_keys_required(
    keyed_client: TestClient,
    session_maker: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
) -> None:
    alice, bob = create_key(capsys, "alice"), create_key(capsys, "bob")
    admin = create_key(capsys, "ops", admin=True)
    with session_maker() as s:
        stored = {k.name: k for k in s.scalars(select(ApiKey))}
    assert alice not in {k.key_hash for k in stored.values()}  # only hashes are kept
    assert stored["ops"].is_admin and not stored["alice"].is_admin

    for method, path in (("post", "/jobs"), ("get", "/jobs"), ("post", "/lint")):
        response = keyed_client.request(method, path, json={"sql_content": "select 1\n"})
        assert response.status_code == 401, (path, response.text)
        assert "an API key is required" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert keyed_client.get("/health").status_code == 200
    assert keyed_client.get("/metrics").status_code == 200
    bad = keyed_client.get("/jobs", headers=auth("sfs_000000000000_nope"))
    assert bad.status_code == 401 and bad.json()["detail"] == "unknown API key"
    assert keyed_client.get("/jobs", headers=auth("nonsense")).json()["detail"] == (
        "malformed API key"
    )

    job_id = keyed_client.post(
        "/jobs", json={"sql_content": "select 1\n"}, headers=auth(alice)
    ).json()["job_id"]
    mine = keyed_client.get(f"/jobs/{job_id}", headers=auth(alice))
    assert mine.status_code == 200 and mine.json()["api_key_id"] == alice.split("_")[1]
    other = keyed_client.get(f"/jobs/{job_id}", headers={"X-API-Key": bob})
    assert other.status_code == 403
    assert other.json()["detail"] == "this job belongs to another API key"
    for path in ("summary", "violations", "report", "relints"):
        assert keyed_client.get(f"/jobs/{job_id}/{path}", headers=auth(bob)).status_code == 403
    assert keyed_client.post(f"/jobs/{job_id}/retry", headers=auth(bob)).status_code == 403
    with session_maker.begin() as s:
        [task] = queries.tasks.ensure_tasks(s, job_id, [queries.tasks.NewTask("x/a.sql", "a.sql")])
    assert keyed_client.get(f"/tasks/{task.task_id}/result", headers=auth(bob)).status_code == 403
    assert keyed_client.get(f"/jobs/{job_id}", headers=auth(admin)).status_code == 200

    def listed(key: str) -> set[str]:
        body = keyed_client.get("/jobs", params={"size": 500}, headers=auth(key)).json()
        return {item["job_id"] for item in body["items"]}

    assert job_id in listed(alice) and job_id not in listed(bob) and job_id in listed(admin)

    capsys.readouterr()
    assert cli(["keys", "revoke", alice.split("_")[1]]) == 0
    assert cli(["keys", "revoke", alice.split("_")[1]]) == 1  # already revoked
    assert cli(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice\tuser\trevoked" in out and "ops\tadmin\tactive" in out
    revoked = keyed_client.get(f"/jobs/{job_id}", headers=auth(alice))
    assert revoked.status_code == 401 and revoked.json()["detail"] == "this API key was revoked"


def test_keys_optional_by_default(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    anonymous = client.post("/jobs", json={"sql_content": "select 1\n"})
    assert anonymous.status_code == 202
    key = create_key(capsys, "ci")
    job_id = client.post("/jobs", json={"sql_content": "select 1\n"}, headers=auth(key)).json()[
        "job_id"
    ]
    assert client.get(f"/jobs/{job_id}").json()["api_key_id"] == key.split("_")[1]
    wrong = client.get("/jobs", headers=auth("sfs_abc_def"))
    assert wrong.status_code == 401  # a key that is sent is always checked


def test_a_key_imports_only_from_its_own_folder(
    keyed_client: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With keys required, `zip_file_path` must lie under IMPORT_ROOT/<key_id>/: no key can
    name another's archive (nor one outside the import area)."""
    alice, bob = create_key(capsys, "alice"), create_key(capsys, "bob")
    alice_id, bob_id = alice.split("_")[1], bob.split("_")[1]
    root = settings.NFS_SHARE_ROOT_PATH
    for owner in (alice_id, bob_id):
        make_zip(root / f"{owner}/repo.zip", {"a.sql": b"select 1\n"})
    own = keyed_client.post(
        "/jobs", json={"zip_file_path": f"{alice_id}/repo.zip"}, headers=auth(alice)
    )
    assert own.status_code == 202, own.text
    for path in (f"{bob_id}/repo.zip", "archives/ok.zip"):
        other = keyed_client.post("/jobs", json={"zip_file_path": path}, headers=auth(alice))
        assert other.status_code == 400, other.text
        assert f"outside your import area {alice_id}/" in other.json()["detail"]
    assert (
        keyed_client.post(
            "/jobs", json={"zip_file_path": f"{bob_id}/repo.zip"}, headers=auth(bob)
        ).status_code
        == 202
    )
