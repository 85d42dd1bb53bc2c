"""The audit log through the API: what is recorded, reading it, tamper evidence."""

import json
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from app.audit_commands import register_audit_commands
from app.models.audit import AuditModel, AuditSealModel, entry_hash
from tests.conftest import PASSWORD
from tests.factories import auth_headers, fund, make_user


def login(client, username, password=PASSWORD):
    return client.post("/auth/login", json={"username": username, "password": password})


def events(client, headers, query=""):
    response = client.get(f"/audit/events{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_auth_events_and_money_movements_are_recorded(
    app, client, customer, other_customer, banker
):
    login(client, "carol", "wrong-password")
    response = client.post(
        "/deposit",
        json={"amount": "30.00"},
        headers={**customer["headers"], "X-Request-ID": "req-deposit-1"},
    )
    assert response.status_code == 201
    client.post("/withdraw", json={"amount": "10.00"}, headers=customer["headers"])
    to = other_customer["account"]["account_number"]
    client.post(
        "/transfers",
        json={"amount": "5.00", "to_account_number": to},
        headers=customer["headers"],
    )
    client.post("/auth/logout", headers=customer["headers"])
    items = events(client, banker["headers"], "?actor=carol&limit=100")["items"]
    actions = [item["action"] for item in reversed(items)]
    assert actions == [
        "login_success",  # the fixture's login
        "login_failure",
        "deposit",
        "withdrawal",
        "transfer",
        "logout",
    ]
    deposit = next(item for item in items if item["action"] == "deposit")
    assert deposit["request_id"] == "req-deposit-1"
    assert deposit["ip"] == "127.0.0.1"
    assert deposit["target"] == customer["account"]["account_number"]
    assert deposit["details"]["amount_cents"] == 3000
    transfer = next(item for item in items if item["action"] == "transfer")
    assert transfer["details"]["to_account_number"] == to
    assert transfer["details"]["amount_cents"] == 500


def test_a_replayed_request_is_not_recorded_twice(client, customer, banker):
    headers = {**customer["headers"], "Idempotency-Key": "once"}
    for _ in range(3):
        client.post("/deposit", json={"amount": "1.00"}, headers=headers)
    deposits = events(client, banker["headers"], "?action=deposit")["items"]
    assert len(deposits) == 1


def test_events_filter_and_page(app, client, customer, banker):
    for _ in range(3):
        client.post("/deposit", json={"amount": "1.00"}, headers=customer["headers"])
    first = events(client, banker["headers"], "?action=deposit&limit=2")
    assert [item["action"] for item in first["items"]] == ["deposit", "deposit"]
    newest_first = (first["items"][0]["at"], first["items"][0]["id"])
    assert newest_first > (first["items"][1]["at"], first["items"][1]["id"])
    rest = events(
        client, banker["headers"], f"?action=deposit&cursor={first['next_cursor']}"
    )
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [item["id"] for item in first["items"] + rest["items"]]
    assert len(set(ids)) == 3
    assert rest["items"][0]["at"] <= first["items"][1]["at"]
    assert events(client, banker["headers"], "?to=2000-01-01")["items"] == []
    assert events(client, banker["headers"], "?actor=nobody")["items"] == []
    for bad in ("?cursor=zzz", "?limit=0", "?from=yesterday", "?action=DROP TABLE"):
        response = client.get(f"/audit/events{bad}", headers=banker["headers"])
        assert response.status_code == 422, bad


def test_only_bankers_and_auditors_read_the_log(app, client, customer):
    auditor = make_user(app, "audrey", PASSWORD, role="auditor")
    headers = auth_headers(app, auditor)
    assert client.get("/audit/events", headers=headers).status_code == 200
    assert client.get("/audit/verify", headers=headers).status_code == 200
    for path in ("/audit/events", "/audit/verify"):
        response = client.get(path, headers=customer["headers"])
        assert response.status_code == 403
        assert client.get(path).status_code == 401


