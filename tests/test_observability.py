"""Liveness and readiness probes, Prometheus metrics and JSON logs."""

import io
import json
import logging

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pymongo.errors import ServerSelectionTimeoutError

from app.config import TestConfig
from app.metrics import SettingError
from tests.conftest import PASSWORD, register
from tests.factories import fund
from tests.helpers import assert_problem, make_app

METRICS_TOKEN = "scrape-token-0123456789abcdef"  # noqa: S105


class MetricsConfig(TestConfig):
    METRICS_ENABLED = "true"


class TokenConfig(MetricsConfig):
    METRICS_TOKEN = METRICS_TOKEN


class JsonLogConfig(TestConfig):
    LOG_FORMAT = "json"


class Unreachable:
    """A database every use of which fails, as when the server is gone."""

    def __getattr__(self, name):
        raise ServerSelectionTimeoutError("no servers")

    def __getitem__(self, name):
        raise ServerSelectionTimeoutError("no servers")


# Probes


def test_live_answers_without_asking_the_database(app, client):
    app.extensions["mongo_db"] = Unreachable()
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    # The database is really gone: the checks that ask it say so.
    assert_problem(client.get("/health"), 503, "database_unavailable")


def test_ready_is_200_when_the_database_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_ready_is_a_503_problem_when_the_database_does_not_answer(app, client):
    app.extensions["mongo_db"] = Unreachable()
    assert_problem(client.get("/health/ready"), 503, "database_unavailable")


# Metrics


@pytest.fixture
def metrics_app():
    return make_app(MetricsConfig)


def scrape(client, **kwargs) -> dict[str, list]:
    """GET /metrics; return its samples by sample name."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert "version=0.0.4" in response.headers["Content-Type"]
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The value of the one sample ``name`` with exactly these labels' values."""
    found = [
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(key) == wanted for key, wanted in labels.items())
    ]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_metrics_are_a_404_like_an_unknown_url_when_disabled(client):
    metrics, unknown = client.get("/metrics"), client.get("/no-such-route")
    body = assert_problem(metrics, 404, "not_found")
    other = assert_problem(unknown, 404, "not_found")
    body.pop("request_id"), other.pop("request_id")
    assert body == other


@pytest.mark.parametrize("setting", ["true", "TRUE", "Yes", "1", True])
def test_metrics_enabled_takes_every_spelling_of_true(setting):
    config = type("On", (TestConfig,), {"METRICS_ENABLED": setting})
    assert make_app(config).test_client().get("/metrics").status_code == 200


@pytest.mark.parametrize("setting", ["false", "No", "0", False])
def test_metrics_enabled_takes_every_spelling_of_false(setting):
    config = type("Off", (TestConfig,), {"METRICS_ENABLED": setting})
    assert make_app(config).test_client().get("/metrics").status_code == 404


@pytest.mark.parametrize("setting", ["maybe", "on", "2", ""])
def test_an_unparseable_metrics_enabled_stops_start_up(setting):
    config = type("Odd", (TestConfig,), {"METRICS_ENABLED": setting})
    with pytest.raises(SettingError, match="METRICS_ENABLED"):
        make_app(config)


def test_requests_are_counted_by_url_rule_method_and_status(metrics_app):
    client = metrics_app.test_client()
    carol = register(client, "carol")
    number = carol["account"]["account_number"]
    for _ in range(2):
        client.get(f"/accounts/{number}", headers=carol["headers"])
    client.get("/accounts/0000000000", headers=carol["headers"])
    client.get("/no-such-route/4817302955")
    client.open("/balance", method="BREW")
    samples = scrape(client)
    name = "bank_http_requests_total"
    rule = "/accounts/<account_number>"
    assert value(samples, name, route=rule, method="GET", status="200") == 2
    assert value(samples, name, route=rule, method="GET", status="404") == 1
    assert value(samples, name, route="unmatched", method="GET", status="404") == 1
    assert value(samples, name, route="unmatched", method="OTHER", status="405") == 1
    assert value(samples, name, route="/auth/register", status="201") == 1
    # No raw path, so no account number, becomes a label.
    labels = json.dumps([s.labels for group in samples.values() for s in group])
    assert number not in labels and "4817302955" not in labels
    assert "BREW" not in labels


def test_latency_is_a_histogram_by_url_rule_and_status(metrics_app):
    client = metrics_app.test_client()
    for _ in range(3):
        client.get("/health/live")
    samples = scrape(client)
    name = "bank_http_request_duration_seconds"
    labels = {"route": "/health/live", "method": "GET", "status": "200"}
    assert value(samples, f"{name}_count", **labels) == 3
    assert value(samples, f"{name}_bucket", le="+Inf", **labels) == 3
    assert value(samples, f"{name}_bucket", le="10.0", **labels) == 3
    assert value(samples, f"{name}_sum", **labels) >= 0


