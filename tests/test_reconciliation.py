"""flask ledger check / recover: a clean ledger passes, each kind of damage is named."""

from datetime import timedelta

import pytest
from bson import ObjectId

from app.db import get_db
from app.models import utc_now
from tests import faults
from tests.conftest import register
from tests.factories import fund


@pytest.fixture
def ledger_with_history(app, client, customer, other_customer):
    """Deposits, a withdrawal and a transfer between two customers."""
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 10000)
    client.post("/withdraw", headers=customer["headers"], json={"amount": "5.00"})
    response = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"to_account_number": theirs, "amount": "20.00"},
    )
    assert response.status_code == 201
    return mine, theirs


def run(app, *args):
    return app.test_cli_runner().invoke(args=["ledger", *args])


def test_check_passes_on_a_clean_ledger(app, ledger_with_history):
    result = run(app, "check")
    assert result.exit_code == 0, result.output
    assert "ledger check: 2 accounts, 4 entries, 1 transfers" in result.output
    assert "total balance 95.00 USD" in result.output
    assert "OK: every balance matches its journal" in result.output


def tamper_balance(app, number):
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$inc": {"balance_cents": 1}}
        )


def tamper_negative(app, number):
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$set": {"balance_cents": -100}}
        )


def tamper_history(app, number):
    with app.app_context():
        get_db()["transactions"].update_one(
            {"account_number": number, "type": "withdrawal"},
            {"$inc": {"balance_after_cents": 7}},
        )


def tamper_sequence(app, number):
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$inc": {"entry_seq": 1}}
        )


def tamper_transfer_leg(app, number):
    with app.app_context():
        get_db()["transactions"].delete_one({"type": "transfer_in"})


def tamper_transfer_amount(app, number):
    with app.app_context():
        get_db()["transactions"].update_one(
            {"type": "transfer_in"}, {"$inc": {"amount_cents": 1, "delta_cents": 1}}
        )


def tamper_stale(app, number):
    """A transfer held an hour ago and never finished nor voided."""
    with app.app_context():
        account = get_db()["accounts"].find_one({"account_number": number})
        hold = {"id": ObjectId(), "out": ObjectId(), "source": ObjectId(),
                "cents": 1, "at": utc_now() - timedelta(hours=1)}  # fmt: skip
        get_db()["accounts"].update_one(
            {"_id": account["_id"]}, {"$push": {"holds": hold}}
        )


def tamper_hold(app, number):
    """A hold, an hour old, for a leg that is in the journal already."""
    with app.app_context():
        leg = get_db()["transactions"].find_one({"type": "transfer_in"})
        hold = {"id": leg["_id"], "out": leg["transfer_id"], "source": ObjectId(),
                "cents": leg["amount_cents"],
                "at": utc_now() - timedelta(hours=1)}  # fmt: skip
        get_db()["accounts"].update_one(
            {"_id": leg["account_id"]}, {"$push": {"holds": hold}}
        )


@pytest.mark.parametrize(
    "tamper, code",
    [
        (tamper_balance, "balance_mismatch"),
        (tamper_negative, "negative_balance"),
        (tamper_history, "history_break"),
        (tamper_sequence, "sequence_mismatch"),
        (tamper_transfer_leg, "transfer_legs"),
        (tamper_transfer_amount, "transfer_unbalanced"),
        (tamper_stale, "stale_pending"),
        (tamper_hold, "orphan_hold"),
    ],
)
def test_check_names_each_discrepancy_and_exits_1(
    app, client, banker, ledger_with_history, tamper, code
):
    mine, _theirs = ledger_with_history
    tamper(app, mine)
    result = run(app, "check")
    assert result.exit_code == 1
    assert "FAILED:" in result.output
    assert f"  {code} " in result.output
    body = client.get("/banker/ledger/check", headers=banker["headers"]).get_json()
    assert body["ok"] is False
    assert code in {problem["code"] for problem in body["problems"]}


def test_recover_command_settles_and_is_idempotent(app, client, customer):
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    number = customer["account"]["account_number"]
    fund(app, number, 1000)
    # Without a key a deposit writes: commit, journal, release. Leave one
    # committed only and one journalled but not released; and a transfer
    # held and never debited.
    for crash_after in (1, 2):
        faulty = faults.install(app, crash_after=crash_after)
        with pytest.raises(faults.Crash):
            client.post("/deposit", headers=customer["headers"], json={"amount": 1})
        faults.uninstall(app, faulty)
    target = register(client, "dave")["account"]["account_number"]
    faulty = faults.install(app, crash_after=1)
    with pytest.raises(faults.Crash):
        client.post("/transfers", headers=customer["headers"],
                    json={"amount": 1, "to_account_number": target})  # fmt: skip
    faults.uninstall(app, faulty)
    result = run(app, "recover")
    assert result.exit_code == 0
    assert "1 finished, 1 undone, 1 released" in result.output
    assert run(app, "check").exit_code == 0
    again = run(app, "recover")
    assert "0 finished, 0 undone, 0 released, 0 idempotency keys" in again.output


def test_records_and_holds_of_the_previous_protocol_are_reported_not_fatal(
    app, customer
):
    """The protocol before this one kept records without their entry and holds
    as bare ids (docs/operations.md's upgrade note): reported, start-up goes on."""
    number = customer["account"]["account_number"]
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number},
            {"$push": {"pending_entries": {"id": ObjectId(), "seq": 9,
                                           "balance_after": 1},
                       "holds": ObjectId()}},
        )  # fmt: skip
    text = run(app, "recover").output
    assert "1 could not be settled" in text
    result = run(app, "check")
    assert result.exit_code == 1
    assert "  unreadable_record " in result.output
    assert "  unreadable_hold " in result.output


class MovingDatabase:
    """A real server's cursor is no snapshot: accounts read later show later
    writes. Reads the accounts one by one, ``first`` first, and runs ``move``
    after the first one."""

    def __init__(self, database, first, move) -> None:
        self.database, self.first, self.move = database, first, move

    def __getitem__(self, name):
        collection = self.database[name]
        if name != "accounts":
            return collection
        owner = self

        class Accounts:
            def find(self, *args, **kwargs):
                ids = [doc["_id"] for doc in collection.find({}, {"_id": 1})]
                ids.sort(key=lambda i: i != owner.first)
                for index, account_id in enumerate(ids):
                    if index == 1:
                        owner.move()
                    yield collection.find_one({"_id": account_id})

        return Accounts()


@pytest.mark.parametrize("kind", ["transfer", "deposit"])
def test_a_movement_during_the_check_is_no_discrepancy(
    app, customer, other_customer, monkeypatch, kind
):
    """Each account is judged as of its own read: a movement that lands between
    the reads (or before the journal is read) is not reported."""
    from app.models import ledger, reconciliation
    from app.models.account import AccountModel

    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 1000)

    def move():
        if kind == "transfer":
            ledger.transfer(AccountModel().find_by_number(mine), theirs, 100, None)
        else:
            ledger.deposit(AccountModel().find_by_number(theirs), 100, None)

    with app.app_context():
        target = AccountModel().find_by_number(theirs)
        real = get_db()
        monkeypatch.setattr(
            reconciliation, "get_db", lambda: MovingDatabase(real, target["_id"], move)
        )
        report = reconciliation.check(utc_now() - timedelta(minutes=1))
        monkeypatch.undo()
        after = reconciliation.check(utc_now() - timedelta(minutes=1))
    assert report["problems"] == []
    assert report["balanced"]
    assert after["ok"] and after["balanced"]
