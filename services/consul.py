"""Registration of this API instance in Consul (docs/architecture.md): register at start-up
with an HTTP check on /health, re-register when the agent has lost it, deregister on shutdown.

The service id is `name-host-port`: unique per instance, and the same after a restart, so a
restarted instance replaces its entry instead of leaving a stale one. Consul being unreachable
never stops the API: the keeper logs and tries again.
"""

import asyncio
import logging
import socket
from dataclasses import dataclass

import consul
import requests

from core.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    service_id: str
    name: str
    address: str
    port: int
    tags: list[str]
    check: dict[str, object]


def registration(settings: Settings) -> Registration:
    address = settings.CONSUL_SERVICE_ADDRESS or settings.API_HOST
    port = settings.CONSUL_SERVICE_PORT or settings.API_PORT
    name = settings.CONSUL_SERVICE_NAME
    return Registration(
        service_id=f"{name}-{socket.gethostname()}-{port}",
        name=name,
        address=address,
        port=port,
        tags=[t.strip() for t in settings.CONSUL_TAGS.split(",") if t.strip()],
        check=consul.Check.http(
            f"http://{address}:{port}/health",
            interval=settings.CONSUL_CHECK_INTERVAL,
            timeout="5s",
            deregister=settings.CONSUL_DEREGISTER_AFTER,
        ),
    )


class ConsulKeeper:
    """Keeps one instance registered while the API runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reg = registration(settings)
        self.client = consul.Consul(host=settings.CONSUL_HOST, port=settings.CONSUL_PORT)

    def ensure_registered(self) -> bool:
        """Register unless the agent already has us; returns whether a register call was made."""
        if self.reg.service_id in self.client.agent.services():
            return False
        self.client.agent.service.register(
            self.reg.name,
            service_id=self.reg.service_id,
            address=self.reg.address,
            port=self.reg.port,
            tags=self.reg.tags,
            check=self.reg.check,
        )
        logger.info("registered in Consul as %s", self.reg.service_id)
        return True

    def deregister(self) -> None:
        try:
            self.client.agent.service.deregister(self.reg.service_id)
            logger.info("deregistered %s from Consul", self.reg.service_id)
        except (requests.RequestException, consul.ConsulException) as exc:
            logger.warning("Consul deregistration of %s failed: %s", self.reg.service_id, exc)

    async def keep(self) -> None:
        """Until cancelled: (re-)register every CONSUL_RECHECK_SECONDS, sooner after a failure."""
        delay = 1.0
        while True:
            try:
                await asyncio.to_thread(self.ensure_registered)
                delay = self.settings.CONSUL_RECHECK_SECONDS
            except (requests.RequestException, consul.ConsulException) as exc:
                logger.warning("Consul unreachable (%s); retrying in %.0f s", exc, delay)
                delay = min(delay * 2, self.settings.CONSUL_RECHECK_SECONDS)
            await asyncio.sleep(delay)