def test_money_movements_are_counted_by_type_once_each(metrics_app):
    client = metrics_app.test_client()
    carol, dave = register(client, "carol"), register(client, "dave")
    # Made without a route (as the job runner or a script would): counted too.
    fund(metrics_app, carol["account"]["account_number"], 10_000)
    retry = {**carol["headers"], "Idempotency-Key": "deposit-1"}
    assert client.post("/deposit", json={"amount": "5.00"}, headers=retry).status_code
    replay = client.post("/deposit", json={"amount": "5.00"}, headers=retry)
    assert replay.status_code == 201 and replay.headers["Idempotency-Replayed"]
    client.post("/withdraw", json={"amount": "1.00"}, headers=carol["headers"])
    refused = client.post(
        "/withdraw", json={"amount": "99999.00"}, headers=carol["headers"]
    )
    assert refused.status_code == 409
    to = dave["account"]["account_number"]
    transfer = {"amount": "2.00", "to_account_number": to}
    client.post("/transfers", json=transfer, headers=carol["headers"])
    client.post("/transfers", json=transfer, headers=carol["headers"])
    samples = scrape(client)
    name = "bank_money_movements_total"
    assert value(samples, name, type="deposit") == 2
    assert value(samples, name, type="withdrawal") == 1
    assert value(samples, name, type="transfer") == 2
    assert value(samples, name, type="interest") == 0


def test_a_movement_journalled_twice_is_counted_once(metrics_app):
    """Recovery and the request it raced both journal the same entry: the
    second insert is a duplicate, and not a second movement."""
    from app.models import ledger

    client = metrics_app.test_client()
    carol = register(client, "carol")
    entry = fund(metrics_app, carol["account"]["account_number"], 500)
    with metrics_app.app_context():
        again = dict(entry)
        ledger._journal_posted([(again, ledger._posted_record(entry))])
    assert value(scrape(client), "bank_money_movements_total", type="deposit") == 1


def test_job_runs_and_lag_come_from_every_runner(metrics_app):
    from datetime import timedelta

    from app.core import jobs
    from app.models import utc_now
    from app.models.job import JobModel

    client = metrics_app.test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE bank_job_runs_total counter" in text
    assert "# TYPE bank_job_lag_seconds gauge" in text
    with metrics_app.app_context():
        # As `flask jobs run-due` in another process (cron) would record them.
        context = jobs_context(metrics_app)
        jobs.run_job("audit_movements", context)
        jobs.run_job("audit_movements", context)
        earlier = utc_now() - timedelta(seconds=90)
        JobModel().record("approvals", earlier, {"done": 0, "failed": 2, "error": None})
    samples = scrape(client)
    runs = "bank_job_runs_total"
    assert value(samples, runs, job="audit_movements", outcome="ok") == 2
    assert value(samples, runs, job="audit_movements", outcome="error") == 0
    assert value(samples, runs, job="approvals", outcome="failed") == 1
    assert value(samples, "bank_job_lag_seconds", job="audit_movements") < 60
    assert 90 <= value(samples, "bank_job_lag_seconds", job="approvals") < 150


def jobs_context(app):
    from app.controllers import jobs as jobs_controller

    return jobs_controller.context()


def test_every_app_counts_in_a_registry_of_its_own(metrics_app):
    first, second = metrics_app.test_client(), make_app(MetricsConfig).test_client()
    for _ in range(3):
        first.get("/health/live")
    second.get("/health/live")
    name, labels = "bank_http_requests_total", {"route": "/health/live"}
    assert value(scrape(first), name, **labels) == 3
    assert value(scrape(second), name, **labels) == 1
    assert REGISTRY.get_sample_value(name, {"route": "/health/live"}) is None


@pytest.fixture
def token_client():
    return make_app(TokenConfig).test_client()


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        (METRICS_TOKEN, "token_missing"),  # no scheme
        ("Basic " + METRICS_TOKEN, "token_missing"),
        ("Bearer ", "token_missing"),
        ("Bearer wrong-token", "token_invalid"),
        ("Bearer " + METRICS_TOKEN[:-1], "token_invalid"),
        ("Bearer " + METRICS_TOKEN + "x", "token_invalid"),
        ("Bearer  " + METRICS_TOKEN, "token_invalid"),
    ],
)
def test_metrics_need_the_token_when_one_is_set(token_client, authorization, code):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = token_client.get("/metrics", headers=headers)
    assert_problem(response, 401, code)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_users_token_does_not_open_the_metrics(token_client):
    carol = register(token_client, "carol")
    assert_problem(
        token_client.get("/metrics", headers=carol["headers"]), 401, "token_invalid"
    )


