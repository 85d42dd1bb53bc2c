"""PATCH /auth/me: the caller changes their own email, full name or phone."""

import pytest

from tests.helpers import assert_problem, snapshot

ME = "/auth/me"
PROFILE = {"id", "username", "role", "email", "full_name", "phone", "created_at"}


def test_me_shows_the_phone_as_null_until_one_is_set(client, customer):
    response = client.get(ME, headers=customer["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PROFILE
    assert body["phone"] is None


def test_a_patch_changes_the_fields_sent_and_returns_the_profile(client, customer):
    change = {"email": "carol@example.com", "phone": "+14155550123"}
    response = client.patch(ME, json=change, headers=customer["headers"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == PROFILE
    assert body["email"] == "carol@example.com"
    assert body["phone"] == "+14155550123"
    assert body["full_name"] is None  # not sent: unchanged
    assert body["id"] == customer["user"]["id"] and body["username"] == "carol"
    assert client.get(ME, headers=customer["headers"]).get_json() == body
    renamed = client.patch(ME, json={"full_name": "Carol King"},
                           headers=customer["headers"]).get_json()  # fmt: skip
    assert renamed["full_name"] == "Carol King"
    assert renamed["email"] == "carol@example.com"  # kept


def test_a_null_clears_a_field(client, customer):
    client.patch(
        ME,
        json={
            "email": "carol@example.com",
            "full_name": "Carol",
            "phone": "+4930123456",
        },
        headers=customer["headers"],
    )
    response = client.patch(
        ME, json={"email": None, "phone": None}, headers=customer["headers"]
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] is None and body["phone"] is None
    assert body["full_name"] == "Carol"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "_schema"),
        ({"username": "mallory"}, "username"),
        ({"role": "banker"}, "role"),
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": 7}, "email"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": "x" * 101}, "full_name"),
        ({"full_name": "Carol\u202eKing"}, "full_name"),
        ({"phone": "4155550123"}, "phone"),  # no plus sign
        ({"phone": "+1415555"}, "phone"),  # 7 digits
        ({"phone": "+1234567890123456"}, "phone"),  # 16 digits
        ({"phone": "+0123456789"}, "phone"),  # no country code starts with 0
        ({"phone": "+1 415 555 0123"}, "phone"),
        ({"phone": "+14155550123\n"}, "phone"),
        ({"phone": "+١٤١٥٥٥٥٠١٢٣"}, "phone"),  # Arabic-Indic digits
        ({"phone": 14155550123}, "phone"),
    ],
)
def test_bad_changes_are_422_naming_the_field_and_change_nothing(
    app, client, customer, body, field
):
    before = snapshot(app)
    response = client.patch(ME, json=body, headers=customer["headers"])
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    assert snapshot(app) == before


@pytest.mark.parametrize("phone", ["+14155550123", "+491701234567", "+12345678"])
def test_e164_numbers_are_accepted(client, customer, phone):
    response = client.patch(ME, json={"phone": phone}, headers=customer["headers"])
    assert response.status_code == 200
    assert response.get_json()["phone"] == phone


def test_a_change_is_audited_with_field_names_never_values(client, customer, db):
    change = {"email": "carol@example.com", "phone": "+14155550123"}
    client.patch(ME, json=change, headers=customer["headers"])
    entries = list(db["audit_log"].find({"action": "profile_update"}))
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == "carol" and entry["target"] == customer["user"]["id"]
    assert entry["details"] == {"fields": ["email", "phone"]}
    assert "carol@example.com" not in repr(entry) and "4155550123" not in repr(entry)


def test_staff_change_their_own_profile(client, banker, auditor):
    for who in (banker, auditor):
        response = client.patch(
            ME, json={"full_name": "Staff Member"}, headers=who["headers"]
        )
        assert response.status_code == 200
        assert response.get_json()["full_name"] == "Staff Member"
        assert response.get_json()["username"] == who["user"]["username"]


def test_a_patch_needs_a_token(client):
    assert_problem(client.patch(ME, json={"full_name": "X"}), 401, "token_missing")


def test_a_patch_that_is_not_json_is_400(client, customer):
    response = client.patch(
        ME, data="full_name=X", content_type="text/plain", headers=customer["headers"]
    )
    assert_problem(response, 400, "invalid_json")


def test_a_phone_makes_reset_codes_go_by_sms(app, client, customer):
    client.patch(ME, json={"phone": "+14155550123"}, headers=customer["headers"])
    assert (
        client.post("/auth/password-reset", json={"username": "carol"}).status_code
        == 202
    )
    from app.db import get_db

    with app.app_context():
        message = get_db()["notifications"].find_one({"event": "password_reset_code"})
    assert message["channel"] == "sms" and message["address"] == "+14155550123"
