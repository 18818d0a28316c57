"""Prefect's API clients share one verified TLS context per CA bundle (flows/prefect_tls.py)."""

import ssl

import certifi
import prefect.client.orchestration
import pytest
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.settings import (
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
    temporary_settings,
)

from flows.prefect_tls import prefect_api_verify, share_prefect_contexts
from flows.start import prefect_http

API = "http://127.0.0.1:1/api"


def _context_of(client: PrefectClient | SyncPrefectClient) -> ssl.SSLContext:
    return client._client._transport._pool._ssl_context  # type: ignore[union-attr]


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # Undone after the test: other tests see Prefect's own module.
    monkeypatch.setattr(prefect.client.orchestration, "ssl", ssl)
    share_prefect_contexts()


def test_prefect_clients_of_a_process_share_one_verified_context(shared: None) -> None:
    contexts = [
        _context_of(PrefectClient(API)),
        _context_of(PrefectClient(API)),
        _context_of(SyncPrefectClient(API)),
    ]
    assert contexts[0] is contexts[1] is contexts[2]
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED
    assert contexts[0].check_hostname
    assert contexts[0].cert_store_stats()["x509_ca"] > 0  # certifi's bundle is loaded


def test_without_sharing_each_client_loads_the_bundle_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefect.client.orchestration, "ssl", ssl)
    assert _context_of(PrefectClient(API)) is not _context_of(PrefectClient(API))


def test_unverified_contexts_are_not_shared(shared: None) -> None:
    # Prefect turns verification off on the context it makes: a shared one would leak that.
    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        first, second = _context_of(PrefectClient(API)), _context_of(PrefectClient(API))
    assert first is not second
    assert first.verify_mode == ssl.CERT_NONE
    verified = _context_of(PrefectClient(API))
    assert verified.verify_mode == ssl.CERT_REQUIRED


def test_the_trigger_client_follows_prefects_tls_settings() -> None:
    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        assert prefect_api_verify() is False
    with temporary_settings({PREFECT_API_SSL_CERT_FILE: certifi.where()}):
        context = prefect_api_verify()
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context is prefect_api_verify()  # loaded once per process
    with temporary_settings({PREFECT_API_SSL_CERT_FILE: "/nonexistent/bundle.pem"}):
        with pytest.raises(FileNotFoundError):
            prefect_api_verify()
    with prefect_http(timeout=1) as http:
        assert http._transport._pool._ssl_context is prefect_api_verify()  # type: ignore[attr-defined]
