"""The sandbox of every process in which SQLFluff meets submitted SQL: an allow-listed environment,
an address-space limit, an empty network namespace, and death with the service process.

`child_command` builds what `LintChild` starts; `python -m linting.sandbox` is its first stage.
"""

from __future__ import annotations

import atexit
import logging
import os
import resource
import runpy
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the runner below must stay light: it starts before the limits apply
    from core.settings import Settings

logger = logging.getLogger(__name__)

NetworkMode = Literal["auto", "required", "off"]

# Everything else (DATABASE_URL, CALLBACK_SECRET, PREFECT_API_KEY, AWS_*, tokens, ...) is dropped:
# an allow-list cannot miss a secret added to the deployment later.
_KEPT_VARIABLES = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        # What the interpreter needs to find and import the service's packages as the parent does.
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSAFEPATH",
        "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
        "PYTHONUTF8",
        "PYTHONIOENCODING",
        "PYTHONHASHSEED",
        "PYTHONUNBUFFERED",
        "PYTHONFAULTHANDLER",
        "PYTHONWARNINGS",
        # The only settings a lint child reads (core.logging).
        "LOG_LEVEL",
        "LOG_FORMAT",
    }
)
_KEPT_PREFIXES = ("LC_",)

# Wrappers that start the command in a new, empty network namespace (not even loopback is up),
# in order of preference. `unshare` execs the command (same pid, no extra process); it needs
# root, or user namespaces for `--map-root-user`. bwrap (setuid on some distributions) stays as
# the command's parent; `--die-with-parent` ties the command to bwrap, a one-thread process.
# Nothing here uses PR_SET_PDEATHSIG on the service side: it fires when the *thread* that
# started the child exits (measured), and flows/worker_preload.py starts one from a thread that
# ends at once. The runner below watches processes instead.
METHODS: dict[str, tuple[str, ...]] = {
    "unshare": ("unshare", "--net", "--"),
    "unshare-user": ("unshare", "--map-root-user", "--net", "--"),
    "bwrap": ("bwrap", "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent", "--"),
}

_NET_NS = "import os; print(os.readlink('/proc/self/ns/net'))"


class SandboxUnavailable(RuntimeError):
    """LINT_NETWORK_ISOLATION is `required`, but no way to isolate the network works here."""


@dataclass(frozen=True)
class SandboxPolicy:
    """How lint processes are confined: address-space limit in MiB, network isolation mode."""

    max_memory_mb: int
    network: NetworkMode


def policy_from_settings(settings: Settings) -> SandboxPolicy:
    return SandboxPolicy(settings.LINT_MAX_MEMORY_MB, settings.LINT_NETWORK_ISOLATION)


_HOME_PREFIX = "lint-home-"


@cache
def _scratch_home() -> str:
    # SQLFluff reads ~/.sqlfluff: the service's results must not depend on the host user's files.
    # Named for the process that made it, so a later process can tell when it is orphaned.
    remove_orphaned_homes(tempfile.gettempdir())
    path = tempfile.mkdtemp(prefix=f"{_HOME_PREFIX}{os.getpid()}-")
    atexit.register(_remove_own_home, path, os.getpid())
    return path


def _remove_own_home(path: str, creator: int) -> None:
    # A process forked after the home was made inherits this handler: only the maker removes it.
    if os.getpid() == creator:
        shutil.rmtree(path, ignore_errors=True)


