"""The flow-run host of every install, `make up` and production alike
(`deployments/bin/prefect-worker.sh`): a Prefect process worker on the PREFECT_WORK_POOL pool,
to which `deployments/bin/deploy.sh` deployed prefect.yaml's deployments.

It is Prefect's own `ProcessWorker` (its polling, limit, heartbeats, cancellation and crash
reporting), with two changes:
- With FLOW_RUN_WARM_START, a run of one of our deployments starts in a process forked from a
  warm fork server (flows/warm_start.py), which imported Prefect and the flows once, instead of
  as `python -m prefect.engine`, a new interpreter that spends ~2 s of CPU on imports before the
  job's first file. Each run still has its own process, so a run that dies is marked Crashed
  alone. Runs of any other entrypoint start as the plain ProcessWorker starts them.
- A new run is picked up when Prefect announces it (its `prefect.flow-run.Scheduled` event for
  this pool), not at the next poll: a job no longer waits half a poll interval (~0.5 s) before
  it starts; and when one of this worker's runs ends, a run the limit held back starts then.
  The poll stays, for events missed while the event stream was away.

Run from the checkout (the scripts `cd` to SQLFLUFF_SERVICE_HOME): entrypoints are relative.
"""

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import warnings
from typing import Any
from uuid import UUID

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect.exceptions import TerminationSignal
from prefect.flow_engine import run_flow_in_subprocess
from prefect.flows import Flow
from prefect.runner._control_channel import ControlChannel
from prefect.runner._flow_run_executor import FlowRunExecutorContext
from prefect.runner._process_manager import ProcessHandle
from prefect.settings import PREFECT_WORKER_QUERY_SECONDS, temporary_settings
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from core.logging import configure_logging
from core.settings import load_settings_or_exit
from flows.prefect_tls import share_prefect_contexts

logger = logging.getLogger(__name__)

# Imported once by the fork server, so that no flow run imports them again: the flows, this
# module (each run re-imports the worker's main module), SQLFluff's config loader (an archive's
# `sql_file_exts`: ~0.4 s of each archive job otherwise) and what Prefect's engine imports lazily
# on a run's first map (~60 ms of every run otherwise; both profiled).
WARM_MODULES = [
    "deployments.entrypoints",
    "deployments.worker",
    "sqlfluff.core.config.loader",
    "prefect.utilities.visualization",
    "anyio._backends._asyncio",
    "importlib_metadata",
]
# The entrypoint file whose flows the fork server has imported, as prefect.yaml names it.
WARM_ENTRYPOINT_FILE = "deployments/entrypoints.py"


def worker_name(pid: int) -> str:
    """A worker's name in its pool: its host and pid (a restarted worker is a new one)."""
    return f"{socket.gethostname()}-{pid}"


def warm_flow(entrypoint: str | None) -> Flow[Any, Any] | None:
    """The already imported flow object of one of our deployments' entrypoints, else None."""
    path, _, name = (entrypoint or "").partition(":")
    if path != WARM_ENTRYPOINT_FILE or not name:
        return None
    flow = getattr(importlib.import_module("deployments.entrypoints"), name, None)
    return flow if isinstance(flow, Flow) else None


