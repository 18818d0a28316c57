"""Starting, watching and stopping child processes (used by `up.py` and by the tests).

Stopping is SIGINT, a grace period, then SIGKILL, as distributed's test `popen` does.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to the child when the process that started it dies, so a
    # supervisor killed with SIGKILL leaves nothing behind.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start(
    args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own process group, its output appended to `log`.

    Its own group, so a Ctrl-C meant for the supervisor does not reach it before the
    supervisor's orderly stop; it still dies if the supervisor is killed outright.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    out: IO[bytes] = open(log, "ab")  # noqa: SIM115 - the child owns it from here
    try:
        return subprocess.Popen(
            list(args),
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        out.close()


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGINT to the process group, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    message: Callable[[], str] | str,
    interval: float = 0.2,
) -> T:
    """Poll `probe` until it returns something truthy; raise TimeoutError with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise TimeoutError(f"after {timeout:g} s: {text}")
        time.sleep(interval)


def http_ok(url: str, expect: object = None) -> bool:
    """Whether `url` answers 200 (and, with `expect`, that JSON body)."""
    try:
        response = httpx.get(url, timeout=2)
        if response.status_code != 200:
            return False
        return expect is None or response.json() == expect
    except (httpx.HTTPError, ValueError):
        return False


def tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return f"({log} is empty)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
