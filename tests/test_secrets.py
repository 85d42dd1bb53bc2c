"""No password, password hash or token in the logs, responses or audit log."""

import json
import logging

import pytest

from tests.conftest import PASSWORD
from tests.factories import make_user

NEW_PASSWORD = "a-brand-new-Passphrase-42"
STAFF_PASSWORD = "staff-Passphrase-for-logs"


@pytest.fixture
def everything_logged():
    """Capture every log record of every logger, at DEBUG."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))
            if record.exc_info:
                records.append(logging.Formatter().formatException(record.exc_info))

    handler = Collect(level=logging.DEBUG)
    root, ours = logging.getLogger(), logging.getLogger("app")
    levels = root.level, ours.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    ours.setLevel(logging.DEBUG)  # as with LOG_LEVEL=DEBUG
    yield records
    root.removeHandler(handler)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


def test_a_full_flow_leaks_no_secret(app, client, db, everything_logged):
    make_user(app, "boss", STAFF_PASSWORD, role="banker")
    responses = []

    def call(method, path, **kwargs):
        response = client.open(path, method=method, **kwargs)
        responses.append((path, response.get_data(as_text=True)))
        return response

    call("POST", "/auth/register", json={"username": "carol", "password": PASSWORD})
    call("POST", "/auth/register", json={"username": "dave", "password": PASSWORD})
    call("POST", "/auth/login", json={"username": "carol", "password": "wrong-one-1"})
    call("POST", "/auth/login", json={"username": "nobody", "password": PASSWORD})
    tokens = call(
        "POST", "/auth/login", json={"username": "carol", "password": PASSWORD}
    ).get_json()
    staff = call(
        "POST", "/auth/login", json={"username": "boss", "password": STAFF_PASSWORD}
    ).get_json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    banker = {"Authorization": f"Bearer {staff['access_token']}"}
    renewed = call("POST", "/auth/refresh", headers=refresh).get_json()
    dave = call("GET", "/banker/accounts?q=dave", headers=banker).get_json()
    call("POST", "/deposit", json={"amount": "50.00"}, headers=access)
    call(
        "POST",
        "/transfers",
        json={
            "amount": "5.00",
            "to_account_number": dave["items"][0]["account_number"],
        },
        headers={**access, "Idempotency-Key": "k-1"},
    )
    call("POST", "/withdraw", json={"amount": "999.00"}, headers=access)
    call("GET", "/auth/me", headers=access)
    call("GET", "/auth/logins", headers=access)
    call(
        "POST",
        "/auth/change-password",
        json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD},
        headers=access,
    )
    call(
        "POST",
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=access,
    )
    call("POST", "/auth/register", json={"username": "erin", "password": "password"})
    call("GET", "/balance", headers={"Authorization": "Bearer not.a.token"})
    call("GET", "/audit/events?limit=100", headers=banker)
    call("POST", "/auth/logout", headers=access)
    call("GET", "/balance", headers=access)  # revoked

    stored_hashes = [user["password_hash"] for user in db["users"].find({})]
    token_values = [
        tokens["access_token"],
        tokens["refresh_token"],
        staff["access_token"],
        renewed["access_token"],
    ]
    secrets = [PASSWORD, NEW_PASSWORD, STAFF_PASSWORD, "wrong-one-1", "not-it-at-all"]
    secrets += stored_hashes + token_values
    # The signature alone would be enough to replay a token.
    secrets += [token.rsplit(".", 1)[1] for token in token_values]

    logs = "\n".join(everything_logged)
    assert "/auth/login" in logs and "status=" in logs  # the capture works
    audit = json.dumps(list(db["audit_log"].find({}, {"_id": 0})), default=str)
    assert "login_failure" in audit
    for secret in secrets:
        assert secret not in logs
        assert secret not in audit
    assert "scrypt" not in logs and "scrypt" not in audit
    token_issuers = {"/auth/login", "/auth/refresh"}
    for path, body in responses:
        assert "scrypt" not in body
        for secret in stored_hashes + [PASSWORD, NEW_PASSWORD, STAFF_PASSWORD]:
            assert secret not in body, path
        if path not in token_issuers:
            for token in token_values:
                assert token not in body, path
