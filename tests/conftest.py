"""Fixtures: a fresh app and in-memory database per test, and ready-made users."""

import os
import sys
import threading

import pytest
from werkzeug.serving import make_server

from tests.factories import auth_headers, fund, login_headers, make_user
from tests.helpers import make_app

PASSWORD = "s3cure-enough-Passphrase"


def pytest_collection_modifyitems(config, items):
    """Skip tests that need a real MongoDB unless TEST_MONGO_URI is set."""
    if os.environ.get("TEST_MONGO_URI"):
        return
    skip = pytest.mark.skip(reason="needs a real MongoDB: set TEST_MONGO_URI")
    for item in items:
        if "mongo" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def app():
    """A fresh app on its own in-memory database."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """The app's database handle, inside an app context."""
    from app.db import get_db

    with app.app_context():
        yield get_db()


def register(client, username: str) -> dict:
    """Register a customer over HTTP and log them in."""
    body = client.post(
        "/auth/register", json={"username": username, "password": PASSWORD}
    ).get_json()
    return {
        "user": body["user"],
        "account": body["account"],
        "password": PASSWORD,
        "headers": login_headers(client, username, PASSWORD),
    }


@pytest.fixture
def customer(app, client):
    """A registered customer: {"user", "account", "headers", "password"}."""
    return register(client, "carol")


@pytest.fixture
def other_customer(app, client):
    """A second customer, for object-level access checks."""
    return register(client, "dave")


@pytest.fixture
def banker(app, client):
    """A banker created through the model layer, with auth headers."""
    user = make_user(app, "bernie", PASSWORD, role="banker")
    return {"user": user, "headers": auth_headers(app, user)}


@pytest.fixture
def auditor(app):
    """An auditor created through the model layer, with auth headers."""
    user = make_user(app, "audrey", PASSWORD, role="auditor")
    return {"user": user, "headers": auth_headers(app, user)}


@pytest.fixture
def server(app):
    """Serve the app on a loopback port with one thread per request."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)


@pytest.fixture
def fast_switching():
    """Switch threads every 10 microseconds so an unguarded race cannot hide."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


# 20000.00, in five deposits of 4000.00: below FLAG_AMOUNT, so none is flagged.
PAYER_FUNDS = 2_000_000


@pytest.fixture
def payer(app, customer):
    """The customer, funded with 20000.00 and a daily limit that never binds."""
    app.config["DAILY_OUT_LIMIT"] = app.config["MAX_TRANSACTION_AMOUNT"]
    for _ in range(5):
        fund(app, customer["account"]["account_number"], PAYER_FUNDS // 5)
    return customer
