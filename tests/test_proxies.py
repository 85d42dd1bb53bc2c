"""TRUSTED_PROXIES: whose X-Forwarded-For is believed, and whose is not."""

import pytest

from app.config import TestConfig
from tests.conftest import PASSWORD
from tests.helpers import make_app

FORWARDED = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}


def logged_in_from(app) -> str:
    client = app.test_client()
    client.post("/auth/register", json={"username": "erin", "password": PASSWORD})
    response = client.post(
        "/auth/login",
        json={"username": "erin", "password": PASSWORD},
        headers=FORWARDED,
    )
    assert response.status_code == 200
    with app.app_context():
        from app.db import get_db

        (entry,) = get_db()["audit_log"].find({"action": "login_success"})
    return entry["ip"]


@pytest.mark.parametrize(
    "hops, seen",
    [
        (0, "127.0.0.1"),  # no proxy trusted: the header is ignored
        (1, "198.51.100.7"),  # one proxy: the address it saw
        (2, "203.0.113.9"),  # two proxies: the address the first one saw
    ],
)
def test_the_client_address_comes_from_as_many_hops_as_are_trusted(hops, seen):
    class Behind(TestConfig):
        TRUSTED_PROXIES = hops

    assert logged_in_from(make_app(Behind)) == seen
