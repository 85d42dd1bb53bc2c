"""Plain helpers that write through the models (only the behaviour under test uses
HTTP)."""

import uuid
from datetime import timedelta

from flask_jwt_extended import create_access_token

from app.controllers.reviews import catch_up
from app.models import ledger, utc_now
from app.models.account import AccountModel
from app.models.user import UserModel
from app.security import session_claims


def make_user(app, username: str, password: str, role: str = "customer") -> dict:
    """Insert a user directly (no HTTP)."""
    with app.app_context():
        method = app.config["PASSWORD_HASH_METHOD"]
        return UserModel(method).create(username, password, role)


def make_account(app, user: dict, kind: str = "checking") -> dict:
    """Open an extra account for a user directly."""
    with app.app_context():
        return AccountModel().create(user, app.config["CURRENCY"], kind=kind)


def fund(app, account_number: str, amount_cents: int) -> dict:
    """Deposit through the ledger (no HTTP); return the posted entry."""
    with app.app_context():
        account = AccountModel().find_by_number(account_number)
        return ledger.deposit(account, amount_cents, "test funding")


def flagged_deposit(app, account_number: str) -> str:
    """Deposit FLAG_AMOUNT through the ledger and let the sweep open its review;
    return the review's id (the movement's)."""
    entry = fund(app, account_number, int(app.config["FLAG_AMOUNT"] * 100))
    with app.app_context():
        catch_up()
    return str(entry["_id"])


def balance_cents(app, account_number: str) -> int:
    """Read an account's stored balance."""
    with app.app_context():
        return AccountModel().find_by_number(account_number)["balance_cents"]


def auth_headers(app, user: dict, **kwargs) -> dict:
    """Mint an access token of a new session for a user, as login would."""
    now = utc_now()
    claims = {
        "role": user["role"],
        **session_claims(uuid.uuid4().hex, now, now + timedelta(days=30)),
    }
    with app.app_context():
        token = create_access_token(
            str(user["_id"]), additional_claims=claims, **kwargs
        )
    return {"Authorization": f"Bearer {token}"}


def login_headers(client, username: str, password: str) -> dict:
    """Log in over HTTP and return bearer headers."""
    response = client.post(
        "/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}