def test_the_metrics_token_opens_them_compared_in_constant_time(
    token_client, monkeypatch
):
    import app.metrics

    compared = []
    real = app.metrics.hmac.compare_digest

    def spy(given, wanted):
        compared.append((given, wanted))
        return real(given, wanted)

    monkeypatch.setattr(app.metrics.hmac, "compare_digest", spy)
    samples = scrape(token_client, headers={"Authorization": "Bearer " + METRICS_TOKEN})
    assert "bank_money_movements_total" in samples
    assert compared == [(METRICS_TOKEN.encode(), METRICS_TOKEN.encode())]
    response = token_client.get(
        "/metrics", headers={"Authorization": "bearer " + METRICS_TOKEN}
    )
    assert response.status_code == 200


# Logs


@pytest.fixture
def log_lines():
    """Whatever the app's log handler writes, as a list of lines."""
    handler = next(
        h for h in logging.getLogger("app").handlers if getattr(h, "_bank_api", False)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: buffer.getvalue().splitlines()
    handler.setStream(previous)


def test_text_is_the_default_log_format(client, log_lines):
    client.get("/health/live")
    (line,) = [line for line in log_lines() if "app.access" in line]
    assert " INFO app.access method=GET path=/health/live status=200 " in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_an_unknown_log_format_stops_start_up():
    config = type("Xml", (TestConfig,), {"LOG_FORMAT": "xml"})
    with pytest.raises(SettingError, match="LOG_FORMAT"):
        make_app(config)


def test_json_logs_are_one_object_a_line_with_the_request_and_user(
    monkeypatch, log_lines
):
    from app.controllers import accounts

    app = make_app(type("Json", (JsonLogConfig,), {"LOG_FORMAT": "JSON"}))
    client = app.test_client()
    carol = register(client, "carol")
    user_id = carol["user"]["id"]
    log_lines()  # set-up lines
    start = len(log_lines())

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(accounts, "get_balance", broken)
    response = client.get(
        "/balance", headers={**carol["headers"], "X-Request-ID": "req-balance-1"}
    )
    assert response.status_code == 500
    lines = log_lines()[start:]
    records = [json.loads(line) for line in lines]
    assert len(records) >= 2, lines  # the error and the access line
    for record in records:
        assert record["request_id"] == "req-balance-1", record
        assert record["user_id"] == user_id, record
        assert {"time", "level", "logger", "message"} <= set(record)
    error = next(r for r in records if r["level"] == "ERROR")
    assert "RuntimeError: boom" in error["exc_info"]
    access = next(r for r in records if r["logger"] == "app.access")
    assert access["method"] == "GET" and access["path"] == "/balance"
    assert access["status"] == 500 and access["duration_ms"] >= 0
    # Before anyone is known, the line has a request id and no user id.
    client.get("/health/live", headers={"X-Request-ID": "req-live-1"})
    (live,) = [json.loads(line) for line in log_lines() if "req-live-1" in line]
    assert live["request_id"] == "req-live-1" and "user_id" not in live


def test_json_logs_leak_no_password_hash_or_token(log_lines):
    from app.db import get_db

    app = make_app(JsonLogConfig)
    client = app.test_client()
    new_password = "a-brand-new-Passphrase-42"
    client.post("/auth/register", json={"username": "carol", "password": PASSWORD})
    client.post("/auth/login", json={"username": "carol", "password": "wrong-one-1"})
    tokens = client.post(
        "/auth/login", json={"username": "carol", "password": PASSWORD}
    ).get_json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    renewed = client.post("/auth/refresh", headers=refresh).get_json()
    client.post(
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=access,
    )
    client.post("/auth/logout", headers=access)
    with app.app_context():
        hashes = [user["password_hash"] for user in get_db()["users"].find({})]
    logs = "\n".join(log_lines())
    assert '"path": "/auth/change-password"' in logs  # the capture works
    tokens = [tokens["access_token"], tokens["refresh_token"], renewed["access_token"]]
    secrets = [PASSWORD, new_password, "wrong-one-1", *hashes, *tokens]
    secrets += [token.rsplit(".", 1)[1] for token in tokens]
    for secret in secrets:
        assert secret not in logs
    assert "scrypt" not in logs
