"""The audit feed: every posted movement gets its audit entry, once, however late."""

from datetime import timedelta

from app.core import audit_feed
from app.core.recovery import feed_overlap
from app.db import get_db
from app.models import ledger
from app.models.account import AccountModel
from tests.factories import fund

ORIGIN = {"actor": "carol", "ip": "192.0.2.7", "request_id": "req-1"}


def test_an_entry_journalled_late_is_still_audited(app, customer, monkeypatch):
    """A request takes its posting time, then stalls past the overlap before its
    journal insert while sweeps run: the feed's position waits for it."""
    overlap = feed_overlap(app.config["LEDGER_PENDING_TIMEOUT"])
    real = ledger._insert_once

    def stalled(docs):
        if docs[0]["status"] == "posted":  # sweeps run while this one stalls
            audit_feed.catch_up(overlap, now=docs[0]["posted_at"] + 3 * overlap)
        return real(docs)

    with app.app_context():
        account = AccountModel().find_by_number(customer["account"]["account_number"])
        monkeypatch.setattr(ledger, "_insert_once", stalled)
        entry = ledger.deposit(account, 700, "stalled", origin=ORIGIN)
        monkeypatch.undo()
        written = audit_feed.catch_up(overlap, now=entry["posted_at"] + 4 * overlap)
        stored = get_db()["audit_log"].find_one({"_id": entry["_id"]})
    assert written == 1
    assert stored["action"] == "deposit" and stored["actor"] == "carol"
    assert (stored["ip"], stored["request_id"]) == ("192.0.2.7", "req-1")


def test_sweeps_write_each_movement_once_and_move_forward(app, customer):
    number = customer["account"]["account_number"]
    overlap = timedelta(minutes=3)
    for _ in range(3):
        fund(app, number, 100)
    with app.app_context():
        assert audit_feed.catch_up(overlap) == 3
        assert audit_feed.catch_up(overlap) == 0
        account = AccountModel().find_by_number(number)
        ledger.withdraw(account, 50, None, origin=ORIGIN)
        assert audit_feed.catch_up(overlap) == 1
        actions = sorted(d["action"] for d in get_db()["audit_log"].find(
            {"details.movement_id": {"$exists": True}}))  # fmt: skip
        position = get_db()["feeds"].find_one({"_id": audit_feed.FEED})["position"]
    assert actions == ["deposit", "deposit", "deposit", "withdrawal"]
    assert position is not None


def test_a_bank_movement_has_no_actor(app, customer):
    """No origin (a script, the job runner): the entry names no customer."""
    fund(app, customer["account"]["account_number"], 100)
    with app.app_context():
        audit_feed.catch_up(timedelta(minutes=3))
        (entry,) = get_db()["audit_log"].find({"action": "deposit"})
    assert entry["actor"] is None
