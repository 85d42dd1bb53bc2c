"""Blueprint auth: register, login, me, and every token failure."""

from datetime import timedelta

import pytest

from app.models.user import UserModel
from tests.conftest import PASSWORD
from tests.factories import auth_headers, make_user

# Also imported from here by other test modules; tests.helpers is its home.
from tests.helpers import assert_problem


def register(client, **fields):
    body = {"username": "alice", "password": PASSWORD, **fields}
    return client.post("/auth/register", json=body)


def test_register_creates_customer_with_empty_primary_account(client, db):
    response = register(client, email="a@example.com", full_name="Alice A")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"user", "account"}
    assert set(body["user"]) == {"id", "username", "role", "created_at"}
    assert body["user"]["username"] == "alice"
    assert body["user"]["role"] == "customer"
    assert body["user"]["created_at"].endswith("Z")
    assert body["account"]["balance"] == "0.00"
    assert body["account"]["currency"] == "USD"
    number = body["account"]["account_number"]
    assert len(number) == 10 and number.isdigit()
    stored = db["users"].find_one({"username": "alice"})
    assert stored["password_hash"].startswith("scrypt:")
    assert PASSWORD not in str(stored)
    account = db["accounts"].find_one({"account_number": number})
    assert account["primary"] is True and account["kind"] == "checking"
    assert account["user_id"] == stored["_id"]


def test_register_folds_username_to_lower_case(client, db):
    response = register(client, username="MiXeD.Case-1")
    assert response.status_code == 201
    assert response.get_json()["user"]["username"] == "mixed.case-1"
    assert db["users"].find_one({"username": "mixed.case-1"}) is not None


def test_register_taken_username_in_any_case_returns_409(client, db):
    assert register(client).status_code == 201
    assert_problem(register(client, username="ALICE"), 409, "username_taken")
    assert db["users"].count_documents({}) == 1
    assert db["accounts"].count_documents({}) == 1


def test_register_never_returns_password_or_hash(client):
    text = register(client).get_data(as_text=True)
    assert PASSWORD not in text
    assert "scrypt" not in text and "password" not in text


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"username": "ab"}, "username"),
        ({"username": "a" * 33}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "émile"}, "username"),
        ({"username": 123}, "username"),
        ({"username": None}, "username"),
        ({"password": "short7!"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "QWERTYUIOP"}, "password"),
        ({"username": "longusername", "password": "LongUserName"}, "password"),
        ({"password": 12345678}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"full_name": "x" * 101}, "full_name"),
        ({"full_name": "bad\nname"}, "full_name"),
        ({"role": "banker"}, "role"),
        ({"is_banker": True}, "is_banker"),
        ({"extra": 1}, "extra"),
    ],
)
def test_register_invalid_input_returns_422_and_creates_nothing(
    client, db, fields, field
):
    body = assert_problem(register(client, **fields), 422, "validation_error")
    assert field in body["errors"]
    assert db["users"].count_documents({}) == 0
    assert db["accounts"].count_documents({}) == 0


@pytest.mark.parametrize("missing", ["username", "password"])
def test_register_missing_field_returns_422(client, missing):
    body = {"username": "alice", "password": PASSWORD}
    del body[missing]
    problem = assert_problem(
        client.post("/auth/register", json=body), 422, "validation_error"
    )
    assert missing in problem["errors"]


def test_register_role_field_cannot_make_a_banker(client, db):
    register(client, role="banker")
    assert db["users"].count_documents({"role": "banker"}) == 0


def test_register_accepts_null_optional_fields(client):
    response = register(client, email=None, full_name=None)
    assert response.status_code == 201


