"""Crash at every write of every movement, recover, retry: money moves exactly once."""

from datetime import timedelta

import pytest
from bson import ObjectId
from flask.testing import FlaskClient

from app.commands import run_recovery
from app.controllers.ledger import check_report
from app.db import get_db
from tests import faults
from tests.factories import balance_cents, fund
from tests.test_ledger import KEY_CLAIM, KEY_DONE, OUTGOING, SINGLE, WITHDRAWAL, check

FUNDED = 1000
AMOUNT = 500

# (path, the writes a keyed request makes, index of the commit point among them,
#  balance change of the caller's account, of the other customer's account)
MOVEMENTS = {
    "deposit": ("/deposit", [KEY_CLAIM, *SINGLE, KEY_DONE], 2, AMOUNT, 0),
    "withdrawal": ("/withdraw", [KEY_CLAIM, *WITHDRAWAL, KEY_DONE], 3, -AMOUNT, 0),
    "transfer": ("/transfers", [KEY_CLAIM, *OUTGOING, KEY_DONE], 4, -AMOUNT, AMOUNT),
}
CASES = [
    (kind, crash_after)
    for kind, (_path, writes, _commit, _mine, _theirs) in MOVEMENTS.items()
    for crash_after in range(len(writes) + 1)
]


def snapshot(app) -> dict:
    """Every document the ledger and the idempotency store hold."""
    with app.app_context():
        db = get_db()
        return {
            name: sorted(db[name].find({}), key=lambda d: str(d["_id"]))
            for name in ("accounts", "transactions", "idempotency_keys")
        }


def limit_usage(app, customer: dict) -> tuple[int, list]:
    """(cents counted against today's limit, reservations still to judge)."""
    with app.app_context():
        doc = get_db()["daily_usage"].find_one(
            {"user_id": ObjectId(customer["user"]["id"])}
        )
    return (doc["used_cents"], doc["pending"]) if doc else (0, [])


def recover(app) -> str:
    with app.app_context():
        return run_recovery()


