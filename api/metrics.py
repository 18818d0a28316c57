"""`GET /metrics` in Prometheus' text format.

Service-wide figures come from the tables at scrape time (every API instance reports the same,
so scrape one instance, or `max()` across them): jobs by status and the queue depth (an index
count), and counters kept as rows (`service_counters`) — files linted by status, violations
found, the lint duration histogram — so a scrape never scans `linting_tasks`. Take rates with
PromQL, e.g. `rate(sqlfluff_files_linted_total[5m])`.

HTTP request metrics are the API's own. Under gunicorn's several workers each is one process:
with PROMETHEUS_MULTIPROC_DIR set (deployments/bin/api.sh) every worker writes its counts there
and a scrape, whichever worker answers, sums them (prometheus_client's multiprocess mode).
"""

import os
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import JobStatus
from db.queries.counters import (
    FILES_LINTED,
    LINT_SECONDS_BUCKET,
    LINT_SECONDS_BUCKETS,
    LINT_SECONDS_COUNT,
    LINT_SECONDS_SUM,
    VIOLATIONS,
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceCollector(Collector):
    def __init__(self, sessions: Callable[[], sessionmaker[Session]]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self._sessions()() as session:
            counts = queries.metrics.service_counts(session)
        jobs = GaugeMetricFamily("sqlfluff_jobs", "Jobs by status.", labels=["status"])
        for status, n in counts.jobs.items():
            jobs.add_metric([status.value], n)
        yield jobs
        yield GaugeMetricFamily(
            "sqlfluff_queue_depth",
            "Jobs accepted but not started yet.",
            value=counts.jobs[JobStatus.ACCEPTED],
        )
        c = counts.counters
        files = CounterMetricFamily(
            "sqlfluff_files_linted", "Files linted, by final status.", labels=["status"]
        )
        for status in ("SUCCESS", "FAILURE"):
            files.add_metric([status], c.get((FILES_LINTED, status), 0.0))
        yield files
        yield CounterMetricFamily(
            "sqlfluff_violations", "Violations found.", value=c.get((VIOLATIONS, ""), 0.0)
        )
        buckets = [
            (str(b), c.get((LINT_SECONDS_BUCKET, str(b)), 0.0)) for b in LINT_SECONDS_BUCKETS
        ]
        buckets.append(("+Inf", c.get((LINT_SECONDS_COUNT, ""), 0.0)))
        yield HistogramMetricFamily(
            "sqlfluff_lint_duration_seconds",
            "Time to lint one file.",
            buckets=buckets,
            sum_value=c.get((LINT_SECONDS_SUM, ""), 0.0),
        )


def install(app: FastAPI) -> None:
    """Add the HTTP middleware and the /metrics route, with a registry of this app's own."""
    registry = CollectorRegistry()
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
    service = ServiceCollector(lambda: app.state.sessions)
    registry.register(service)

    def exposition() -> bytes:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(registry)
        # Every worker's HTTP counts, summed from the directory, plus the service's figures.
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
        scrape.register(service)
        return generate_latest(scrape)

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
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
