"""An API process dies while it sends a job's callback: the job stays "sending" under a claim
no one will finish, until the claim is older than a delivery can last; then an API process
(the restarted one) claims it again and sends the same message (same `webhook-id`)."""

import time

from tests.support.faults import print_recovery
from tests.support.stand_ins import CallbackReceiver, serving
from tests.support.system import System


def test_a_callback_left_sending_by_a_dead_api_is_sent_again(system: System) -> None:
    with serving(CallbackReceiver(hold_first=1)) as receiver:
        job_id = system.submit({"sql_content": "select 1\n", "callback_url": receiver.url})
        [api] = system.api_workers()
        system.wait_job(job_id, lambda _: len(receiver.received) == 1, 60, "callback not sent")
        assert system.job(job_id)["callback_status"] == "sending"
        system.kill(api)
        killed = time.monotonic()
        body = system.wait_job(
            job_id,
            lambda b: (b["callback_status"] or "").startswith("delivered"),
            90,
            "callback never sent again",
        )
        print_recovery("API killed while sending a callback", killed, "callback delivered")
    assert api not in system.api_workers()
    assert body["job_status"] == "COMPLETED", body
    (first, first_body), (second, second_body) = receiver.received
    assert first["webhook-id"] == second["webhook-id"], (first, second)
    assert first_body == second_body