@pytest.fixture
def setting(app, customer, other_customer):
    """Funded accounts and no grace period: every pending movement is abandoned."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    fund(app, customer["account"]["account_number"], FUNDED)
    return customer["account"]["account_number"], other_customer["account"][
        "account_number"
    ]


def send(client: FlaskClient, kind: str, customer: dict, target: str):
    path = MOVEMENTS[kind][0]
    body = {"amount": "5.00", "description": f"crash test {kind}"}
    if kind == "transfer":
        body["to_account_number"] = target
    headers = {**customer["headers"], "Idempotency-Key": f"key-{kind}"}
    return client.post(path, headers=headers, json=body)


def balances(app, mine: str, theirs: str) -> tuple[int, int]:
    return balance_cents(app, mine), balance_cents(app, theirs)


@pytest.mark.parametrize("kind, crash_after", CASES)
def test_crash_after_each_write_then_recovery_and_retry_move_money_once(
    app, client, customer, setting, kind, crash_after
):
    mine, theirs = setting
    _path, writes, commit_at, my_delta, their_delta = MOVEMENTS[kind]
    before = balances(app, mine, theirs)
    moved = (before[0] + my_delta, before[1] + their_delta)

    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        send(client, kind, customer, theirs)
    faults.uninstall(app, faulty)
    assert faulty.writes == writes[:crash_after]

    # Recovery settles the movement: finished from the commit point on, undone
    # before it; never half.
    recover(app)
    report = check(app)
    assert report["ok"], report["problems"]
    assert report["balanced"]
    after_recovery = balances(app, mine, theirs)
    assert after_recovery == (moved if crash_after >= commit_at else before)
    # The daily limit counts what left the customer, and only that.
    out = AMOUNT if kind != "deposit" else 0
    assert limit_usage(app, customer) == ((out if crash_after >= commit_at else 0), [])

    # Recovery is idempotent: a second run changes nothing at all.
    settled = snapshot(app)
    recover(app)
    assert snapshot(app) == settled

    # The client retries with the same key: the movement happens exactly once.
    retry = send(client, kind, customer, theirs)
    assert retry.status_code == 201, retry.get_json()
    replayed = retry.headers.get("Idempotency-Replayed") == "true"
    assert replayed == (crash_after >= commit_at)
    assert balances(app, mine, theirs) == moved
    again = send(client, kind, customer, theirs)
    assert again.data == retry.data
    assert again.headers["Idempotency-Replayed"] == "true"
    assert balances(app, mine, theirs) == moved
    assert check(app)["ok"]
    with app.app_context():
        posted = get_db()["transactions"].count_documents(
            {"status": "posted", "description": f"crash test {kind}"}
        )
    assert posted == (2 if kind == "transfer" else 1)
    recover(app)  # confirms the retry's reservation (a sweep, off the request)
    assert limit_usage(app, customer) == (out, [])
    # Whenever the request died, the movement has exactly one audit entry,
    # derived from the journal by the feed (which recovery runs).
    recover(app)
    with app.app_context():
        audited = list(
            get_db()["audit_log"].find(
                {"action": kind, "actor": "carol", "details.amount_cents": AMOUNT}
            )
        )
    assert len(audited) == 1, audited
    assert audited[0]["details"]["amount_cents"] == AMOUNT


@pytest.mark.parametrize("kind", list(MOVEMENTS))
@pytest.mark.parametrize("crash_after", [1, 2, 3, 5])
def test_a_retry_after_the_timeout_settles_without_a_recovery_run(
    app, client, customer, setting, kind, crash_after
):
    """The contract: a key whose request died halfway is settled on retry."""
    mine, theirs = setting
    _path, _writes, _commit_at, my_delta, their_delta = MOVEMENTS[kind]
    before = balances(app, mine, theirs)
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        send(client, kind, customer, theirs)
    faults.uninstall(app, faulty)

    retry = send(client, kind, customer, theirs)
    assert retry.status_code == 201, retry.get_json()
    assert balances(app, mine, theirs) == (
        before[0] + my_delta,
        before[1] + their_delta,
    )
    assert check(app)["ok"]


@pytest.mark.parametrize("kind, fail_at", [("withdrawal", 6), ("transfer", 8)])
def test_a_failed_confirmation_of_the_daily_limit_is_left_to_the_sweep(
    app, client, customer, setting, kind, fail_at
):
    """The money moved: the answer is 201, and the sweep confirms the count."""
    mine, theirs = setting
    faulty = faults.install(app, fail_at=fail_at)
    first = send(client, kind, customer, theirs)
    faults.uninstall(app, faulty)
    assert first.status_code == 201, first.get_json()
    assert faulty.writes[fail_at - 1] == ("daily_usage", "update_one")
    used, pending = limit_usage(app, customer)
    assert (used, len(pending)) == (AMOUNT, 1)
    recover(app)
    assert limit_usage(app, customer) == (AMOUNT, [])
    assert balance_cents(app, mine) == FUNDED - AMOUNT


def test_a_retry_inside_the_timeout_is_told_to_wait(app, client, customer, setting):
    mine, theirs = setting
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(minutes=5)
    faulty = faults.install(app, crash_after=2)  # committed, not journalled
    with pytest.raises(faults.Crash):
        send(client, "deposit", customer, theirs)
    faults.uninstall(app, faulty)
    retry = send(client, "deposit", customer, theirs)
    assert retry.status_code == 409
    assert retry.get_json()["code"] == "idempotency_in_progress"
    assert retry.headers["Retry-After"] == "1"
    # Not settled yet, and the reconciliation does not call it stale yet either.
    assert check(app)["ok"]
    assert balance_cents(app, mine) == FUNDED + AMOUNT


@pytest.mark.parametrize(
    "kind, fail_at, moved",
    [
        ("deposit", 2, False),  # the commit point itself fails: nothing moved
        ("deposit", 3, True),  # the journal insert fails after the commit point
        ("withdrawal", 2, False),  # the daily-limit reservation fails
        ("withdrawal", 3, False),  # the commit point itself fails
        ("withdrawal", 5, True),  # releasing fails
        ("transfer", 2, False),  # the hold fails
        ("transfer", 3, False),  # the daily-limit reservation fails
        ("transfer", 4, False),  # the debit (commit point) fails
        ("transfer", 5, True),  # the credit fails after the debit
        ("transfer", 6, True),  # the journal insert fails
        ("transfer", 7, True),  # releasing fails
    ],
)
def test_a_failed_write_is_settled_at_once_so_the_retry_need_not_wait(
    app, client, customer, setting, kind, fail_at, moved
):
    mine, theirs = setting
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(minutes=5)
    _path, _writes, _commit_at, my_delta, their_delta = MOVEMENTS[kind]
    before = balances(app, mine, theirs)
    after = (before[0] + my_delta, before[1] + their_delta)
    faulty = faults.install(app, fail_at=fail_at)
    first = send(client, kind, customer, theirs)
    faults.uninstall(app, faulty)
    assert first.status_code == 500
    assert first.get_json()["code"] == "internal_error"
    # The failed request settled its own movement before answering.
    assert balances(app, mine, theirs) == (after if moved else before)
    assert check(app)["ok"]

    retry = send(client, kind, customer, theirs)
    assert retry.status_code == 201
    assert (retry.headers.get("Idempotency-Replayed") == "true") == moved
    assert balances(app, mine, theirs) == after


def test_recovery_runs_at_start_up(app, customer, setting):
    """A movement left halfway is finished when the next process starts."""
    from app import create_app
    from app.config import TestConfig

    mine, _theirs = setting
    client = app.test_client()
    faulty = faults.install(app, crash_after=2)  # committed, not journalled
    with pytest.raises(faults.Crash):
        send(client, "deposit", customer, None)
    faults.uninstall(app, faulty)

    class NoGrace(TestConfig):
        LEDGER_PENDING_TIMEOUT = timedelta(0)

    restarted = create_app(NoGrace, mongo_client=app.extensions["mongo_client"])
    assert balance_cents(restarted, mine) == FUNDED + AMOUNT
    with restarted.app_context():
        assert check_report()["ok"]
        record = get_db()["idempotency_keys"].find_one({})
    # Recovery stores the domain outcome (the movement), not an HTTP answer;
    # the retry renders it.
    assert record["state"] == "done" and record["response"] is None
    assert record["outcome"] == {"movement_id": record["movement_id"]}
    retry = send(restarted.test_client(), "deposit", customer, None)
    assert retry.status_code == 201
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert retry.get_json()["balance"] == "15.00"


@pytest.mark.parametrize("kind", list(MOVEMENTS))
def test_a_crash_after_the_audit_entry_does_not_audit_twice(
    app, client, customer, setting, kind, monkeypatch
):
    """Died after the movement but before storing its answer: one audit entry."""
    mine, theirs = setting
    from app.models.idempotency import IdempotencyModel

    def die(self, record, response):
        raise faults.Crash("crash before the key is done")

    monkeypatch.setattr(IdempotencyModel, "complete", die)
    with pytest.raises(faults.Crash):
        send(client, kind, customer, theirs)
    monkeypatch.undo()
    recover(app)
    retry = send(client, kind, customer, theirs)
    assert retry.status_code == 201
    assert retry.headers["Idempotency-Replayed"] == "true"
    with app.app_context():
        audited = get_db()["audit_log"].count_documents(
            {"action": kind, "details.amount_cents": AMOUNT}
        )
    assert audited == 1


def test_a_movement_never_waits_for_the_audit_log(
    app, client, customer, setting, monkeypatch
):
    """The request writes the journal only; its audit entry is derived from it,
    with the request's actor, address and id, even if the log was down."""
    from app.models.audit import AuditModel

    def broken(self, *args, **kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(AuditModel, "append", broken)
    monkeypatch.setattr(AuditModel, "append_once", broken)
    mine, _theirs = setting
    response = client.post(
        "/withdraw", json={"amount": "2.00"}, headers=customer["headers"]
    )
    assert response.status_code == 201
    assert balance_cents(app, mine) == FUNDED - 200
    monkeypatch.undo()
    recover(app)
    recover(app)  # a second sweep finds it written: still one
    with app.app_context():
        (entry,) = get_db()["audit_log"].find({"action": "withdrawal"})
    assert entry["actor"] == "carol"
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert entry["ip"] == "127.0.0.1"
    assert entry["details"]["amount_cents"] == 200
    assert entry["details"]["movement_id"] == str(entry["_id"])
    assert "recovered" not in entry["details"]


@pytest.mark.parametrize("crash_after, recovered", [(1, True), (len(SINGLE), False)])
def test_a_keyless_request_that_died_gets_its_audit_entry(
    app, client, customer, setting, crash_after, recovered
):
    """No key: died after its commit point (recovery journals it from the
    record) or after its last write. Either way the feed audits it once."""
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        client.post(
            "/deposit",
            json={"amount": "5.00", "description": "no key"},
            headers=customer["headers"],
        )
    faults.uninstall(app, faulty)

    def audited():
        with app.app_context():
            return list(get_db()["audit_log"].find({"details.amount_cents": AMOUNT}))

    assert audited() == []
    recover(app)
    entries = audited()
    assert len(entries) == 1
    assert entries[0]["action"] == "deposit" and entries[0]["actor"] == "carol"
    assert entries[0]["details"].get("recovered", False) is recovered
    recover(app)
    assert len(audited()) == 1


@pytest.mark.parametrize("kind", list(MOVEMENTS))
def test_a_keyed_request_stalled_before_its_commit_point_cannot_move_money_twice(
    app, customer, setting, kind, monkeypatch
):
    """The first request claims the key and stalls before its first ledger write
    for longer than the timeout; the retry settles the claim (nothing moved),
    claims again and moves the money. The first request, woken, is refused: the
    caller's accounts were fenced at its claim's time."""
    import threading
    import time

    from app.models import ledger

    mine, theirs = setting
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(milliseconds=200)
    _path, _writes, _commit_at, my_delta, their_delta = MOVEMENTS[kind]
    before = balances(app, mine, theirs)
    step = "_hold" if kind == "transfer" else "_commit"
    real = getattr(ledger, step)
    stalled, wake = threading.Event(), threading.Event()
    calls: list = []

    def stalling(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            stalled.set()
            wake.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, step, stalling)
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.update(
            response=send(app.test_client(), kind, customer, theirs)
        )
    )
    thread.start()
    assert stalled.wait(10)
    time.sleep(0.3)  # longer than the timeout
    retry = send(app.test_client(), kind, customer, theirs)
    wake.set()
    thread.join(10)
    assert retry.status_code == 201, retry.get_json()
    assert first["response"].status_code == 503  # refused: its claim was settled
    assert balances(app, mine, theirs) == (
        before[0] + my_delta,
        before[1] + their_delta,
    )
    again = send(app.test_client(), kind, customer, theirs)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert balances(app, mine, theirs) == (
        before[0] + my_delta,
        before[1] + their_delta,
    )
    assert check(app)["ok"]


