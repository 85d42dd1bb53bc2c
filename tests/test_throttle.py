"""Brute-force lockout per username, and rate limits (on only in these tests)."""

import time
from datetime import timedelta

import pytest

from app import create_app
from app.config import TestConfig
from app.db import memory_client
from tests.conftest import PASSWORD, register


def login(client, username: str, password: str = PASSWORD, **kwargs):
    return client.post(
        "/auth/login", json={"username": username, "password": password}, **kwargs
    )


def fail(client, username: str, times: int, **kwargs) -> None:
    for _ in range(times):
        assert login(client, username, "wrong-password", **kwargs).status_code == 401


def test_five_failures_lock_the_username_even_for_the_right_password(client, customer):
    fail(client, "carol", 5)
    response = login(client, "carol")
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == "too_many_attempts"
    assert 890 <= int(response.headers["Retry-After"]) <= 900
    assert response.mimetype == "application/problem+json"


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client, customer):
    fail(client, "carol", 4)
    assert login(client, "carol").status_code == 200
    fail(client, "carol", 4)
    assert login(client, "carol").status_code == 200


def test_unknown_usernames_lock_exactly_like_known_ones(client, customer):
    fail(client, "nobody-here", 5)
    known, unknown = login(client, "carol", "wrong"), login(client, "nobody-here")
    assert known.status_code == 401
    assert unknown.status_code == 429
    fail(client, "carol", 4)
    assert login(client, "carol").status_code == 429
    a, b = login(client, "carol").get_json(), login(client, "nobody-here").get_json()
    assert (a["code"], a["detail"]) == (b["code"], b["detail"])


