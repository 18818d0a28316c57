"""Callbacks against real receivers (uvicorn in a thread): refused addresses, signed delivery to an
allowed network, no redirects, and a slow receiver holding only its own delivery."""

import asyncio
import base64
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.settings import Settings
from deployments.processes import free_port
from services.callbacks import CallbackPool, Delivery, deliver
from services.webhooks import (
    CallbackRefused,
    HostUnresolved,
    check_callback_url,
    parse_networks,
    resolve_callback_url,
    sign,
    sign_legacy,
    verify_signature,
)
from tests.support.stand_ins import serving

SECRET = "plain-secret"
LOOPBACK = parse_networks("127.0.0.0/8")


@dataclass
class Receiver:
    """Records every request; answers `status` (with `location`), or holds it until released."""

    status: int = 204
    location: str = ""
    hold: bool = False
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = field(default_factory=free_port)

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        return f"http://{host}:{self.port}{path}"

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            self.received.append((request.url.path, dict(request.headers), await request.body()))
            self.arrived.set()
            if self.hold:
                await asyncio.to_thread(self.release.wait, 30)
            headers = {"Location": self.location} if self.location else None
            return Response(status_code=self.status, headers=headers)

        return Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])


def running(receiver: Receiver) -> Iterator[Receiver]:
    with serving(receiver) as served:
        try:
            yield served
        finally:
            receiver.release.set()  # a held request would stall the server's shutdown


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running(Receiver())


@pytest.fixture
def other() -> Iterator[Receiver]:
    yield from running(Receiver())


@pytest.fixture
def slow() -> Iterator[Receiver]:
    yield from running(Receiver(hold=True))


def settings_for(tmp_path: Path, **values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "CALLBACK_SECRET": SECRET,
        "CALLBACK_ATTEMPTS": 1,
        "CALLBACK_BACKOFF_SECONDS": 0.01,
        "CALLBACK_TIMEOUT_SECONDS": 30,
    }
    return Settings(DATA_DIR=tmp_path, **{**defaults, **values})


def send(url: str, settings: Settings, job_id: str = "job-1") -> str:
    allowed = parse_networks(settings.CALLBACK_ALLOWED_NETWORKS)
    return asyncio.run(
        deliver(Delivery.new(job_id, url, b'{"job_id": "job-1"}'), settings, allowed)
    )


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "is a loopback address"),
        ("localhost", "resolves to a loopback address"),
        ("[::1]", "is a loopback address"),
        ("10.1.2.3", "is a private address"),
        ("169.254.169.254", "is a link-local address"),
        ("0.0.0.0", "is an unspecified address"),
        ("[::ffff:127.0.0.1]", "is a loopback address"),
        ("2130706433", "resolves to a loopback address"),  # 127.0.0.1 as one number
        ("100.64.0.1", "is a shared (carrier-grade NAT) address"),
        ("[2002:7f00:1::1]", "embedding a loopback IPv4 address"),  # 6to4 of 127.0.0.1
        ("[64:ff9b::a00:1]", "embedding a private IPv4 address"),  # NAT64 of 10.0.0.1
        ("224.0.0.1", "is a multicast address"),
        ("[fe80::1]", "is a link-local address"),
    ],
)
def test_non_public_hosts_are_refused_without_a_connection(
    tmp_path: Path, receiver: Receiver, host: str, kind: str
) -> None:
    url = receiver.url(host)
    with pytest.raises(CallbackRefused, match=re.escape(kind)):
        check_callback_url(url, [])
    outcome = send(url, settings_for(tmp_path))
    assert outcome.startswith("refused: callback host ") and kind in outcome
    assert receiver.received == []