def test_login_returns_bearer_tokens(client):
    register(client)
    response = client.post(
        "/auth/login", json={"username": "ALICE", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    me = client.get(
        "/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.get_json()["username"] == "alice"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, monkeypatch):
    register(client)
    hashed = []
    import app.passwords as security

    real_check = security.check_password_hash

    def counting_check(stored, password):
        hashed.append(stored)
        return real_check(stored, password)

    monkeypatch.setattr(security, "check_password_hash", counting_check)
    wrong = client.post("/auth/login", json={"username": "alice", "password": "nope"})
    unknown = client.post("/auth/login", json={"username": "zed", "password": "nope"})
    first = assert_problem(wrong, 401, "invalid_credentials")
    second = assert_problem(unknown, 401, "invalid_credentials")
    assert first["detail"] == second["detail"]
    # Both paths run one scrypt check, so their cost is the same.
    assert len(hashed) == 2
    assert hashed[1].split("$")[0] == hashed[0].split("$")[0]


def test_login_disabled_user_returns_403(app, client, db):
    register(client)
    db["users"].update_one({"username": "alice"}, {"$set": {"active": False}})
    response = client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert_problem(response, 403, "account_disabled")


def test_login_disabled_user_with_wrong_password_reveals_nothing(client, db):
    register(client)
    db["users"].update_one({"username": "alice"}, {"$set": {"active": False}})
    response = client.post("/auth/login", json={"username": "alice", "password": "x"})
    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"password": "x"},
        {"username": "a", "password": ""},
        {"username": "alice", "password": PASSWORD, "remember": True},
        [],
    ],
)
def test_login_invalid_body_returns_422(client, body):
    assert_problem(client.post("/auth/login", json=body), 422, "validation_error")


def test_me_returns_profile(client, customer):
    response = client.get("/auth/me", headers=customer["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "id", "username", "role", "email", "full_name", "phone", "created_at"
    }  # fmt: skip
    assert body["id"] == customer["user"]["id"]
    assert body["email"] is None and body["full_name"] is None


def test_me_works_for_a_banker(client, banker):
    response = client.get("/auth/me", headers=banker["headers"])
    assert response.status_code == 200
    assert response.get_json()["role"] == "banker"


def test_missing_token_returns_401_token_missing(client):
    response = client.get("/auth/me")
    assert_problem(response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer not.a.token", "Bearer abc", "Token abc", "Basic dXNlcjpwYXNz"],
)
def test_malformed_authorization_returns_401(client, header):
    response = client.get("/auth/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["code"] in {"token_missing", "token_invalid"}


def test_tampered_token_returns_401_token_invalid(client, customer):
    token = customer["headers"]["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    response = client.get(
        "/auth/me", headers={"Authorization": f"Bearer {header}.{payload}.{flipped}"}
    )
    assert_problem(response, 401, "token_invalid")


def test_expired_token_returns_401_token_expired(app, client, customer, db):
    user = db["users"].find_one({"username": "carol"})
    headers = auth_headers(app, user, expires_delta=timedelta(seconds=-1))
    assert_problem(client.get("/auth/me", headers=headers), 401, "token_expired")


def test_refresh_token_is_not_an_access_token(client, customer):
    tokens = client.post(
        "/auth/login", json={"username": "carol", "password": PASSWORD}
    ).get_json()
    response = client.get(
        "/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_problem(response, 401, "token_invalid")


def test_token_of_deleted_user_is_refused(client, customer, db):
    db["users"].delete_one({"username": "carol"})
    assert_problem(
        client.get("/auth/me", headers=customer["headers"]), 401, "token_invalid"
    )


def test_token_of_user_disabled_after_issue_is_refused(client, customer, db):
    db["users"].update_one({"username": "carol"}, {"$set": {"active": False}})
    response = client.get("/balance", headers=customer["headers"])
    assert_problem(response, 403, "account_disabled")


def test_password_hash_uses_configured_scrypt_cost(app):
    user = make_user(app, "hashy", PASSWORD)
    assert user["password_hash"].startswith("scrypt:1024:8:1$")
    with app.app_context():
        users = UserModel(app.config["PASSWORD_HASH_METHOD"])
        assert users.authenticate("hashy", PASSWORD)["_id"] == user["_id"]
        assert users.authenticate("hashy", PASSWORD + "x") is None


def test_default_hash_cost_meets_owasp_minimum():
    from app.config import Config

    _, n, r, p = Config.PASSWORD_HASH_METHOD.split(":")
    # OWASP: N=2^15, r=8, p=3 or an equivalent cost (N*r*p >= 2^15*8*3).
    assert int(n) * int(r) * int(p) >= 2**15 * 8 * 3
