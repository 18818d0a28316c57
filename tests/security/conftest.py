"""One running system for the whole security tier, tuned so limits trip within seconds (a lint
child gets 1 GiB of address space, a file 20 s), no callback network allowed, and the harm
each attack would do planted where it would show: a module that marks its import, a secret file
outside the shared root, and another submitter's job."""

import uuid
from collections.abc import Iterator

import pytest

from tests.support.attacks import CALLBACK_SECRET, IMPORT_AREA, Planted, pwn_module
from tests.support.system import System, running_system

SECURITY_ENV = {
    "LINT_MAX_MEMORY_MB": "1024",
    "LINT_TIMEOUT_SECONDS": "20",
    "INLINE_TIMEOUT_SECONDS": "20",
    "CALLBACK_ALLOWED_NETWORKS": "",
    "CALLBACK_ATTEMPTS": "2",
    "CALLBACK_BACKOFF_SECONDS": "0.2",
    "CALLBACK_TIMEOUT_SECONDS": "3",
    "UPLOAD_MAX_BYTES": "4000000",
    "LINT_MAX_FILE_BYTES": "1048576",
    "IMPORT_ROOT": IMPORT_AREA,
}
# Secrets of the service's own environment: no lint process may hold them.


@pytest.fixture(scope="package")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {**SECURITY_ENV, "CALLBACK_SECRET": CALLBACK_SECRET}
    with running_system(database_url, tmp_path_factory.mktemp("security"), env) as running:
        yield running


@pytest.fixture(scope="package")
def planted(system: System, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """The harm's witnesses: `pwn.py` outside the shared root, a secret file beside it, and a
    finished job of another submitter whose SQL holds a secret of its own."""
    marker = tmp_path_factory.mktemp("marks") / "imported"
    plugins = system.data / "plugins"
    plugins.mkdir()
    (plugins / "pwn.py").write_text(pwn_module(marker))
    secret_dir = system.data / "secrets"
    secret_dir.mkdir()
    secret = f"HOST-SECRET-{uuid.uuid4().hex}"
    (secret_dir / "secret.txt").write_text(secret + "\n")
    victim_sql = f"select 'VICTIM-{uuid.uuid4().hex}' as v\n"
    victim = system.submit({"sql_content": victim_sql})
    assert system.wait_final(victim, 120)["job_status"] == "COMPLETED"
    return Planted(
        plugins=plugins,
        marker=marker,
        secret_dir=secret_dir,
        secret=secret,
        victim_sql=victim_sql,
        victim_path=f"jobs/{victim}/source/input.sql",
    )
