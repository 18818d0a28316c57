"""API fixtures: the app on the test DB and a temp shared root, with a real Prefect server and
the `lint-job` deployment registered (no worker: flow runs stay scheduled)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from tests.support.factories import make_zip


@pytest.fixture(scope="session")
def lint_deployment(prefect_api: str) -> str:
    from flows.lint_job import lint_job

    lint_job.to_deployment(name="lint-job").apply()
    return "lint-job/lint-job"


@pytest.fixture
def shared_files(shared_root: Path, tmp_path: Path) -> Path:
    make_zip(shared_root / "archives/ok.zip", {"a.sql": b"select 1\n"})
    (shared_root / "archives/text.zip").write_text("select 1")
    (tmp_path / "outside.zip").write_bytes((shared_root / "archives/ok.zip").read_bytes())
    os.symlink(tmp_path / "outside.zip", shared_root / "archives/link-out.zip")
    return shared_root


@pytest.fixture
def client(settings: Settings, lint_deployment: str, shared_files: Path) -> Iterator[TestClient]:
    from api.main import create_app

    with TestClient(create_app()) as client:
        yield client