def remove_orphaned_homes(folder: str) -> int:
    """Remove this user's scratch homes whose process is gone without its `atexit` (a signal:
    Prefect ends every warm flow run with SIGTERM); returns how many."""
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            pid, sep, _ = entry.name.removeprefix(_HOME_PREFIX).partition("-")
            if not entry.name.startswith(_HOME_PREFIX) or not sep or not pid.isdigit():
                continue
            try:
                mine = (
                    entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_uid == os.getuid()
                )
            except OSError:
                continue
            if mine and not _alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def child_environment(parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of `parent` (default: our environment), HOME set to a scratch dir."""
    source = os.environ if parent is None else parent
    env = {k: v for k, v in source.items() if k in _KEPT_VARIABLES or k.startswith(_KEPT_PREFIXES)}
    env["HOME"] = _scratch_home()
    return env


def isolation_problem(method: str) -> str | None:
    """None if `method` runs a command in a network namespace other than ours, else why not."""
    prefix = METHODS[method]
    executable = shutil.which(prefix[0])
    if executable is None:
        return f"{prefix[0]} not found on PATH"
    argv = [executable, *prefix[1:], sys.executable, "-I", "-S", "-c", _NET_NS]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env=child_environment()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    if done.stdout.strip() == os.readlink("/proc/self/ns/net"):
        return "the command still ran in this process's network namespace"
    return None


_probe_lock = threading.Lock()


@cache
def _probe() -> tuple[str | None, str]:
    # Once per process: each try starts an interpreter (50-100 ms here); the answer stays.
    failures: list[str] = []
    for method in METHODS:
        reason = isolation_problem(method)
        if reason is None:
            return method, ""
        failures.append(f"{method}: {reason}")
    return None, "; ".join(failures)


def network_isolation_available() -> str | None:
    """The first of `METHODS` that isolates a child's network here, or None (probed once)."""
    return _probe()[0]


@cache
def _warn_unisolated(reasons: str) -> None:
    logger.warning(
        "lint processes run WITHOUT network isolation (LINT_NETWORK_ISOLATION=auto): %s", reasons
    )


def isolation_method(policy: SandboxPolicy) -> str | None:
    """The wrapper `child_command` uses under `policy`; entry points call it to fail fast.

    Raises:
        SandboxUnavailable: the policy requires isolation and none works here.
    """
    if policy.network == "off":
        return None
    with _probe_lock:  # threads starting their first children at once: one probe, one warning
        method, reasons = _probe()
        if method is None and policy.network == "auto":
            _warn_unisolated(reasons)
    if method is None and policy.network == "required":
        raise SandboxUnavailable(
            f"LINT_NETWORK_ISOLATION=required, but no way to isolate works here: {reasons}"
        )
    return method


def child_command(
    module: str, policy: SandboxPolicy, method: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """argv and env that run `python -m module` inside the sandbox.

    Start it with `subprocess.Popen(argv, env=env, ...)` and no `preexec_fn` (that is unsafe in
    threaded parents such as Dask workers and the API); the limits are applied by the runner.

    Args:
        module: the module run as `__main__`, e.g. "linting.child_process".
        policy: the limits; see `policy_from_settings`.
        method: a key of `METHODS` to use instead of the probed one (tests).

    Raises:
        SandboxUnavailable: the policy requires network isolation and none works here.
    """
    if method is None:
        method = isolation_method(policy)
    prefix: list[str] = []
    if method is not None:
        executable = shutil.which(METHODS[method][0]) or METHODS[method][0]
        prefix = [executable, *METHODS[method][1:]]
    runner = [
        sys.executable,
        "-m",
        "linting.sandbox",
        str(policy.max_memory_mb),
        str(os.getpid()),
        module,
    ]
    return prefix + runner, child_environment()


# --- The runner: the first code of the child, before the module (and SQLFluff) is imported. ---


def _limit_resources(max_memory_mb: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = max_memory_mb * 1024**2
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    # Soft = hard: a template that asks for gigabytes gets MemoryError in this process, and the
    # host's OOM killer never has to pick a victim. Address space, not RSS: each thread's malloc
    # arena reserves 64 MiB, so a child maps ~300 MB before any big file (see core/settings.py).
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write gigabytes of core


def _exit_with(pids: set[int]) -> None:
    """Exit as soon as any of `pids` exits, even while the main thread is busy linting.

    stdin EOF ends an idle child; this covers a busy one. pidfds watch processes: the parent's
    death signal (PR_SET_PDEATHSIG) would watch the thread that started us, which may end first.
    """
    poller = select.poll()
    try:
        for pid in pids:
            poller.register(os.pidfd_open(pid), select.POLLIN)
    except ProcessLookupError:
        os._exit(1)
    except OSError:  # no pidfds (Linux < 5.3): poll the direct parent instead
        _in_thread(_poll_parent, os.getppid())
        return
    _in_thread(_wait_for_exit, poller)


def _wait_for_exit(poller: select.poll) -> None:
    poller.poll()
    os._exit(1)


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _in_thread(target: Callable[..., None], *args: object) -> None:
    # A small stack: under RLIMIT_AS the default 8 MiB stack is address space spent on a wait.
    previous = threading.stack_size(256 * 1024)
    try:
        threading.Thread(target=target, args=args, name="sandbox-watch", daemon=True).start()
    finally:
        threading.stack_size(previous)


def _run(args: list[str]) -> None:
    """`python -m linting.sandbox MAX_MEMORY_MB SERVICE_PID MODULE`."""
    max_memory_mb, service_pid, module = args
    _limit_resources(int(max_memory_mb))
    # The service process, and our direct parent when that is a wrapper (bwrap stays as one):
    # killing the wrapper on a time limit must end the lint too.
    parent = os.getppid()
    if parent == 1:
        os._exit(1)
    _exit_with({int(service_pid), parent})
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _run(sys.argv[1:])
