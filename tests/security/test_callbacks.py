"""Callbacks to the service's own network (CALLBACK_ALLOWED_NETWORKS empty): refused at
submission with the reason, through POST /jobs and POST /jobs/upload; nothing ever reaches a
listener on this host; an open and a closed port get the same answer (no port scan)."""

from collections.abc import Iterator

import httpx
import pytest

from deployments.processes import free_port
from tests.support.attacks import upload
from tests.support.stand_ins import CallbackReceiver, serving
from tests.support.system import System

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    """A listener on this host, where a callback would land if one got through."""
    with serving(CallbackReceiver()) as running:
        yield running


def targets(receiver: CallbackReceiver, closed: int) -> dict[str, str]:
    open_port = receiver.port
    return {
        "loopback open port": f"http://127.0.0.1:{open_port}/hook",
        "loopback closed port": f"http://127.0.0.1:{closed}/hook",
        "cloud metadata": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.0.0.1/hook",
        "ipv6 loopback": f"http://[::1]:{open_port}/hook",
        "name of loopback": f"http://localhost:{open_port}/hook",
        "decimal loopback": f"http://2130706433:{open_port}/hook",
        "mapped loopback": f"http://[::ffff:127.0.0.1]:{open_port}/hook",
        "unspecified": f"http://0.0.0.0:{open_port}/hook",
    }


TARGETS = [
    "loopback open port",
    "loopback closed port",
    "cloud metadata",
    "private",
    "ipv6 loopback",
    "name of loopback",
    "decimal loopback",
    "mapped loopback",
    "unspecified",
]


def submit(system: System, entry: str, url: str) -> httpx.Response:
    if entry == "upload":
        return upload(system.api, "q.sql", b"select 1\n", callback_url=url)
    body = {"sql_content": "select 1\n", "callback_url": url}
    return httpx.post(f"{system.api}/jobs", json=body, timeout=30)


@pytest.mark.parametrize("entry", ["job", "upload"])
@pytest.mark.parametrize("target", TARGETS)
def test_callback_to_this_network_is_refused_at_submission(
    system: System, receiver: CallbackReceiver, target: str, entry: str
) -> None:
    url = targets(receiver, free_port())[target]
    response = submit(system, entry, url)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("'callback_url' refused: callback host"), detail
    if target == "name of loopback":  # the kind of address, never the one a name resolved to
        assert "127.0.0.1" not in detail and "::1" not in detail, detail
    assert receiver.received == []


def test_open_and_closed_ports_answer_alike(system: System, receiver: CallbackReceiver) -> None:
    answers = {}
    for port in (receiver.port, free_port()):
        response = submit(system, "job", f"http://127.0.0.1:{port}/hook")
        answers[port] = (response.status_code, response.json()["detail"])
    assert len(set(answers.values())) == 1, answers
    assert receiver.received == []


def test_a_public_callback_is_accepted_and_a_refused_one_never_delivered(
    system: System, receiver: CallbackReceiver
) -> None:
    # A name that does not resolve yet is accepted; each attempt checks it again, so a name
    # that later points here is refused at delivery (services/callbacks.py), never sent.
    url = f"http://callback-target.invalid:{receiver.port}/hook"
    response = submit(system, "job", url)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = system.wait_job(
        job_id,
        lambda b: b["callback_status"] not in (None, "sending"),
        60,
        "callback never settled",
    )
    assert not job["callback_status"].startswith("delivered"), job["callback_status"]
    assert receiver.received == []
