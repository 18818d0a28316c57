"""One running system for the fault tests, tuned so faults show within seconds: a 1 s
heartbeat, stale after 10 s, reconciled every second, small batches, short file limits."""

from collections.abc import Iterator

import pytest

from tests.support.factories import make_zip
from tests.support.faults import FAULT_ENV, workload_entries
from tests.support.system import System, running_system


@pytest.fixture(scope="package")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(database_url, tmp_path_factory.mktemp("faults"), FAULT_ENV) as running:
        yield running


@pytest.fixture
def workload_zip(system: System, request: pytest.FixtureRequest) -> tuple[str, set[str]]:
    """A ZIP of a real folder under the shared root, and the names of its SQL files."""
    entries = workload_entries()
    rel = f"archives/{request.node.name}.zip"
    make_zip(system.shared_root / rel, entries)
    return rel, set(entries)
