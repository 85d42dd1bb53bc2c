"""Prometheus metrics of one app: requests, latency, money movements and jobs.

Every app holds its own ``CollectorRegistry`` (the tests build many apps in one
process; the client's global registry would refuse the second set of names).

Under gunicorn, gunicorn.conf.py points ``PROMETHEUS_MULTIPROC_DIR`` (the
client library's own variable, read by it at import) at a fresh directory
before the workers start: each worker's counts then live in files there, and
``/metrics`` answers the sum over every worker, whichever worker serves it.

Movements are counted where the ledger journals them (every movement, whatever
made it: a route, the job runner, recovery). The jobs' figures are read from
the database at scrape time (``jobs``: one small document per job), so runs made
by ``flask jobs run-due`` in another process (cron) are counted too.
"""

import hmac
import os
from collections.abc import Iterator

from flask import Flask, Response, current_app, has_app_context, request
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.exceptions import NotFound

from app.config import SettingError, parse_boolean
from app.errors import TokenInvalidError, TokenMissingError
from app.models import ledger, utc_now
from app.models.job import JobModel

__all__ = ["SettingError", "flag", "init_metrics", "metrics_of"]

EXTENSION = "bank.metrics"
# The route label of a request no URL rule matched (404, 405): one value, so
# probing random paths cannot create series.
UNMATCHED = "unmatched"
# Any other method a client invents is one label value too.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The movement each kind of journal entry stands for (a transfer is counted by
# its out leg, once).
MOVEMENTS = {
    "deposit": "deposit",
    "withdrawal": "withdrawal",
    "transfer_out": "transfer",
    "interest": "interest",
}
JOB_RESULTS = ("ok", "failed", "error")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BEARER = {"WWW-Authenticate": "Bearer"}


def flag(app: Flask, name: str, default: bool) -> bool:
    """Read a boolean setting: a bool (parsed from the environment by
    app.config), or text set on a config class, judged by the same rule.

    :raises SettingError: any other value.
    """
    value = app.config.get(name, default)
    return value if isinstance(value, bool) else parse_boolean(name, str(value))


class Metrics:
    """The collectors of one app, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("route", "method", "status")
        self.requests = Counter(
            "bank_http_requests",
            "HTTP requests answered, by URL rule, method and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "bank_http_request_duration_seconds",
            "Time to answer an HTTP request, by URL rule, method and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.movements = Counter(
            "bank_money_movements",
            "Money movements journalled, each once whatever made it, by type.",
            ("type",),
            registry=self.registry,
        )
        for kind in MOVEMENTS.values():
            self.movements.labels(type=kind)
        self.registry.register(JobCollector())

    def observe(self, response: Response, seconds: float) -> None:
        """Count one answered request."""
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else "OTHER"
        status = str(response.status_code)
        self.requests.labels(route, method, status).inc()
        self.latency.labels(route, method, status).observe(seconds)


class JobCollector:
    """The jobs' runs and lag, read from the ``jobs`` collection when scraped."""

    def describe(self) -> list[Metric]:
        # Without this the registry would collect (read the database) when the
        # collector is registered, that is while the app is being built.
        return [self._runs(), self._lag()]

    def collect(self) -> Iterator[Metric]:
        runs, lag = self._runs(), self._lag()
        now = utc_now()
        for doc in JobModel().last_runs().values():
            counts = doc.get("runs") or {}
            for result in JOB_RESULTS:
                runs.add_metric([doc["_id"], result], counts.get(result, 0))
            if doc.get("last_run_at") is not None:
                last = doc["last_run_at"]
                last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
                lag.add_metric([doc["_id"]], (now - last).total_seconds())
        yield runs
        yield lag

    @staticmethod
    def _runs() -> CounterMetricFamily:
        return CounterMetricFamily(
            "bank_job_runs",
            "Background job runs, by job and result (ok, failed: some pieces "
            "failed, error: the job stopped), from every runner.",
            labels=("job", "outcome"),
        )

    @staticmethod
    def _lag() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "bank_job_lag_seconds",
            "Seconds since each job last ran: work that fell due waits at most "
            "this long plus one JOBS_INTERVAL_SECONDS.",
            labels=("job",),
        )


def _count_postings(entries: list[dict]) -> None:
    """Count the movements the ledger just journalled, in the current app's
    metrics (none outside an app, or in an app built without them)."""
    if not has_app_context():
        return
    metrics = metrics_of(current_app._get_current_object())  # type: ignore[attr-defined]
    if metrics is None:
        return
    for entry in entries:
        kind = MOVEMENTS.get(entry.get("type", ""))
        if kind is not None:
            metrics.movements.labels(type=kind).inc()


ledger.observe_postings(_count_postings)


def init_metrics(app: Flask) -> None:
    """Give the app its registry; read METRICS_ENABLED and METRICS_TOKEN now.

    :raises SettingError: METRICS_ENABLED is not a boolean.
    """
    flag(app, "METRICS_ENABLED", False)
    app.extensions[EXTENSION] = Metrics()


def metrics_of(app: Flask) -> Metrics | None:
    """The app's metrics, or None when it was built without them."""
    return app.extensions.get(EXTENSION)


def exposition(authorization: str | None) -> tuple[bytes, str]:
    """Render the app's metrics in the Prometheus text format.

    :raises NotFound: METRICS_ENABLED is off, as if the route did not exist.
    :raises TokenMissingError: METRICS_TOKEN is set and no bearer token came.
    :raises TokenInvalidError: the bearer token is not METRICS_TOKEN.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    metrics = metrics_of(app)
    if metrics is None or not flag(app, "METRICS_ENABLED", False):
        raise NotFound()
    token = app.config.get("METRICS_TOKEN") or ""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise TokenMissingError(headers=_BEARER)
        # Constant time: the comparison must not tell how much of a guess is right.
        if not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"),
            str(token).encode("utf-8", "surrogateescape"),
        ):
            raise TokenInvalidError(headers=_BEARER)
    registry = metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: the sum of every worker's files.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(JobCollector())
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