def test_a_credit_that_meets_a_busy_target_still_finishes_the_transfer(
    app, client, customer, setting, monkeypatch
):
    """After the debit, a hot target delays the credit but never makes the
    transfer answer "busy, retry" (which would say nothing moved)."""
    from app.models import ledger

    mine, theirs = setting
    monkeypatch.setattr(ledger, "COMMIT_ATTEMPTS", 1)
    real = ledger._credit

    def hot(target, entry):
        for _ in range(3):  # other movements land on the target meanwhile
            fund(app, theirs, 1)
        return real(target, entry)

    monkeypatch.setattr(ledger, "_credit", hot)
    response = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"amount": "1.00", "to_account_number": theirs},
    )
    assert response.status_code == 201, response.get_json()
    assert balances(app, mine, theirs) == (FUNDED - 100, 100 + 3)
    assert check(app)["ok"]


def test_a_release_that_reached_only_one_account_is_finished_by_recovery(
    app, client, customer, setting, monkeypatch
):
    """A transfer's release is one bulk write of two updates, not atomic: when
    only the source's lands, recovery releases the target's record too (else
    the target could never close)."""
    from app.models import ledger
    from app.models.account import AccountModel

    mine, theirs = setting
    real = ledger._release

    def half(records):
        if len(records) == 2:
            real(records[:1])
            raise faults.Crash("died mid bulk write")
        return real(records)

    monkeypatch.setattr(ledger, "_release", half)
    with pytest.raises(faults.Crash):
        client.post(
            "/transfers",
            headers=customer["headers"],
            json={"amount": "5.00", "to_account_number": theirs},
        )
    monkeypatch.undo()
    with app.app_context():
        assert AccountModel().find_by_number(theirs)["pending_entries"] != []
        stale = check_report()
    assert [p["code"] for p in stale["problems"]] == ["stale_pending"]
    assert "1 released" in recover(app)
    with app.app_context():
        assert AccountModel().find_by_number(theirs)["pending_entries"] == []
    assert check(app)["ok"]
    assert balances(app, mine, theirs) == (FUNDED - AMOUNT, AMOUNT)
