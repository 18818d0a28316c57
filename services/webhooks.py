"""Callback safety and signing: where a job callback may go (docs/security.md: public addresses
unless an operator allows a network) and the Standard Webhooks signature a receiver checks. Used
by `services.callbacks` at delivery and by the API to reject a callback URL at submission."""

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}
# 100.64.0.0/10 (RFC 6598) is neither private nor global to `ipaddress`: named here for the message.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# NAT64 (RFC 6052) forwards to the IPv4 address in the last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_KINDS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)


class CallbackUrlError(ValueError):
    """A callback URL that cannot be called; the message is safe to show the submitter."""


class CallbackRefused(CallbackUrlError):
    """Refused by policy: not http(s), or its host resolves to a non-public address."""


class HostUnresolved(CallbackUrlError):
    """The host has no address now (DNS may recover: deliveries retry it)."""


def parse_networks(text: str) -> list[Network]:
    """CALLBACK_ALLOWED_NETWORKS ("10.1.0.0/16, fd00::/8") as networks; ValueError names any bad."""
    networks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"CALLBACK_ALLOWED_NETWORKS: {part!r} is not a CIDR") from None
    return networks


def _kind(address: Address) -> str | None:
    """What makes an address not public, or None for a public one."""
    for attribute, kind in _KINDS:
        if getattr(address, attribute):
            return kind
    if address in _SHARED:
        return "shared (carrier-grade NAT)"
    return None if address.is_global else "non-public"


def _embedded(address: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (6to4, Teredo server and client, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.sixtofour] if address.sixtofour else []
    found += list(address.teredo or ())
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """Why a callback may not connect to `address`, or None when it may."""
    # ::ffff:a.b.c.d is a.b.c.d on the wire: judge (and allow) it as the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    for inner in _embedded(address):
        if kind := _kind(inner):
            return f"an IPv6 address embedding a {kind} IPv4 address"
    if kind := _kind(address):
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    return None


@dataclass(frozen=True)
class Target:
    """A checked callback: the address to connect to and the names the request must carry."""

    url: httpx.URL
    address: Address

    @property
    def request_url(self) -> httpx.URL:
        # The IP literal: the HTTP client must not look the name up again (DNS rebinding).
        return self.url.copy_with(host=str(self.address))

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def extensions(self) -> dict[str, Any]:
        # TLS: send the real name in SNI and verify the certificate against it, not the IP.
        https = self.url.scheme == "https"
        return {"sni_hostname": self.url.raw_host.decode("ascii")} if https else {}


def _split(url: str) -> tuple[httpx.URL, str, int]:
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise CallbackRefused(f"callback URL is not valid: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise CallbackRefused(f"callback URL scheme {parsed.scheme!r} is not http or https")
    if not host:
        raise CallbackRefused("callback URL has no host")
    return parsed, host, parsed.port or SCHEMES[parsed.scheme]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _checked(url: httpx.URL, host: str, infos: Sequence[Any], allowed: Sequence[Network]) -> Target:
    # Every address the name has must pass: the client would be free to pick any of them.
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise HostUnresolved(f"callback host {host} has no address")
    for address in addresses:
        if reason := refusal(address, allowed):
            # The resolved address is left out: it would tell a submitter our internal DNS.
            said = "is" if _is_literal(host) else "resolves to"
            raise CallbackRefused(f"callback host {host} {said} {reason}")
    return Target(url, addresses[0])


def check_callback_url(url: str, allowed: Sequence[Network]) -> None:
    """Check a callback URL now (blocking DNS lookup), as a submission check.

    Raises:
        CallbackRefused: not http(s), or the host resolves to an address outside `allowed`
            that is loopback, private, link-local, multicast, reserved, shared or not global.
        HostUnresolved: the host has no address now.
    """
    resolve_callback_url(url, allowed)


def resolve_callback_url(url: str, allowed: Sequence[Network]) -> Target:
    """`check_callback_url`, returning the checked target to connect to."""
    parsed, host, port = _split(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HostUnresolved(f"callback host {host} does not resolve") from None
    return _checked(parsed, host, infos, allowed)


async def resolve_target(url: str, allowed: Sequence[Network]) -> Target:
    """`resolve_callback_url` without blocking the event loop."""
    parsed, host, port = _split(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HostUnresolved(f"callback host {host} does not resolve") from None
    return _checked(parsed, host, infos, allowed)


def signing_key(secret: str) -> bytes:
    """A `whsec_<base64>` secret is decoded as the Standard Webhooks spec says; any other
    secret is used as its UTF-8 bytes (what the legacy X-Signature-256 has always used)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_legacy(secret: str, body: bytes) -> str:
    """The older `X-Signature-256` value: `sha256=` + hex HMAC-SHA256 of the body alone."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """Headers of one attempt: id, this attempt's timestamp and, with a secret, signatures."""
    timestamp = int(time.time())
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
        headers["X-Signature-256"] = sign_legacy(secret, body)
    return headers


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance_seconds: float = 300
) -> bool:
    """What a receiver does: True if a `v1` signature matches and the timestamp is recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    # Both ways: an old timestamp is a replay, a future one a forgery kept for later.
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, message_id, timestamp, body)
    offered = lowered.get("webhook-signature", "").split()
    return any(hmac.compare_digest(candidate, expected) for candidate in offered)
