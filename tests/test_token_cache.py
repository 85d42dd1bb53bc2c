"""Verified tokens are remembered until they expire, and nothing else is."""

import time
from datetime import timedelta

from app.config import TestConfig
from app.token_cache import VerifiedTokens, verified_tokens
from tests.factories import auth_headers, make_user
from tests.helpers import make_app


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_is_remembered_until_its_exp_and_then_forgotten():
    clock = Clock(1000.0)
    cache = VerifiedTokens(clock=clock)
    cache.put("t", {"sub": "u", "exp": 1010})
    assert cache.get("t") == {"sub": "u", "exp": 1010}
    clock.now = 1009.999
    assert cache.get("t") is not None
    clock.now = 1010.0
    assert cache.get("t") is None
    assert len(cache) == 0


def test_claims_are_copies_and_tokens_without_exp_are_not_kept():
    cache = VerifiedTokens(clock=Clock(0.0))
    cache.put("t", {"exp": 10, "role": "customer"})
    cache.get("t")["role"] = "banker"
    assert cache.get("t")["role"] == "customer"
    cache.put("forever", {"sub": "u"})
    assert cache.get("forever") is None


def test_the_least_recently_used_token_goes_first():
    cache = VerifiedTokens(size=2, clock=Clock(0.0))
    cache.put("a", {"exp": 10})
    cache.put("b", {"exp": 10})
    cache.get("a")
    cache.put("c", {"exp": 10})
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_a_remembered_token_is_still_refused_once_it_expires(app, client):
    user = make_user(app, "erin", "a long enough passphrase")
    headers = auth_headers(app, user, expires_delta=timedelta(seconds=1))
    assert client.get("/balance", headers=headers).status_code == 200
    with app.app_context():
        assert len(verified_tokens()) == 1
    time.sleep(1.1)
    response = client.get("/balance", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_expired"


def test_a_remembered_token_still_goes_through_every_per_request_check(
    app, client, db
):
    """Revocation, a disabled user and the role are checked on every request."""
    user = make_user(app, "erin", "a long enough passphrase")
    headers = auth_headers(app, user)
    assert client.get("/balance", headers=headers).status_code == 200
    assert client.get("/banker/accounts", headers=headers).status_code == 403
    db["users"].update_one({"_id": user["_id"]}, {"$set": {"active": False}})
    response = client.get("/balance", headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "account_disabled"


def test_each_app_verifies_its_own_tokens():
    class OtherSecret(TestConfig):
        JWT_SECRET_KEY = "another-secret-key-that-is-long-enough-for-hs256"  # noqa: S105

    first, second = make_app(), make_app(OtherSecret)
    user = make_user(first, "erin", "a long enough passphrase")
    headers = auth_headers(first, user)
    assert first.test_client().get("/balance", headers=headers).status_code == 200
    refused = second.test_client().get("/balance", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "token_invalid"


def test_a_tampered_token_is_never_remembered(app, client):
    user = make_user(app, "erin", "a long enough passphrase")
    token = auth_headers(app, user)["Authorization"].removeprefix("Bearer ")
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[:-2]}AA"
    response = client.get("/balance", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    with app.app_context():
        assert len(verified_tokens()) == 0
