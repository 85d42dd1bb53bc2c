"""The audit log through the API: what is recorded, reading it, tamper evidence."""

import json
import threading
import urllib.request

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
    assert first["items"][0]["seq"] > first["items"][1]["seq"]
    rest = events(
        client, banker["headers"], f"?action=deposit&cursor={first['next_cursor']}"
    )
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["seq"] < first["items"][1]["seq"]
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


def test_verify_names_the_first_tampered_entry(client, db, customer, banker):
    client.post("/deposit", json={"amount": "12.00"}, headers=customer["headers"])
    client.post("/withdraw", json={"amount": "2.00"}, headers=customer["headers"])
    report = client.get("/audit/verify", headers=banker["headers"]).get_json()
    assert report == {"valid": True, "entries": report["entries"], "first_bad_id": None}
    assert report["entries"] >= 3
    deposit = db["audit_log"].find_one({"action": "deposit"})
    # Someone with database access makes the deposit look smaller.
    db["audit_log"].update_one(
        {"_id": deposit["_id"]}, {"$set": {"details.amount_cents": 100}}
    )
    report = client.get("/audit/verify", headers=banker["headers"]).get_json()
    assert report["valid"] is False
    assert report["first_bad_id"] == str(deposit["_id"])


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
    report = client.get("/audit/verify", headers=banker["headers"]).get_json()
    assert report["valid"] is True
    movements = events(client, banker["headers"], "?actor=carol&limit=100")["items"]
    movements = [i for i in movements if i["action"] in ("deposit", "withdrawal")]
    assert len(movements) == 48
    seqs = sorted(item["seq"] for item in movements)
    assert len(set(seqs)) == 48


def test_a_banker_made_on_the_command_line_is_audited_as_the_system(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-banker", "Teller", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    entry = db["audit_log"].find_one({"action": "staff_created"})
    assert entry["actor"] is None
    assert entry["details"] == {"username": "teller", "role": "banker", "by": "system"}
    assert PASSWORD not in json.dumps(entry, default=str)