def verify(client, headers) -> dict:
    response = client.get("/audit/verify", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def seal_everything(app) -> dict:
    """Seal every entry there is, as `flask audit seal` would once they settle
    (movements' entries derived from the journal first)."""
    from app.controllers.audit import catch_up

    with app.app_context():
        catch_up()
        return AuditSealModel().seal(datetime.now(UTC) + timedelta(hours=1))


def test_verify_names_the_first_tampered_entry(client, db, customer, banker):
    client.post("/deposit", json={"amount": "12.00"}, headers=customer["headers"])
    client.post("/withdraw", json={"amount": "2.00"}, headers=customer["headers"])
    report = verify(client, banker["headers"])
    assert report == {
        "valid": True,
        "entries": report["entries"],
        "first_bad_id": None,
        "first_bad_seal": None,
        "sealed": 0,
        "unsealed": report["entries"],
        "seals": 0,
        "last_sealed_at": None,
        "last_seal": None,
        "last_digest": None,
        "keyed": False,
    }
    assert report["entries"] >= 3
    deposit = db["audit_log"].find_one({"action": "deposit"})
    # Someone with database access makes the deposit look smaller.
    db["audit_log"].update_one(
        {"_id": deposit["_id"]}, {"$set": {"details.amount_cents": 100}}
    )
    report = verify(client, banker["headers"])
    assert report["valid"] is False
    assert report["first_bad_id"] == str(deposit["_id"])


def test_verify_reports_seals_and_a_keyed_break(app, client, db, customer, banker):
    app.config["AUDIT_SEAL_KEY"] = "a-key-the-database-does-not-hold"
    client.post("/deposit", json={"amount": "12.00"}, headers=customer["headers"])
    sealed = seal_everything(app)
    client.post("/withdraw", json={"amount": "2.00"}, headers=customer["headers"])
    report = verify(client, banker["headers"])
    assert report["valid"] is True and report["keyed"] is True
    assert (report["seals"], report["last_seal"]) == (1, 1)
    assert report["sealed"] == sealed["entries"] >= 2  # login, deposit
    assert report["unsealed"] == 1 == report["entries"] - report["sealed"]
    assert report["last_digest"] == sealed["last_digest"]
    assert report["last_sealed_at"].endswith("Z")
    items = events(client, banker["headers"], "?limit=100")["items"]
    withdrawal, deposit = items[0], items[1]
    assert (withdrawal["seal"], withdrawal["seq"]) == (None, None)
    assert deposit["seal"] == 1 and deposit["seq"] == sealed["entries"]
    assert {"hash", "seal", "seq"} <= set(deposit) and "prev_hash" not in deposit
    # An edit that recomputes the entry's own hash still breaks its seal.
    stored = db["audit_log"].find_one({"_id": ObjectId(deposit["id"])})
    forged = dict(stored, details={**stored["details"], "amount_cents": 1})
    forged["hash"] = entry_hash(forged)
    db["audit_log"].replace_one({"_id": forged["_id"]}, forged)
    report = verify(client, banker["headers"])
    assert (report["valid"], report["first_bad_seal"]) == (False, 1)


def test_flask_audit_seal_and_verify(app, db, customer):
    register_audit_commands(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "seal"])
    # The fixture's entries are younger than the settle delay.
    assert result.exit_code == 0, result.output
    assert "audit seal: nothing to seal" in result.output
    assert "AUDIT_SEAL_KEY is not set" in result.output
    # Backdated without recomputing the hashes: the check fails.
    old = datetime(2024, 1, 1, tzinfo=UTC)
    db["audit_log"].update_many({}, {"$set": {"at": old}})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "INVALID" in result.output


def test_flask_audit_seal_seals_settled_entries_and_verify_agrees(app, customer):
    register_audit_commands(app)
    app.config["AUDIT_SEAL_KEY"] = "a-key-the-database-does-not-hold"
    with app.app_context():
        AuditModel().append(
            "login_failure", actor="old", at=datetime(2024, 1, 1, tzinfo=UTC)
        )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "seal"])
    assert result.exit_code == 0, result.output
    assert (
        "audit seal: 1 seal(s) (1) over 1 entries; head seal 1 digest" in result.output
    )
    assert "AUDIT_SEAL_KEY is not set" not in result.output
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert (
        "audit verify: valid" in result.output
        and "1 sealed in 1 seals" in result.output
    )


def test_parallel_audited_requests_keep_one_chain(
    app, client, customer, banker, server, fast_switching
):
    fund(app, customer["account"]["account_number"], 100_000)
    errors = []

    def deposit_and_withdraw():
        for path in ("/deposit", "/withdraw", "/deposit"):
            request = urllib.request.Request(
                server + path,
                data=json.dumps({"amount": "1.00"}).encode(),
                headers={**customer["headers"], "Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request) as response:  # noqa: S310
                    assert response.status == 201
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=deposit_and_withdraw) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    report = verify(client, banker["headers"])
    assert report["valid"] is True
    movements = events(client, banker["headers"], "?actor=carol&limit=100")["items"]
    movements = [i for i in movements if i["action"] in ("deposit", "withdrawal")]
    assert len(movements) == 48
    assert len({item["id"] for item in movements}) == 48
    seal_everything(app)
    report = verify(client, banker["headers"])
    assert (report["valid"], report["unsealed"]) == (True, 0)
    seqs = sorted(
        item["seq"] for item in events(client, banker["headers"], "?limit=100")["items"]
    )
    assert seqs == list(range(1, report["entries"] + 1))


def test_a_banker_made_on_the_command_line_is_audited_as_the_system(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-banker", "Teller", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    entry = db["audit_log"].find_one({"action": "staff_created"})
    assert entry["actor"] is None
    assert entry["details"] == {"username": "teller", "role": "banker", "by": "system"}
    assert PASSWORD not in json.dumps(entry, default=str)
