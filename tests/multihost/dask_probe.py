"""Try to reach a Dask scheduler or worker from the host this runs on, and print what happened
as one JSON object (run as `python -m tests.multihost.dask_probe '<probe JSON>'` inside a host's
network namespace by `test_dask_tls.py`).

A probe: {"kind": "submit" | "call", "address": "tls://…", "timeout": seconds, "tls": …}
- submit: a `distributed.Client` with `Security(**tls)` (or none) submits a function and reports
  the name of the worker that ran it.
- call: one RPC (`identity`) straight to the address, over a TLS context that trusts any server
  and presents `tls["cert"]` if given: what a host that merely has network access could send.
"""

import asyncio
import json
import ssl
import sys
import time
from typing import Any

from distributed import Client, get_worker
from distributed.core import rpc
from distributed.security import Security


def _worker_name() -> str:
    return str(get_worker().name)


def submit(address: str, tls: dict[str, str] | None, timeout: float) -> dict[str, Any]:
    security = Security(**tls, require_encryption=True) if tls else None
    with Client(address, security=security, timeout=timeout) as client:
        ran_on = client.submit(_worker_name, pure=False).result(timeout=30)
    return {"ran_on": ran_on}


async def call(address: str, tls: dict[str, str] | None, timeout: float) -> dict[str, Any]:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if tls and tls.get("tls_client_cert"):
        context.load_cert_chain(tls["tls_client_cert"], tls["tls_client_key"])
    args = {"ssl_context": context, "require_encryption": False}
    async with rpc(address, timeout=timeout, connection_args=args) as remote:
        identity = await remote.identity()
    return {"type": identity["type"]}


def main() -> None:
    probe = json.loads(sys.argv[1])
    address, tls, timeout = probe["address"], probe.get("tls"), float(probe["timeout"])
    started = time.monotonic()
    try:
        if probe["kind"] == "submit":
            result = submit(address, tls, timeout)
        else:
            result = asyncio.run(call(address, tls, timeout))
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - every failure is the answer
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["seconds"] = round(time.monotonic() - started, 2)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