def test_every_address_of_a_name_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    # A made-up name that no DNS server we can run knows: its answers are set here.
    answers: list[str] = []
    real = socket.getaddrinfo

    def lookup(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    answers[:] = ["93.184.216.34", "127.0.0.1"]
    with pytest.raises(CallbackRefused, match="rebind.example resolves to a loopback address"):
        check_callback_url("https://rebind.example/hook", [])
    answers[:] = ["93.184.216.34"]
    target = resolve_callback_url("https://rebind.example:8443/hook", [])
    assert str(target.request_url) == "https://93.184.216.34:8443/hook"
    assert target.host_header == "rebind.example:8443"
    assert target.extensions == {"sni_hostname": "rebind.example"}


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "http:///x"]
)
def test_only_http_and_https_urls(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_callback_url(url, [])


def test_an_unresolvable_host_is_a_failed_attempt(tmp_path: Path) -> None:
    with pytest.raises(HostUnresolved):
        check_callback_url("http://no-such-host.invalid/", [])
    outcome = send("http://no-such-host.invalid/", settings_for(tmp_path, CALLBACK_ATTEMPTS=2))
    assert outcome == (
        "failed after 2 attempts: callback host no-such-host.invalid does not resolve"
    )


def test_refused_status_is_the_same_for_an_open_and_a_closed_port(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = settings_for(tmp_path)
    open_port = send(receiver.url(), settings)
    closed_port = send(f"http://127.0.0.1:{free_port()}/hook", settings)
    assert open_port == closed_port == "refused: callback host 127.0.0.1 is a loopback address"
    assert receiver.received == []


@pytest.mark.parametrize(
    "secret", [SECRET, "whsec_" + base64.b64encode(b"sixteen byte key").decode()]
)
def test_an_allowed_network_is_delivered_signed(
    tmp_path: Path, receiver: Receiver, secret: str
) -> None:
    settings = settings_for(
        tmp_path, CALLBACK_SECRET=secret, CALLBACK_ALLOWED_NETWORKS="10.0.0.0/8, 127.0.0.0/8"
    )
    url = receiver.url("localhost")
    check_callback_url(url, LOOPBACK)
    assert send(url, settings, job_id="job-7") == "delivered (HTTP 204, attempt 1)"
    [(path, headers, body)] = receiver.received
    assert path == "/hook" and body == b'{"job_id": "job-1"}'
    assert headers["host"] == f"localhost:{receiver.port}"  # the name, though sent to the IP
    assert headers["x-job-id"] == "job-7"
    assert headers["webhook-id"].startswith("msg_job-7_")
    assert verify_signature(secret, headers, body)
    assert headers["x-signature-256"] == sign_legacy(secret, body)
    assert not verify_signature("another-secret", headers, body)
    assert not verify_signature(secret, headers, body + b" ")


def test_retries_keep_the_message_id_and_renew_the_timestamp_signature(
    tmp_path: Path,
) -> None:
    with serving(Receiver(status=500)) as failing:
        settings = settings_for(
            tmp_path, CALLBACK_ATTEMPTS=3, CALLBACK_ALLOWED_NETWORKS="127.0.0.1/32"
        )
        assert send(failing.url(), settings) == "failed after 3 attempts: HTTP 500"
    assert len(failing.received) == 3
    assert len({h["webhook-id"] for _, h, _ in failing.received}) == 1
    assert all(verify_signature(SECRET, h, b) for _, h, b in failing.received)


def test_verify_signature_rejects_stale_timestamps_and_accepts_any_listed_signature() -> None:
    body = b"{}"
    now = int(time.time())
    stale = {"webhook-id": "msg_1", "webhook-timestamp": str(now - 600)}
    stale["webhook-signature"] = sign(SECRET, "msg_1", now - 600, body)
    assert not verify_signature(SECRET, stale, body)
    assert verify_signature(SECRET, stale, body, tolerance_seconds=900)
    rotated = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(now),
        "Webhook-Signature": f"v1,bm90IGl0 {sign(SECRET, 'msg_1', now, body)}",
    }
    assert verify_signature(SECRET, rotated, body)
    assert not verify_signature(SECRET, {"webhook-id": "msg_1"}, body)


def test_a_redirect_is_not_followed(tmp_path: Path, receiver: Receiver, other: Receiver) -> None:
    receiver.status, receiver.location = 307, other.url(path="/elsewhere")
    settings = settings_for(tmp_path, CALLBACK_ATTEMPTS=2, CALLBACK_ALLOWED_NETWORKS="127.0.0.0/8")
    outcome = send(receiver.url(), settings)
    assert outcome == "failed after 2 attempts: HTTP 307 (redirects are not followed)"
    assert len(receiver.received) == 2 and other.received == []


def test_a_slow_receiver_does_not_delay_another_job(
    tmp_path: Path, slow: Receiver, receiver: Receiver
) -> None:
    settings = settings_for(tmp_path, CALLBACK_ALLOWED_NETWORKS="127.0.0.0/8")
    outcomes: list[tuple[str, str]] = []
    recorded = threading.Event()

    def record(job_id: str, outcome: str) -> None:
        outcomes.append((job_id, outcome))
        recorded.set()

    async def scenario() -> None:
        pool = CallbackPool(settings, record)
        pool.start(Delivery.new("job-slow", slow.url(), b"{}"))
        assert await asyncio.to_thread(slow.arrived.wait, 10)
        pool.start(Delivery.new("job-fast", receiver.url(), b"{}"))
        # The fast job is received, answered and recorded while the slow answer is held.
        assert await asyncio.to_thread(recorded.wait, 10)
        assert not slow.release.is_set() and len(receiver.received) == 1
        slow.release.set()
        await pool.drain()

    asyncio.run(scenario())
    assert outcomes == [
        ("job-fast", "delivered (HTTP 204, attempt 1)"),
        ("job-slow", "delivered (HTTP 204, attempt 1)"),
    ]


def test_the_pool_is_bounded(tmp_path: Path, slow: Receiver) -> None:
    settings = settings_for(tmp_path, CALLBACK_CONCURRENCY=1, CALLBACK_ALLOWED_NETWORKS="127.0.0.1")
    outcomes: list[str] = []

    async def scenario() -> None:
        pool = CallbackPool(settings, lambda _, outcome: outcomes.append(outcome))
        pool.start(Delivery.new("job-1", slow.url(), b"{}"))
        assert pool.free == 0
        with pytest.raises(RuntimeError, match="full"):
            pool.start(Delivery.new("job-2", slow.url(), b"{}"))
        assert await asyncio.to_thread(slow.arrived.wait, 10)
        slow.release.set()
        await pool.drain()
        assert pool.free == 1

    asyncio.run(scenario())
    assert outcomes == ["delivered (HTTP 204, attempt 1)"]


def test_a_bad_allowed_network_is_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.300/8' is not a CIDR"):
        parse_networks("127.0.0.0/8,10.0.0.300/8")
