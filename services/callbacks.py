"""Completion callbacks: when a job with a `callback_url` ends, POST its summary there.

The body is the job's summary (as `GET /jobs/{id}/summary`). Each delivery runs in its own task,
at most CALLBACK_CONCURRENCY per API process, so a slow receiver holds only its own slot; it is
tried CALLBACK_ATTEMPTS times with doubling waits, and its outcome is kept in the job's
`callback_status`. A dead receiver never delays or fails a job, and API instances claim a job's
delivery with a conditional update, so only one sends it; a claim older than the longest a
delivery can take (`delivery_lease`: its API process died mid-delivery) is claimed again, so
the message is sent at least once, under the same `webhook-id` (receivers drop repeats by
it). Before every attempt the host is resolved and each address checked
(`services.webhooks`): a non-public one, unless inside CALLBACK_ALLOWED_NETWORKS, makes the
status "refused: <reason>" with no connection made. The request goes to the checked IP (Host
header and TLS SNI carry the name), never via a proxy, and a redirect is not followed (a 3xx
is a failed attempt).

Headers: `X-Job-Id`; Standard Webhooks `webhook-id` (`msg_<job_id>_<token>`, one per ending of
the job, the same on every attempt of it), `webhook-timestamp` (unix seconds of the attempt) and,
when CALLBACK_SECRET is set, `webhook-signature` (`v1,<base64 HMAC-SHA256>`), plus the legacy
`X-Signature-256: sha256=<hex HMAC-SHA256 of the body>` that existing receivers check.

How a receiver verifies: take the secret's bytes (a `whsec_<base64>` secret is base64-decoded,
any other is used as its UTF-8 bytes), compute HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{raw body bytes}`, base64-encode it, and compare it in constant
time with each space-separated `v1,<signature>` in `webhook-signature`; reject a timestamp more
than 5 minutes from now (replays), and use `webhook-id` to drop a message already handled.
`services.webhooks.verify_signature` does exactly this.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import utcnow
from services.summaries import job_summary
from services.webhooks import (
    CallbackRefused,
    HostUnresolved,
    Network,
    parse_networks,
    resolve_target,
    signature_headers,
    signing_key,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message: a job's summary for its callback URL, under one `webhook-id`."""

    job_id: str
    url: str
    body: bytes
    message_id: str

    @classmethod
    def new(cls, job_id: str, url: str, body: bytes, ending: str = "") -> "Delivery":
        """`ending` names this ending of the job (its attempt and its start): the message id
        derives from it, so a delivery claimed again after its API process died is the same
        message, which the receiver drops if it got it already."""
        token = hashlib.sha256(f"{job_id}|{ending}".encode()).hexdigest()[:12]
        return cls(job_id, url, body, f"msg_{job_id}_{token}")


async def _attempt(
    client: httpx.AsyncClient, delivery: Delivery, settings: Settings, allowed: Sequence[Network]
) -> int:
    """One POST to the checked address; its HTTP status (the answer's body is never read)."""
    # httpx's timeouts bound each read or write; this bounds the whole attempt (DNS included),
    # so a receiver that drips its answer a byte at a time still lets go of the slot.
    async with asyncio.timeout(settings.CALLBACK_TIMEOUT_SECONDS):
        target = await resolve_target(delivery.url, allowed)
        headers = {
            "Content-Type": "application/json",
            "Host": target.host_header,
            "X-Job-Id": delivery.job_id,
            **signature_headers(settings.CALLBACK_SECRET, delivery.message_id, delivery.body),
        }
        async with client.stream(
            "POST",
            target.request_url,
            content=delivery.body,
            headers=headers,
            extensions=target.extensions,
        ) as response:
            return response.status_code


async def deliver(delivery: Delivery, settings: Settings, allowed: Sequence[Network]) -> str:
    """POST until a 2xx or CALLBACK_ATTEMPTS tries; returns the outcome for `callback_status`."""
    wait = settings.CALLBACK_BACKOFF_SECONDS
    outcome = "not sent"
    # A client per delivery: pooled connections are keyed by IP, and one verified for another
    # host name on the same IP must never carry this message. trust_env=False: a proxy from the
    # environment would resolve the name again and reach what the check refused.
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(settings.CALLBACK_TIMEOUT_SECONDS),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for attempt in range(1, settings.CALLBACK_ATTEMPTS + 1):
            try:
                status = await _attempt(client, delivery, settings, allowed)
            except CallbackRefused as exc:
                return f"refused: {exc}"
            except HostUnresolved as exc:
                outcome = str(exc)
            except TimeoutError:
                outcome = f"no answer within {settings.CALLBACK_TIMEOUT_SECONDS:g} s"
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    return f"delivered (HTTP {status}, attempt {attempt})"
                redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
                outcome = f"HTTP {status}{redirect}"
            logger.warning(
                "callback attempt %d of %d failed: %s",
                attempt,
                settings.CALLBACK_ATTEMPTS,
                outcome,
                extra={"job_id": delivery.job_id},
            )
            if attempt < settings.CALLBACK_ATTEMPTS:
                await asyncio.sleep(wait)
                wait *= 2
    return f"failed after {settings.CALLBACK_ATTEMPTS} attempts: {outcome}"


