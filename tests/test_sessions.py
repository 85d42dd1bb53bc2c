"""Sessions: refresh, logout, password changes, disabled users, login history."""

from datetime import timedelta

import pytest

from app import create_app
from app.config import TestConfig
from app.db import memory_client
from app.models import utc_now
from tests.conftest import PASSWORD

NEW_PASSWORD = "an-entirely-new-Passphrase"


def login(client, username: str, password: str = PASSWORD, **kwargs):
    return client.post(
        "/auth/login", json={"username": username, "password": password}, **kwargs
    )


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def session(client, username: str) -> dict:
    body = login(client, username).get_json()
    return {
        "access": bearer(body["access_token"]),
        "refresh": bearer(body["refresh_token"]),
    }


def test_refresh_gives_a_working_access_token(client, customer):
    tokens = session(client, "carol")
    response = client.post("/auth/refresh", headers=tokens["refresh"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert (
        client.get("/balance", headers=bearer(body["access_token"])).status_code == 200
    )


def test_refresh_refuses_an_access_token_and_access_routes_a_refresh_token(
    client, customer
):
    tokens = session(client, "carol")
    assert client.post("/auth/refresh", headers=tokens["access"]).status_code == 401
    assert client.get("/balance", headers=tokens["refresh"]).status_code == 401


@pytest.mark.parametrize("logout_with", ["access", "refresh"])
def test_logout_revokes_the_whole_session_and_only_it(client, customer, logout_with):
    tokens = session(client, "carol")
    other = session(client, "carol")
    refreshed = bearer(
        client.post("/auth/refresh", headers=tokens["refresh"]).get_json()[
            "access_token"
        ]
    )
    assert client.post("/auth/logout", headers=tokens[logout_with]).status_code == 204
    for headers in (tokens["access"], refreshed):
        response = client.get("/balance", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["code"] == "token_revoked"
    response = client.post("/auth/refresh", headers=tokens["refresh"])
    assert response.get_json()["code"] == "token_revoked"
    # Another login of the same user is another session.
    assert client.get("/balance", headers=other["access"]).status_code == 200


def test_revocations_live_in_the_database_and_expire_with_the_session(app, client):
    client.post("/auth/register", json={"username": "erin", "password": PASSWORD})
    tokens = session(client, "erin")
    client.post("/auth/logout", headers=tokens["access"])
    # A second app on the same database (another process, or a restart).
    with app.app_context():
        from app.db import get_db

        database = get_db()
        mongo_client = database.client
        stored = database["users"].find_one({"username": "erin"})
    (ended,) = stored["ended_sessions"].values()
    assert ended > utc_now() + timedelta(days=29)
    other_app = create_app(TestConfig, mongo_client=mongo_client)
    response = other_app.test_client().get("/balance", headers=tokens["access"])
    assert response.status_code == 401


def test_change_password_revokes_other_sessions_but_not_this_one(client, customer):
    current = session(client, "carol")
    other = session(client, "carol")
    response = client.post(
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=current["access"],
    )
    assert response.status_code == 204
    assert client.get("/balance", headers=current["access"]).status_code == 200
    assert client.post("/auth/refresh", headers=current["refresh"]).status_code == 200
    for headers in (other["access"], customer["headers"]):
        response = client.get("/balance", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["code"] == "token_revoked"
    assert client.post("/auth/refresh", headers=other["refresh"]).status_code == 401
    assert login(client, "carol").status_code == 401
    fresh = login(client, "carol", NEW_PASSWORD)
    assert fresh.status_code == 200
    assert (
        client.get("/balance", headers=bearer(fresh.get_json()["access_token"]))
    ).status_code == 200


def test_change_password_with_the_wrong_current_password_is_403(client, customer):
    response = client.post(
        "/auth/change-password",
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
        headers=customer["headers"],
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "invalid_current_password"
    assert login(client, "carol").status_code == 200


@pytest.mark.parametrize(
    "new_password", ["short", "carol", "password123", "x" * 129, 12345678]
)
def test_change_password_follows_the_register_rules(client, customer, new_password):
    response = client.post(
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=customer["headers"],
    )
    assert response.status_code == 422
    assert "new_password" in response.get_json()["errors"]
    assert login(client, "carol").status_code == 200


def test_a_disabled_user_cannot_log_in_and_its_tokens_stop(app, client, customer, db):
    tokens = session(client, "carol")
    db["users"].update_one(
        {"username": "carol"},
        {
            "$set": {
                "active": False,
                "tokens_valid_after": utc_now(),
                "session_kept": None,
            }
        },
    )
    response = login(client, "carol")
    assert response.status_code == 403
    assert response.get_json()["code"] == "account_disabled"
    for headers in (tokens["access"], customer["headers"]):
        assert client.get("/balance", headers=headers).status_code == 401
    assert client.post("/auth/refresh", headers=tokens["refresh"]).status_code == 401


def test_login_history_lists_the_callers_attempts(client, customer):
    login(client, "carol", "wrong-password", headers={"User-Agent": "probe/1.0"})
    login(client, "Carol", headers={"User-Agent": "probe/2.0"})
    login(client, "dave-not-here", "wrong-password")
    response = client.get("/auth/logins?limit=2", headers=customer["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert [item["outcome"] for item in body["items"]] == ["success", "failure"]
    assert body["items"][0]["user_agent"] == "probe/2.0"
    assert body["items"][0]["ip"] == "127.0.0.1"
    assert body["items"][0]["at"].endswith("Z")
    rest = client.get(
        f"/auth/logins?cursor={body['next_cursor']}", headers=customer["headers"]
    ).get_json()
    # The fixture's own login, and nothing of anyone else's.
    assert [item["outcome"] for item in rest["items"]] == ["success"]
    assert rest["next_cursor"] is None


def test_login_history_shows_lockouts_and_disabled(client, customer, db):
    for _ in range(5):
        login(client, "carol", "wrong-password")
    login(client, "carol")
    outcomes = [
        item["outcome"]
        for item in client.get("/auth/logins", headers=customer["headers"]).get_json()[
            "items"
        ]
    ]
    assert outcomes[:6] == ["locked"] + ["failure"] * 5


def test_authenticated_responses_are_not_cached_and_nothing_is_sniffed(
    client, customer
):
    response = client.get("/balance", headers=customer["headers"])
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response = login(client, "carol")
    assert response.headers["Cache-Control"] == "no-store"
    for path in ("/health", "/openapi.json", "/nope"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" not in response.headers.get("Cache-Control", "")
    response = client.get("/balance")  # a refused token-less request
    assert response.headers["X-Content-Type-Options"] == "nosniff"


class CorsConfig(TestConfig):
    CORS_ORIGINS = "https://app.example, https://admin.example"


def test_cors_allows_only_the_listed_origins():
    app = create_app(CorsConfig, mongo_client=memory_client())
    client = app.test_client()
    allowed = client.options(
        "/balance",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    simple = client.get("/health", headers={"Origin": "https://admin.example"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://admin.example"
    assert "X-Request-ID" in simple.headers["Access-Control-Expose-Headers"]
    other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_cors_headers_by_default(client):
    response = client.get("/health", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("refresh", [False, True])
def test_a_token_without_a_session_is_refused(app, client, customer, refresh):
    """A token no login session issued could never be logged out: refused."""
    from flask_jwt_extended import create_access_token, create_refresh_token

    mint = create_refresh_token if refresh else create_access_token
    with app.app_context():
        token = mint(customer["user"]["id"], additional_claims={"role": "customer"})
    path, method = ("/auth/refresh", "POST") if refresh else ("/balance", "GET")
    response = client.open(path, method=method, headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_invalid"


def test_a_revocation_outlives_every_token_of_its_session(app, client, customer, db):
    tokens = session(client, "carol")
    before = utc_now()
    client.post("/auth/logout", headers=tokens["access"])
    stored = db["users"].find_one({"username": "carol"})
    # A token refreshed at the session's last moment lives one access lifetime.
    (ended,) = stored["ended_sessions"].values()
    lifetime = ended - before
    assert timedelta(days=30) < lifetime <= timedelta(days=30, minutes=15, seconds=1)


def test_a_logout_forgets_ended_sessions_whose_tokens_have_all_expired(
    client, customer, db
):
    past = utc_now() - timedelta(seconds=1)
    db["users"].update_one(
        {"username": "carol"}, {"$set": {"ended_sessions.long-gone": past}}
    )
    tokens = session(client, "carol")
    assert client.post("/auth/logout", headers=tokens["access"]).status_code == 204
    ended = db["users"].find_one({"username": "carol"})["ended_sessions"]
    assert "long-gone" not in ended
    assert len(ended) == 1
    assert client.get("/balance", headers=tokens["access"]).status_code == 401


def test_a_string_no_user_could_have_is_not_written_down(client, db):
    typed = "My Secret Passphrase!"
    response = login(client, typed, "whatever")
    assert response.status_code in (401, 422)
    assert db["login_attempts"].count_documents({}) == 0
    assert all(
        entry["actor"] is None or typed.lower() not in entry["actor"]
        for entry in db["audit_log"].find({})
    )
