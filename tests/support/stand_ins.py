"""Recording stand-ins served by a real uvicorn in a thread on a free port: the Consul agent's
HTTP API (no Consul agent can be installed here: the three calls the service makes), a
receiver of job callbacks, and a proxy that makes a real Prefect API busy."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deployments.processes import free_port, wait_for


@dataclass
class ConsulStandIn:
    """What the agent was told: the registered services and every call, in order."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def app(self) -> Starlette:
        async def register(request: Request) -> Response:
            # Consul reads the top-level keys case-insensitively; py-consul sends lower case.
            body = {k.lower(): v for k, v in (await request.json()).items()}
            if "id" not in body or "name" not in body:
                return Response("missing ID or Name", status_code=400)
            self.services[body["id"]] = body
            self.calls.append(("register", body["id"]))
            return Response(status_code=200)

        async def deregister(request: Request) -> Response:
            service_id = request.path_params["service_id"]
            self.services.pop(service_id, None)
            self.calls.append(("deregister", service_id))
            return Response(status_code=200)

        async def services(_: Request) -> JSONResponse:
            return JSONResponse(
                {k: {"ID": k, "Service": v["name"]} for k, v in self.services.items()}
            )

        return Starlette(
            routes=[
                Route("/v1/agent/service/register", register, methods=["PUT"]),
                Route("/v1/agent/service/deregister/{service_id}", deregister, methods=["PUT"]),
                Route("/v1/agent/services", services, methods=["GET"]),
            ]
        )


@dataclass
class CallbackReceiver:
    """Records every POST (headers, body); answers 500 to the first `fail_first` of them, and
    holds the first `hold_first` unanswered until their sender goes away (a delivery in flight
    when its process dies)."""

    fail_first: int = 0
    hold_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            if len(self.received) <= self.hold_first:
                while not await request.is_disconnected():
                    await asyncio.sleep(0.1)
            return Response(status_code=500 if len(self.received) <= self.fail_first else 204)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@dataclass
class BusyPrefect:
    """A proxy to a real Prefect API that answers 503 to the first `busy_first` flow-run
    creations, as a Prefect server on SQLite does while its database is locked."""

    upstream: str  # e.g. http://127.0.0.1:4200/api
    busy_first: int = 0
    creations: int = 0
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def app(self) -> Starlette:
        async def proxy(request: Request) -> Response:
            path = request.path_params["path"]
            if path.endswith("/create_flow_run"):
                self.creations += 1
                if self.creations <= self.busy_first:
                    return JSONResponse({"exception_message": "Service Unavailable"}, 503)
            async with httpx.AsyncClient() as client:
                answer = await client.request(
                    request.method,
                    f"{self.upstream}/{path}",
                    content=await request.body(),
                    params=request.query_params,
                    headers={"content-type": request.headers.get("content-type", "")},
                )
            return Response(answer.content, answer.status_code, media_type="application/json")

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return Starlette(routes=[Route("/api/{path:path}", proxy, methods=methods)])


class StandIn(Protocol):
    port: int

    def app(self) -> Starlette: ...


S = TypeVar("S", bound=StandIn)


@contextmanager
def serving(stand_in: S) -> Iterator[S]:
    config = uvicorn.Config(
        stand_in.app(), host="127.0.0.1", port=stand_in.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 10, f"{type(stand_in).__name__} did not start", 0.02)
        yield stand_in
    finally:
        server.should_exit = True
        thread.join(10)