class CallbackPool:
    """Deliveries in flight, at most CALLBACK_CONCURRENCY, each with its retries in its own task;
    `record(job_id, outcome)` runs in a thread when one ends (it writes the DB)."""

    def __init__(self, settings: Settings, record: Callable[[str, str], None]) -> None:
        self._settings = settings
        self._allowed = parse_networks(settings.CALLBACK_ALLOWED_NETWORKS)
        self._record = record
        self._running: set[asyncio.Task[None]] = set()

    @property
    def free(self) -> int:
        return self._settings.CALLBACK_CONCURRENCY - len(self._running)

    def start(self, delivery: Delivery) -> None:
        if self.free <= 0:
            raise RuntimeError("callback pool is full")
        task = asyncio.create_task(self._run(delivery), name=f"callback {delivery.job_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, delivery: Delivery) -> None:
        try:
            outcome = await deliver(delivery, self._settings, self._allowed)
            logger.info("callback %s", outcome, extra={"job_id": delivery.job_id})
            await asyncio.to_thread(self._record, delivery.job_id, outcome)
        except Exception:  # noqa: BLE001 - a boundary: one delivery's bug must not end the others
            logger.exception("callback delivery failed", extra={"job_id": delivery.job_id})

    async def drain(self) -> None:
        """Wait for every delivery in flight to end."""
        while self._running:
            await asyncio.gather(*self._running)

    async def close(self) -> None:
        """Cancel what is in flight (those jobs stay "sending")."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


def delivery_lease(settings: Settings) -> float:
    """Seconds a claimed delivery may take at most (every attempt timing out, every wait in
    between), plus a margin: a claim older than this was left by a dead API process."""
    attempts = settings.CALLBACK_ATTEMPTS
    waits = settings.CALLBACK_BACKOFF_SECONDS * (2 ** (attempts - 1) - 1)
    return (
        attempts * settings.CALLBACK_TIMEOUT_SECONDS + waits + settings.RECONCILE_INTERVAL_SECONDS
    )


def claim_deliveries(
    sessions: sessionmaker[Session], limit: int, lease: float | None = None
) -> list[Delivery]:
    """Claim up to `limit` ended jobs' callbacks for this process and build their messages;
    with `lease`, also those "sending" under a claim older than `lease` seconds."""
    stale_before = utcnow() - timedelta(seconds=lease) if lease is not None else None
    with sessions.begin() as session:
        claimed = queries.jobs.claim_callbacks(session, limit=limit, stale_before=stale_before)
    deliveries = []
    for job_id, url in claimed:
        with sessions() as session:
            job = queries.jobs.get_job(session, job_id)
            if job is None:
                continue
            body = json.dumps(job_summary(session, job), separators=(",", ":")).encode()
        # The attempt and when it started name this ending (not `updated_at`: a claim moves it).
        current = next((a for a in job.attempts if a.number == job.attempt), None)
        ending = f"{job.attempt}|{current.started_at if current else ''}"
        deliveries.append(Delivery.new(job_id, url, body, ending))
    return deliveries


def record_outcome(sessions: sessionmaker[Session], job_id: str, outcome: str) -> None:
    with sessions.begin() as session:
        queries.jobs.set_callback_status(session, job_id, outcome)


async def callbacks_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The API's callback loop; one failed pass never stops it."""
    try:
        signing_key(settings.CALLBACK_SECRET)
        pool = CallbackPool(
            settings, lambda job_id, outcome: record_outcome(sessions, job_id, outcome)
        )
    except ValueError:
        logger.exception("callbacks are off: CALLBACK_SECRET or CALLBACK_ALLOWED_NETWORKS is bad")
        return
    try:
        while True:
            await asyncio.sleep(settings.RECONCILE_INTERVAL_SECONDS / 4)
            try:
                # Claim no more than free slots: the rest stay unclaimed for any instance.
                if pool.free > 0:
                    claimed = await asyncio.to_thread(
                        claim_deliveries, sessions, pool.free, delivery_lease(settings)
                    )
                    for delivery in claimed:
                        pool.start(delivery)
            except Exception:  # noqa: BLE001 - a boundary: log and try again next interval
                logger.exception("callback pass failed")
    finally:
        await pool.close()
