"""The whole system as `make up` starts it, once for the module (see tests/support/system.py)."""

from collections.abc import Iterator

import pytest

from tests.support.system import System, running_system


@pytest.fixture(scope="module")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(database_url, tmp_path_factory.mktemp("system")) as running:
        yield running
