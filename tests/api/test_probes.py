"""`/livez` answers while the process does; `/readyz` says whether this instance can take jobs
and names what stops it (a schema behind the code's migrations, a shared directory it cannot
write); both are open, documented, and fail as Problem Details."""

import shutil
from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db.schema import code_heads
from tests.support.databases import alembic_config

OK = {"status": "ok"}


def test_all_probes_pass_on_a_ready_instance(client: TestClient) -> None:
    for path in ("/livez", "/readyz", "/health"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (200, OK), path


@pytest.fixture
def schema_behind(session_maker: sessionmaker[Session]) -> Iterator[tuple[str, str]]:
    """The database stamped one revision back, as after deploying new code before migrating;
    restored afterwards (the test database is the session's)."""
    (head,) = code_heads()
    previous = ScriptDirectory.from_config(alembic_config("")).get_revision(head).down_revision
    with session_maker.begin() as s:
        s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    try:
        yield previous, head
    finally:
        with session_maker.begin() as s:
            s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_readyz_refuses_a_schema_behind_the_code(
    client: TestClient, schema_behind: tuple[str, str]
) -> None:
    previous, head = schema_behind
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        f"database: schema at {previous}, this code needs {head} (run the migrations)"
    )
    assert client.get("/livez").status_code == 200  # restarting would not mend it


def test_readyz_names_an_unwritable_share_without_its_path(
    client: TestClient, settings: Settings
) -> None:
    shutil.rmtree(settings.NFS_SHARE_ROOT_PATH)
    # A file where the folder was: not a directory anyone can create files in.
    settings.NFS_SHARE_ROOT_PATH.write_text("not a folder")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "shared directory: not a writable directory (NFS_SHARE_ROOT_PATH)"
    assert str(settings.NFS_SHARE_ROOT_PATH) not in response.text
    assert client.get("/livez").json() == OK


def test_probes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/livez"]["get"]["responses"]) == {"200"}
    assert {"200", "503"} <= set(paths["/readyz"]["get"]["responses"])
    problem = paths["/readyz"]["get"]["responses"]["503"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_probes_need_no_key_when_keys_are_required(
    monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    from api.main import create_app
    from core.settings import get_settings

    monkeypatch.setenv("API_KEYS_REQUIRED", "true")
    get_settings.cache_clear()
    with TestClient(create_app()) as keyed:
        assert keyed.get("/jobs").status_code == 401
        assert keyed.get("/livez").status_code == 200
        assert keyed.get("/readyz").status_code == 200
