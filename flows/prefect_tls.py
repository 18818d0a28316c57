"""One TLS context per CA bundle per process, for every client of the Prefect API.

Prefect 3.9 builds a new `ssl.SSLContext` from the whole CA bundle (certifi's, or
PREFECT_API_SSL_CERT_FILE) for each API client it makes: several per flow run, two per task run
on a Dask worker, one more for the events stream. Each costs ~16 ms of CPU, even for an `http://`
API that never uses it: a quarter of an inline job's flow-run CPU (py-spy, 12 jobs). A verified
context is not changed once made, so one per bundle serves them all. `share_prefect_contexts()`
is called where Prefect runs: the flow runs' fork server (deployments/entrypoints.py), Dask
workers (flows/worker_preload.py) and the Prefect worker.

Unverified contexts (PREFECT_API_TLS_INSECURE_SKIP_VERIFY) are still made per client: Prefect
changes them after making them.
"""

import functools
import ssl
from types import ModuleType
from typing import Any

import certifi


@functools.cache
def verified_context(cafile: str) -> ssl.SSLContext:
    """The process's context verifying servers against the bundle `cafile`."""
    return ssl.create_default_context(cafile=cafile)


def prefect_api_verify() -> ssl.SSLContext | bool:
    """What an httpx client of the Prefect API verifies with, from Prefect's own settings."""
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if api.tls_insecure_skip_verify:
        return False
    return verified_context(api.ssl_cert_file or certifi.where())


class _SharedContexts:
    """Stands in for the `ssl` module inside Prefect's client modules only."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def create_default_context(
        self,
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
    ) -> ssl.SSLContext:
        if cafile and purpose == ssl.Purpose.SERVER_AUTH and capath is None and cadata is None:
            return verified_context(cafile)
        return self._real.create_default_context(
            purpose, cafile=cafile, capath=capath, cadata=cadata
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def share_prefect_contexts() -> None:
    """Make Prefect's API clients in this process share one verified context per bundle, and
    load the configured bundle now: in the flow runs' fork server, before any run forks."""
    import prefect._internal.version_checking
    import prefect._internal.websockets
    import prefect.client.orchestration

    for module in (
        prefect.client.orchestration,
        prefect._internal.websockets,
        prefect._internal.version_checking,
    ):
        if not isinstance(module.ssl, _SharedContexts):
            module.ssl = _SharedContexts(ssl)  # type: ignore[attr-defined]
    prefect_api_verify()
