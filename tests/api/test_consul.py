"""Consul registration, against a recording stand-in of the agent's HTTP API (a real Consul
agent cannot be installed here): what is sent at start-up and shutdown, stable ids, distinct
ids for two instances, re-registration after the agent loses it, and an unreachable agent."""

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings, get_settings
from deployments.processes import free_port, wait_for
from tests.support.stand_ins import ConsulStandIn, serving


@pytest.fixture
def consul_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[ConsulStandIn]:
    stand_in = ConsulStandIn()
    monkeypatch.setenv("CONSUL_HOST", "127.0.0.1")
    monkeypatch.setenv("CONSUL_PORT", str(stand_in.port))
    monkeypatch.setenv("CONSUL_RECHECK_SECONDS", "0.2")
    monkeypatch.setenv("API_HOST", "10.1.2.3")
    monkeypatch.setenv("API_PORT", "8123")
    get_settings.cache_clear()
    yield stand_in
    get_settings.cache_clear()


def test_registers_with_health_check_and_deregisters(consul_env: ConsulStandIn) -> None:
    service_id = f"sqlfluff-service-{socket.gethostname()}-8123"
    with serving(consul_env), TestClient(create_app()) as client:
        wait_for(lambda: service_id in consul_env.services, 10, "not registered")
        body = consul_env.services[service_id]
        assert body["name"] == "sqlfluff-service"
        assert (body["address"], body["port"]) == ("10.1.2.3", 8123)
        assert body["tags"] == ["api", "sqlfluff"]
        assert body["checks"] == [
            {
                "http": "http://10.1.2.3:8123/health",
                "interval": "10s",
                "timeout": "5s",
                "DeregisterCriticalServiceAfter": "1m",
            }
        ]
        assert client.get("/jobs/job-none").status_code == 404  # serving meanwhile
        # The agent loses the service (restart, anti-entropy): it is registered again.
        consul_env.services.clear()
        wait_for(lambda: service_id in consul_env.services, 10, "not re-registered")
        assert consul_env.calls.count(("register", service_id)) == 2
    assert consul_env.calls[-1] == ("deregister", service_id)
    assert consul_env.services == {}


def test_same_id_after_restart_and_distinct_ids_per_instance(
    consul_env: ConsulStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(consul_env):
        for port in ("8123", "8123", "8124"):
            monkeypatch.setenv("API_PORT", port)
            get_settings.cache_clear()
            with TestClient(create_app()):
                wait_for(
                    lambda p=port: any(k.endswith(f"-{p}") for k in consul_env.services),
                    10,
                    f"instance on {port} not registered",
                )
    registered = [sid for call, sid in consul_env.calls if call == "register"]
    assert len(set(registered)) == 2, registered  # a restart reuses its id; a second port is new
    assert registered[0] == registered[1] != registered[2]


def test_unreachable_agent_does_not_stop_the_api(consul_env: ConsulStandIn) -> None:
    client = TestClient(create_app())
    client.__enter__()  # the API starts while nothing listens on the agent's port
    try:
        assert client.get("/jobs/job-none").status_code == 404
        with serving(consul_env):  # the agent comes up, and outlives the API
            wait_for(lambda: len(consul_env.services) == 1, 15, "not registered once reachable")
            client.__exit__(None, None, None)
            client = None
            assert consul_env.calls[-1][0] == "deregister"
    finally:
        if client is not None:
            client.__exit__(None, None, None)


def test_no_consul_host_means_no_registration(settings: Settings) -> None:
    stand_in = ConsulStandIn(port=free_port())
    with serving(stand_in), TestClient(create_app()) as client:
        assert client.get("/jobs/job-none").status_code == 404
    assert stand_in.calls == []
