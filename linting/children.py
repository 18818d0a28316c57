"""Long-lived lint children: the processes in which SQLFluff meets submitted SQL.

A Dask task calls `lint_with_limit`, which hands the file to a child (`linting.child_process`)
so a per-file time limit can kill it: Dask runs tasks in threads, where `signal.alarm` cannot
be used. One child per worker thread is started once and reused; it dies with its parent. The
`POST /lint` pool (`services.lint_pool`) drives the same `LintChild`.
"""

import json
import os
import queue
import selectors
import subprocess
import time
from dataclasses import asdict, replace
from pathlib import Path

from core.settings import get_settings
from linting import result_cache
from linting.engine import FileOutcome, LintRequest, config_overrides, write_result
from linting.options import FolderConfigs
from linting.sandbox import SandboxPolicy, child_command, policy_from_settings


def _from_cache(
    request: LintRequest, configs: FolderConfigs | None
) -> tuple[FileOutcome | None, LintRequest]:
    """A cached result written as this file's result, or the request with its cache key."""
    assert request.cache_dir is not None
    source = Path(request.source)
    try:
        if source.stat().st_size > request.max_bytes:
            return None, request
        data = source.read_bytes()
    except OSError:
        return None, request  # let the lint report it
    key = result_cache.cache_key(
        source, data, request.overrides, request.extra_config, request.cache_salt, configs
    )
    cached = result_cache.load(Path(request.cache_dir), key)
    if cached is None:
        return None, replace(request, cache_key=key)
    record, effective = cached
    return write_result(request, {"filepath": request.display_name, **record}, effective), request


class LintChild:
    """A sandboxed child process (`linting.sandbox`) that lints files one at a time, killed
    and replaced on a time limit, and replaced after LINT_CHILD_MAX_FILES files so the caches
    SQLFluff keeps per folder and config cannot grow without bound."""

    def __init__(self, policy: SandboxPolicy | None = None, max_files: int | None = None) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._policy = policy
        self._max_files = max_files
        self._files = 0

    def _start(self) -> subprocess.Popen[bytes]:
        settings = get_settings()
        argv, env = child_command(
            "linting.child_process", self._policy or policy_from_settings(settings)
        )
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._proc = proc
        self._files = 0
        if self._max_files is None:
            self._max_files = settings.LINT_CHILD_MAX_FILES
        return proc

    def _retire_if_worn(self) -> None:
        self._files += 1
        if self._max_files and self._files >= self._max_files:
            self.close()

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def _send(self, request: LintRequest) -> subprocess.Popen[bytes] | None:
        """Hand the request to a live child; a child that died while idle is replaced once."""
        line = json.dumps(asdict(request)).encode() + b"\n"
        for _ in range(2):
            proc = self._proc if self._proc and self._proc.poll() is None else self._start()
            assert proc.stdin is not None
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
                return proc
            except BrokenPipeError:
                self.close()
        return None

    def lint(self, request: LintRequest, timeout: float) -> FileOutcome:
        proc = self._send(request)
        if proc is None:
            return FileOutcome(None, "SQLFluff process could not be started")
        line = self._read_line(proc, time.monotonic() + timeout)
        if line is None:
            self.close()
            return FileOutcome(
                None, f"time limit of {timeout:g} s exceeded (LINT_TIMEOUT_SECONDS)", timed_out=True
            )
        if not line:
            code = proc.wait()
            self._proc = None
            return FileOutcome(None, f"SQLFluff process crashed (exit code {code})")
        reply = json.loads(line)
        self._retire_if_worn()
        return FileOutcome(**reply)

    @staticmethod
    def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> bytes | None:
        """The child's reply line, b"" if it died, None past the deadline."""
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                return None
        # The reply is one short line written at once: readline does not block past it.
        return proc.stdout.readline()


# Idle children of this process, shared by its threads; a worker preload may warm one up.
_idle: "queue.SimpleQueue[LintChild]" = queue.SimpleQueue()


def from_cache(request: LintRequest, configs: FolderConfigs | None = None) -> FileOutcome | None:
    """The file's cached result written as its result, or None when none is cached."""
    return _from_cache(request, configs)[0] if request.cache_dir else None


def lint_with_limit(
    request: LintRequest, timeout: float, configs: FolderConfigs | None = None
) -> FileOutcome:
    """Lint a file in a long-lived child of this process, giving up after `timeout` seconds.

    With a cache dir, a result cached for the same bytes and config is reused instead
    (`configs`: the config files the batch has found so far, for its key).
    """
    if request.cache_dir:
        hit, request = _from_cache(request, configs)
        if hit is not None:
            return hit
    try:
        child = _idle.get_nowait()
    except queue.Empty:
        child = LintChild()
    try:
        return child.lint(request, timeout)
    finally:
        _idle.put(child)


def warm_up(dialect: str, max_bytes: int, scratch_dir: Path) -> FileOutcome:
    """Start a child and lint one tiny statement, so the first real file pays no start-up."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    source = scratch_dir / f"warm-up-{os.getpid()}.sql"
    source.write_text("select 1\n")
    request = LintRequest(
        str(source),
        source.name,
        str(source) + ".json",
        config_overrides(dialect, max_bytes),
        max_bytes,
    )
    return lint_with_limit(request, timeout=120)
