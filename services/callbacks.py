"""Completion callbacks: when a job with a `callback_url` ends, POST its summary there.

The body is the job's summary (as `GET /jobs/{id}/summary`), signed with HMAC-SHA256 of the
exact body bytes under CALLBACK_SECRET, sent as `X-Signature-256: sha256=<hex>`. Each delivery
is tried CALLBACK_ATTEMPTS times with doubling waits; the outcome is kept in the job's
`callback_status`. Deliveries run beside the job, never in its path: a dead receiver never
delays or fails a job. API instances claim a job's delivery with a conditional update, so only
one sends it.
"""

import asyncio
import hashlib
import hmac
import logging
import time

import httpx
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from services.summaries import job_summary

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature-256"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(url: str, body: bytes, settings: Settings, job_id: str) -> str:
    """POST `body` to `url` until a 2xx or CALLBACK_ATTEMPTS tries; returns the outcome."""
    headers = {"Content-Type": "application/json", "X-Job-Id": job_id}
    if settings.CALLBACK_SECRET:
        headers[SIGNATURE_HEADER] = sign(settings.CALLBACK_SECRET, body)
    wait = settings.CALLBACK_BACKOFF_SECONDS
    outcome = "not sent"
    for attempt in range(1, settings.CALLBACK_ATTEMPTS + 1):
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=10)
            if response.is_success:
                return f"delivered (HTTP {response.status_code}, attempt {attempt})"
            outcome = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "callback attempt %d of %d failed: %s",
            attempt,
            settings.CALLBACK_ATTEMPTS,
            outcome,
            extra={"job_id": job_id},
        )
        if attempt < settings.CALLBACK_ATTEMPTS:
            time.sleep(wait)
            wait *= 2
    return f"failed after {settings.CALLBACK_ATTEMPTS} attempts: {outcome}"


def send_due_callbacks(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Deliver the callbacks of ended jobs not yet called back; returns how many were tried."""
    with sessions.begin() as session:
        claimed = queries.jobs.claim_callbacks(session)
    for job_id, url in claimed:
        with sessions() as session:
            job = queries.jobs.get_job(session, job_id)
            if job is None:
                continue
            body = job_summary(session, job).model_dump_json().encode()
        outcome = deliver(url, body, settings, job_id)
        logger.info("callback %s", outcome, extra={"job_id": job_id})
        with sessions.begin() as session:
            queries.jobs.set_callback_status(session, job_id, outcome)
    return len(claimed)


async def callbacks_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The API's callback loop; one failed pass never stops it."""
    while True:
        await asyncio.sleep(settings.RECONCILE_INTERVAL_SECONDS / 4)
        try:
            await asyncio.to_thread(send_due_callbacks, settings, sessions)
        except Exception:  # noqa: BLE001 - a boundary: log and try again next interval
            logger.exception("callback pass failed")
