"""`GET /metrics` in Prometheus' text format.

Job and task counts, queue depth, files per second and the lint duration histogram are read
from the tables at scrape time (every API instance reports the same service-wide figures, so
scrape one instance, or `max()` across them); HTTP request metrics are this process's own.
"""

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import JobStatus, utcnow

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceCollector(Collector):
    def __init__(self, sessions: Callable[[], sessionmaker[Session]]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        with self._sessions()() as session:
            counts = queries.metrics.service_counts(session, utcnow())
        jobs = GaugeMetricFamily("sqlfluff_jobs", "Jobs by status.", labels=["status"])
        for status, n in counts.jobs.items():
            jobs.add_metric([status.value], n)
        yield jobs
        tasks = GaugeMetricFamily("sqlfluff_tasks", "Tasks (files) by status.", labels=["status"])
        for task_status, n in counts.tasks.items():
            tasks.add_metric([task_status.value], n)
        yield tasks
        yield GaugeMetricFamily(
            "sqlfluff_queue_depth",
            "Jobs accepted but not started yet.",
            value=counts.jobs[JobStatus.ACCEPTED],
        )
        yield GaugeMetricFamily(
            "sqlfluff_files_per_second",
            "Files finished per second over the last minute.",
            value=counts.finished_last_minute / 60,
        )
        buckets = [(str(bound), n) for bound, n in counts.lint_buckets]
        buckets.append(("+Inf", counts.lint_count))
        yield HistogramMetricFamily(
            "sqlfluff_lint_duration_seconds",
            "Time to lint one file (all files linted so far).",
            buckets=buckets,
            sum_value=counts.lint_sum,
        )


def install(app: FastAPI) -> None:
    """Add the HTTP middleware and the /metrics route, with a registry of this app's own."""
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: app.state.sessions))
    requests = Counter(
        "http_requests",
        "HTTP requests by method, route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency by method and route.",
        ["method", "route"],
        registry=registry,
    )

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        # Label values come from a fixed set: a client cannot grow the registry with
        # made-up methods or paths.
        method = request.method if request.method in _METHODS else "OTHER"
        latency.labels(method, path).observe(time.perf_counter() - started)
        requests.labels(method, path, str(response.status_code)).inc()
        return response

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (open, like /health)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