class WarmStarter:
    """Starts one flow run from the warm fork server (Prefect's `run_flow_in_subprocess`, which
    flows/warm_start.py points at it), with the job's environment, as Prefect's own
    DirectSubprocessStarter does for the Runner's served flows."""

    def __init__(
        self, flow: Flow[Any, Any], env: dict[str, str | None], channel: ControlChannel
    ) -> None:
        self.flow, self.env, self.channel = flow, env, channel

    async def start(
        self,
        flow_run: FlowRun,
        task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        env = dict(self.env)
        with contextlib.suppress(RuntimeError):  # no loopback channel: cancel by kill only
            port, token = self.channel.register(flow_run.id)
            env.update(PREFECT__CONTROL_PORT=str(port), PREFECT__CONTROL_TOKEN=token)
        process = run_flow_in_subprocess(self.flow, flow_run=flow_run, env=env)
        task_status.started(ProcessHandle(process))
        await anyio.to_thread.run_sync(process.join)


# Prefect registers each worker class by its `type`; ours is the process worker (same pool type,
# same job template), so it takes that key, in the processes that import this module.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Type 'ServiceWorker'", category=UserWarning)

    class ServiceWorker(ProcessWorker):
        """Prefect's process worker, starting our deployments' runs from the warm fork server."""

        warm = False

        async def setup(self) -> None:
            self._pickup = anyio.CancelScope()
            self._wake = asyncio.Event()  # set: ask Prefect for runs now
            await super().setup()
            # One executor context (API client, process manager, cancellation observer, event
            # emitter, control channel) for every warm run, as Prefect's Runner keeps one;
            # one per run cost each job ~0.5 s of set-up before its process started.
            self._flows: dict[UUID, Flow[Any, Any] | None] = {}
            self._executors: FlowRunExecutorContext | None = None
            if self.warm:
                self._executors = await FlowRunExecutorContext().__aenter__()
            assert self._runs_task_group is not None  # entered by super().setup()
            self._runs_task_group.start_soon(self._pick_up_when_scheduled)

        async def _pick_up_when_scheduled(self) -> None:
            """Ask for runs as soon as Prefect schedules one in this pool, or one of this
            worker's runs ends (a run held back by the limit can start). Wake-ups that arrive
            while runs are being asked for are folded into one more ask."""

            async def listen() -> None:
                while self._work_pool is None:  # its id comes with the first sync
                    await anyio.sleep(0.1)
                scheduled = EventFilter(
                    event=EventNameFilter(name=["prefect.flow-run.Scheduled"]),
                    related=EventRelatedFilter(id=[f"prefect.work-pool.{self._work_pool.id}"]),
                )
                while True:
                    try:
                        async with get_events_subscriber(filter=scheduled) as events:
                            async for _ in events:
                                self._wake.set()
                    except Exception as exc:  # the poll goes on meanwhile
                        logger.warning("flow-run events unavailable (%s); polling only", exc)
                    await anyio.sleep(5)

            with self._pickup:
                async with anyio.create_task_group() as group:
                    group.start_soon(listen)
                    while True:
                        await self._wake.wait()
                        self._wake.clear()
                        try:
                            await self.get_and_submit_flow_runs()
                        except Exception as exc:
                            logger.warning("asking for scheduled runs failed: %s", exc)

        async def teardown(self, *exc_info: Any) -> None:
            self._pickup.cancel()
            try:
                if self._executors is not None:
                    await self._executors.__aexit__(None, None, None)
            finally:
                await super().teardown(*exc_info)

        async def _warm_flow_of(self, flow_run: FlowRun) -> Flow[Any, Any] | None:
            """The run's flow object when it is one of ours (its deployment read once)."""
            deployment_id = flow_run.deployment_id
            if self._executors is None or deployment_id is None:
                return None
            if deployment_id not in self._flows:
                deployment = await self.client.read_deployment(deployment_id)
                self._flows[deployment_id] = warm_flow(deployment.entrypoint)
            return self._flows[deployment_id]

        async def _resolve(self, flow_run: FlowRun) -> Flow[Any, Any]:
            flow = await self._warm_flow_of(flow_run)
            if flow is None:
                raise RuntimeError(f"flow run {flow_run.id} is not one of the warm deployments")
            return flow

        async def run(
            self,
            flow_run: FlowRun,
            configuration: ProcessJobConfiguration,
            task_status: anyio.abc.TaskStatus[int] | None = None,
        ) -> ProcessWorkerResult:
            try:
                return await self._run(flow_run, configuration, task_status)
            finally:
                self._wake.set()  # its slot is free once this returns

        async def _run(
            self,
            flow_run: FlowRun,
            configuration: ProcessJobConfiguration,
            task_status: anyio.abc.TaskStatus[int] | None,
        ) -> ProcessWorkerResult:
            flow = await self._warm_flow_of(flow_run)
            if flow is None or self._executors is None:
                return await super().run(flow_run, configuration, task_status)
            status = task_status or anyio.TASK_STATUS_IGNORED
            ctx = self._executors
            # ProcessWorker.run, with WarmStarter in place of its `python -m prefect.engine` one.
            starter = WarmStarter(flow, dict(configuration.env or {}), ctx.control_channel)
            executor = ctx.create_executor(
                flow_run, starter, resolve_flow=self._resolve, propose_submitting=False
            )
            result: Any = None

            async def execute(
                *, task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED
            ) -> None:
                nonlocal result
                result = await executor.submit(task_status=task_status)

            async with anyio.create_task_group() as group:
                handle = await group.start(execute)
                status.started(handle.pid)
            if result is None or result.status_code is None:
                raise RuntimeError("Failed to start flow run process.")
            return ProcessWorkerResult(status_code=result.status_code, identifier=str(handle.pid))


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    share_prefect_contexts()
    if settings.FLOW_RUN_WARM_START:
        from flows import warm_start

        warm_start.enable(WARM_MODULES)
        ServiceWorker.warm = True
    worker = ServiceWorker(
        work_pool_name=settings.PREFECT_WORK_POOL,
        name=worker_name(os.getpid()),
        limit=settings.FLOW_RUN_LIMIT,
        create_pool_if_not_found=False,
    )
    # How soon a new job's run is picked up: Prefect's default is 10 s.
    with temporary_settings({PREFECT_WORKER_QUERY_SECONDS: settings.FLOW_RUN_POLL_SECONDS}):
        try:
            asyncio.run(worker.start())
        except (KeyboardInterrupt, TerminationSignal):
            pass  # runs go on in their own processes; the supervisor or systemd restarts us


if __name__ == "__main__":
    main()
