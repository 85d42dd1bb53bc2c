"""Prometheus metrics of one app: requests, latency, money movements and jobs.

Every app holds its own ``CollectorRegistry`` (the tests build many apps in one
process; the client's global registry would refuse the second set of names).
Values live in the process that counted them: under gunicorn each worker
answers ``/metrics`` with its own counts (see the README).
"""

import hmac

from flask import Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from werkzeug.exceptions import NotFound

from app.config import SettingError, parse_boolean
from app.errors import TokenInvalidError, TokenMissingError

__all__ = ["SettingError", "flag", "init_metrics", "metrics_of"]

EXTENSION = "bank.metrics"
# The route label of a request no URL rule matched (404, 405): one value, so
# probing random paths cannot create series.
UNMATCHED = "unmatched"
# Any other method a client invents is one label value too.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The endpoints that move money, and the movement each one makes on a 201.
MOVEMENTS = {
    "customer.deposit": "deposit",
    "customer.withdraw": "withdrawal",
    "customer.transfer": "transfer",
}
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
            "Money movements made (replays of an Idempotency-Key excluded), by type.",
            ("type",),
            registry=self.registry,
        )
        # Declared for the job runner (`flask jobs run-due`), which does not
        # exist yet: no samples until it records its runs.
        self.job_runs = Counter(
            "bank_job_runs",
            "Background job runs, by job and outcome.",
            ("job", "outcome"),
            registry=self.registry,
        )
        self.job_lag = Gauge(
            "bank_job_lag_seconds",
            "How long the oldest due piece of work of a job has waited.",
            ("job",),
            registry=self.registry,
        )
        for kind in MOVEMENTS.values():
            self.movements.labels(type=kind)

    def observe(self, response: Response, seconds: float) -> None:
        """Count one answered request, and the money movement it made."""
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else "OTHER"
        status = str(response.status_code)
        self.requests.labels(route, method, status).inc()
        self.latency.labels(route, method, status).observe(seconds)
        kind = MOVEMENTS.get(request.endpoint or "")
        # A replayed Idempotency-Key answers 201 again but moves nothing.
        if (
            kind
            and response.status_code == 201
            and "Idempotency-Replayed" not in response.headers
        ):
            self.movements.labels(type=kind).inc()


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
    return generate_latest(metrics.registry), CONTENT_TYPE_PLAIN_0_0_4