def test_lockout_counts_per_username_not_per_address(client, customer, other_customer):
    fail(client, "carol", 5, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    # From another address, carol is still locked; dave is not.
    response = login(client, "carol", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert response.status_code == 429
    assert (
        login(client, "dave", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
        == 200
    )


def test_the_lock_lifts_when_the_window_has_passed(client, customer, db):
    fail(client, "carol", 5)
    assert login(client, "carol").status_code == 429
    # Age the recorded failures past LOGIN_LOCKOUT_SECONDS (900 s).
    doc = db["login_failures"].find_one({"_id": "carol"})
    aged = [
        {**failure, "at": failure["at"] - timedelta(seconds=901)}
        for failure in doc["failures"]
    ]
    db["login_failures"].update_one({"_id": "carol"}, {"$set": {"failures": aged}})
    assert login(client, "carol").status_code == 200


def test_lockout_is_audited(client, customer, db):
    fail(client, "carol", 5)
    login(client, "carol")
    actions = [e["action"] for e in db["audit_log"].find({"actor": "carol"})]
    assert actions.count("login_failure") == 5
    assert actions[-1] == "lockout"


class LimitedConfig(TestConfig):
    RATELIMIT_ENABLED = True
    RATELIMIT_AUTH = "5 per minute"
    RATELIMIT_MONEY = "3 per minute"
    LOGIN_MAX_FAILURES = 100


@pytest.fixture
def limited_app():
    return create_app(LimitedConfig, mongo_client=memory_client())


def test_credential_routes_share_one_budget_per_address(limited_app):
    client = limited_app.test_client()
    here = {"environ_base": {"REMOTE_ADDR": "192.0.2.1"}}
    there = {"environ_base": {"REMOTE_ADDR": "192.0.2.2"}}
    client.post(
        "/auth/register", json={"username": "erin", "password": PASSWORD}, **here
    )
    assert login(client, "erin", **here).status_code == 200
    assert login(client, "erin", "wrong", **here).status_code == 401
    tokens = login(client, "erin", **here).get_json()
    assert client.post("/auth/refresh", **here).status_code == 401  # 5th: no token
    response = login(client, "erin", **here)
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == "rate_limited"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert response.mimetype == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    # Every credential route shares the budget; other addresses have their own.
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/auth/refresh", headers=refresh, **here).status_code == 429
    change = {"current_password": PASSWORD, "new_password": "another-Passphrase-9"}
    response = client.post("/auth/change-password", json=change, headers=access, **here)
    assert response.status_code == 429
    response = client.post(
        "/auth/register", json={"username": "fay", "password": PASSWORD}, **here
    )
    assert response.status_code == 429
    assert login(client, "erin", **there).status_code == 200
    # Reading the caller's own profile and history guesses no credential.
    assert client.get("/auth/me", headers=access, **here).status_code == 200
    assert client.get("/auth/logins", headers=access, **here).status_code == 200
    # Routes outside /auth/* are not counted against it.
    assert client.get("/health", **here).status_code == 200


def test_profile_reads_do_not_spend_the_auth_budget(limited_app):
    client = limited_app.test_client()
    client.post("/auth/register", json={"username": "erin", "password": PASSWORD})
    tokens = login(client, "erin").get_json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    for _ in range(10):
        assert client.get("/auth/me", headers=access).status_code == 200
        assert client.get("/auth/logins", headers=access).status_code == 200
    # Register and login spent 2 of the 5: three more logins pass.
    for _ in range(3):
        assert login(client, "erin").status_code == 200
    assert login(client, "erin").status_code == 429


LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def test_limited_routes_tell_the_budget_left(limited_app):
    client = limited_app.test_client()
    response = client.post(
        "/auth/register", json={"username": "erin", "password": PASSWORD}
    )
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    reset = int(response.headers["X-RateLimit-Reset"])
    assert reset >= int(time.time())
    # Retry-After is for refusals only.
    assert "Retry-After" not in response.headers
    remaining = [login(client, "erin").headers["X-RateLimit-Remaining"] for _ in "abcd"]
    assert remaining == ["3", "2", "1", "0"]
    refused = login(client, "erin")
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) >= reset
    assert 1 <= int(refused.headers["Retry-After"]) <= 61


def test_money_routes_tell_the_users_budget_and_others_tell_none(limited_app):
    client = limited_app.test_client()
    carol = register(client, "carol")
    response = client.post(
        "/deposit", json={"amount": "1.00"}, headers=carol["headers"]
    )
    assert response.status_code == 201
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "2"
    assert "Retry-After" not in response.headers
    for path in ("/balance", "/auth/me", "/health/live"):
        response = client.get(path, headers=carol["headers"])
        assert response.status_code == 200
        for header in (*LIMIT_HEADERS, "Retry-After"):
            assert header not in response.headers, (path, header)


def test_a_lockout_keeps_its_own_retry_after_with_limits_on(limited_app):
    limited_app.config["LOGIN_MAX_FAILURES"] = 2
    client = limited_app.test_client()
    client.post("/auth/register", json={"username": "erin", "password": PASSWORD})
    fail(client, "erin", 2)
    response = login(client, "erin")
    assert response.get_json()["code"] == "too_many_attempts"
    assert 890 <= int(response.headers["Retry-After"]) <= 900
    assert response.headers["X-RateLimit-Remaining"] == "1"


def test_money_routes_have_one_budget_per_user(limited_app):
    client = limited_app.test_client()
    carol = register(client, "carol")
    dave = register(client, "dave")
    for path in ("/deposit", "/deposit", "/withdraw"):
        response = client.post(path, json={"amount": "1.00"}, headers=carol["headers"])
        assert response.status_code == 201
    response = client.post(
        "/transfers",
        json={"amount": "1.00", "to_account_number": dave["account"]["account_number"]},
        headers=carol["headers"],
    )
    assert response.status_code == 429
    assert response.get_json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    # Nothing moved on the refused request; dave's own budget is untouched.
    assert (
        client.get("/balance", headers=carol["headers"]).get_json()["balance"] == "1.00"
    )
    response = client.post("/deposit", json={"amount": "1.00"}, headers=dave["headers"])
    assert response.status_code == 201
    # Reads are not money routes.
    assert client.get("/balance", headers=carol["headers"]).status_code == 200


def test_limits_are_off_when_disabled(client, customer):
    for _ in range(40):
        client.get("/auth/me", headers=customer["headers"])
    assert client.get("/auth/me", headers=customer["headers"]).status_code == 200


def test_limits_are_kept_in_mongodb_when_the_database_is_real(monkeypatch):
    from flask import Flask

    from app.extensions import limiter
    from app.security import register_http_policies

    seen = {}
    # The real storage would connect to the server; only its settings matter.
    monkeypatch.setattr(limiter, "init_app", lambda app: seen.update(app.config))
    probe = Flask("probe")
    probe.config.update(
        IN_MEMORY_DB=False,
        MONGO_URI="mongodb://db.example:27017",
        MONGO_DB_NAME="bank",
        CORS_ORIGINS="",
    )
    register_http_policies(probe)
    assert seen["RATELIMIT_STORAGE_URI"] == "mongodb://db.example:27017"
    assert seen["RATELIMIT_STORAGE_OPTIONS"] == {"database_name": "bank"}
    memory = Flask("memory")
    memory.config.update(IN_MEMORY_DB=True, CORS_ORIGINS="")
    register_http_policies(memory)
    assert seen["RATELIMIT_STORAGE_URI"] == "memory://"


def test_parallel_guesses_cannot_outrun_the_lockout(
    app, customer, server, fast_switching
):
    import json as jsonlib
    import threading
    import urllib.error
    import urllib.request

    statuses = []

    def guess():
        request = urllib.request.Request(
            server + "/auth/login",
            data=jsonlib.dumps({"username": "carol", "password": "guess"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request) as response:  # noqa: S310
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Only LOGIN_MAX_FAILURES guesses reach the password check.
    assert sorted(statuses) == [401] * 5 + [429] * 35


def test_guesses_at_the_current_password_count_toward_the_lockout(client, customer):
    body = {"current_password": "not-it", "new_password": "a-new-Passphrase-77"}
    for _ in range(5):
        response = client.post(
            "/auth/change-password", json=body, headers=customer["headers"]
        )
        assert response.status_code == 403
    right = {**body, "current_password": PASSWORD}
    response = client.post(
        "/auth/change-password", json=right, headers=customer["headers"]
    )
    assert response.status_code == 429
    assert response.get_json()["code"] == "too_many_attempts"
    assert login(client, "carol").status_code == 429


def test_the_money_limit_keys_on_the_verified_user_not_the_header(limited_app):
    client = limited_app.test_client()
    carol = register(client, "carol")
    token = carol["headers"]["Authorization"].removeprefix("Bearer ")
    odd_headers = [
        {"Authorization": f"Basic Zm9v, Bearer {token}"},
        {"Authorization": f"Bearer {token},"},
        carol["headers"],
    ]
    statuses = []
    for index in range(6):
        response = client.post(
            "/deposit",
            json={"amount": "1.00"},
            headers=odd_headers[index % 3],
            environ_base={"REMOTE_ADDR": f"10.0.0.{index}"},
        )
        statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 429, 429, 429]
    balance = client.get("/balance", headers=carol["headers"]).get_json()["balance"]
    assert balance == "3.00"


def test_a_revoked_token_cannot_spend_its_users_money_budget(limited_app):
    client = limited_app.test_client()
    register(client, "carol")
    old = login(client, "carol").get_json()["access_token"]
    client.post("/auth/logout", headers={"Authorization": f"Bearer {old}"})
    for _ in range(5):
        response = client.post(
            "/deposit",
            json={"amount": "1.00"},
            headers={"Authorization": f"Bearer {old}"},
        )
        assert response.status_code == 401
    fresh = login(client, "carol").get_json()["access_token"]
    response = client.post(
        "/deposit",
        json={"amount": "1.00"},
        headers={"Authorization": f"Bearer {fresh}"},
    )
    assert response.status_code == 201


def test_preflights_do_not_spend_the_auth_budget(limited_app):
    client = limited_app.test_client()
    client.post("/auth/register", json={"username": "erin", "password": PASSWORD})
    for _ in range(10):
        client.options("/auth/login")
    assert login(client, "erin").status_code == 200
