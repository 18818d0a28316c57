"""The lint pool behind `POST /lint`: small SQL answered at once by warm lint processes.

Each API process keeps INLINE_POOL_SIZE lint children (`linting.children.LintChild`, the same
code that lints job files) started and warmed at start-up. A request takes an idle child; at
most INLINE_MAX_WAITING more may queue for one (then 503), and a lint past
INLINE_TIMEOUT_SECONDS kills its child (504). The killed child's replacement is warmed before
it serves again, so no request pays a cold start (the INLINE_* names are kept from when the
pool was called "inline"; a `sql_content` *job* is what "inline SQL" means elsewhere).
"""

import asyncio
import hashlib
import json
import logging
import queue
import threading
import uuid
from dataclasses import replace
from typing import Any

from core.settings import Settings
from linting.children import LintChild
from linting.engine import FileOutcome, LintRequest
from linting.options import JobOptions
from linting.severity import severity_of
from linting.storage import write_bytes_atomic

logger = logging.getLogger(__name__)

SOURCE_NAME = "input.sql"


class PoolFull(Exception):
    """Every lint process is busy and the queue is full."""


class LintTimeout(Exception):
    """The lint took longer than INLINE_TIMEOUT_SECONDS."""


class LintPool:
    """The warm lint children of one API process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._workdir = settings.DATA_DIR / "lint-pool" / uuid.uuid4().hex[:12]
        self._idle: queue.SimpleQueue[LintChild] = queue.SimpleQueue()
        self._children = [LintChild() for _ in range(settings.INLINE_POOL_SIZE)]
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._settings.INLINE_POOL_SIZE + self._settings.INLINE_MAX_WAITING

    def start(self) -> None:
        """Start and warm every child (blocking: run it in a thread)."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        # The lowest config layer, as for jobs: the default dialect when nothing names one.
        layer = f"[sqlfluff]\ndialect = {self._settings.SQLFLUFF_DIALECT}\n"
        write_bytes_atomic(self._workdir / ".sqlfluff", layer.encode())
        for child in self._children:
            self._warm(child)

    def _warm(self, child: LintChild) -> None:
        """Lint a tiny statement on `child` (starting it), then offer it to requests."""
        outcome = self._run(child, "select 1\n", JobOptions(), None, timeout=120)
        if not outcome.ok:
            logger.warning("lint pool warm-up failed: %s", outcome.error)
        self._idle.put(child)

    def close(self) -> None:
        for child in self._children:
            child.close()

    def _config_file(self, text: str | None) -> str | None:
        if text is None:
            return None
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        path = self._workdir / "configs" / f"{digest}.cfg"  # not a name SQLFluff walks to
        if not path.is_file():
            write_bytes_atomic(path, text.encode("utf-8"))
        return str(path)

    def _run(
        self,
        child: LintChild,
        sql: str,
        options: JobOptions,
        config_text: str | None,
        timeout: float,
    ) -> FileOutcome:
        folder = self._workdir / uuid.uuid4().hex
        folder.mkdir()
        source = folder / SOURCE_NAME
        source.write_text(sql, encoding="utf-8")
        request = replace(
            LintRequest.template(
                self._settings,
                options,
                max_bytes=self._settings.INLINE_MAX_BYTES,
                extra_config=self._config_file(config_text),
            ),
            source=str(source),
            display_name=SOURCE_NAME,
            result=str(folder / "result.json"),
        )
        try:
            outcome = child.lint(request, timeout)
            if outcome.ok:
                [record] = json.loads((folder / "result.json").read_text())
                return FileOutcome(
                    outcome.violation_count, None, record["violations"], outcome.effective_config
                )
            return outcome
        finally:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()

    async def lint(self, sql: str, options: JobOptions, config_text: str | None) -> dict[str, Any]:
        """Lint `sql` on an idle child.

        Raises:
            PoolFull: every child is busy and INLINE_MAX_WAITING requests already wait.
            LintTimeout: the lint took over INLINE_TIMEOUT_SECONDS.
            ValueError: SQLFluff could not lint it (the reason).
        """
        with self._lock:
            if self._admitted >= self.capacity:
                raise PoolFull(
                    f"all {self._settings.INLINE_POOL_SIZE} lint processes are busy and "
                    f"{self._settings.INLINE_MAX_WAITING} requests are waiting; retry shortly"
                )
            self._admitted += 1
        try:
            return await asyncio.to_thread(self._lint_blocking, sql, options, config_text)
        finally:
            with self._lock:
                self._admitted -= 1

    def _lint_blocking(
        self, sql: str, options: JobOptions, config_text: str | None
    ) -> dict[str, Any]:
        child = self._idle.get()  # admission keeps the wait bounded
        try:
            timeout = self._settings.INLINE_TIMEOUT_SECONDS
            outcome = self._run(child, sql, options, config_text, timeout)
        except BaseException:
            self._idle.put(child)
            raise
        if outcome.timed_out:
            # The child was killed: its replacement starts now, not on the next request.
            threading.Thread(target=self._warm, args=(child,), name="lint-pool-warm").start()
            raise LintTimeout(
                f"linting took over {timeout:g} s (INLINE_TIMEOUT_SECONDS); submit it as a job"
            )
        self._idle.put(child)
        if not outcome.ok:
            raise ValueError(outcome.error)
        overrides = self._settings.SEVERITY_OVERRIDES
        violations = [
            {**v, "severity": severity_of(str(v.get("code")), overrides).value}
            for v in outcome.violations or []
        ]
        return {
            "file_name": SOURCE_NAME,
            "violation_count": len(violations),
            "violations": violations,
            "effective_config": outcome.effective_config,
        }
