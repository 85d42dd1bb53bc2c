"""Freezes, unfreezes and closes racing money movements: both legs or neither.

Three ways in: a status change landed deterministically before every read and
write a movement makes (alone, and combined with a crash at every write, then
recovery and the client's retry), and real threads hammering a live server with
the thread switch interval at 10 microseconds.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from bson import ObjectId

from app.commands import run_recovery
from app.controllers.ledger import check_report
from app.db import get_db
from app.models import ledger, ledger_recovery, utc_now
from app.models.account import EMPTY, AccountModel
from tests import faults
from tests.factories import fund
from tests.helpers import call

FUNDED = 1000
AMOUNT = "5.00"
AMOUNT_CENTS = 500


def set_status(status: str, account_id: ObjectId, close_needs_empty: bool = False):
    """A scheduled action: change an account's status as a banker's PATCH would.

    The PATCH is one guarded update from the status it read; a close also needs
    the account empty (app.models.account.EMPTY), so it may miss, as it would.
    """

    def action(database) -> None:
        query: dict = {"_id": account_id, "status": {"$ne": "closed"}}
        if close_needs_empty:
            query.update(EMPTY)
        database["accounts"].update_one(query, {"$set": {"status": status}})

    return action


def user_doc(app, user: dict) -> dict:
    with app.app_context():
        return get_db()["users"].find_one({"_id": ObjectId(user["id"])})


class Bench:
    """Fresh accounts per case, a keyed request, and the checks of one case."""

    def __init__(self, app, client, customer, other_customer, kind: str) -> None:
        self.app, self.client, self.kind = app, client, kind
        self.headers = customer["headers"]
        self.me = user_doc(app, customer["user"])
        self.them = user_doc(app, other_customer["user"])
        self.cases = 0

    def new_case(self) -> tuple[dict, dict | None]:
        """Open a funded source (and an empty target for a transfer)."""
        self.cases += 1
        with self.app.app_context():
            accounts = AccountModel()
            source = accounts.create(self.me, "USD", kind="savings")
            target = None
            if self.kind == "transfer":
                target = accounts.create(self.them, "USD")
        fund(self.app, source["account_number"], FUNDED)
        return source, target

    def send(self, source: dict, target: dict | None):
        body: dict = {
            "amount": AMOUNT,
            "description": f"race {self.cases}",
        }
        if self.kind == "transfer":
            body["from_account_number"] = source["account_number"]
            body["to_account_number"] = target["account_number"]
            path = "/transfers"
        else:
            body["account_number"] = source["account_number"]
            path = "/deposit" if self.kind == "deposit" else "/withdraw"
        headers = {**self.headers, "Idempotency-Key": f"race-{self.cases}"}
        return self.client.post(path, headers=headers, json=body)

    def finish(self, source: dict, target: dict | None) -> None:
        """Reconcile, then drop the case's documents: each case starts small."""
        report = check(self.app)
        assert report["ok"], report["problems"]
        assert report["balanced"]
        ids = [account["_id"] for account in (source, target) if account]
        with self.app.app_context():
            db = get_db()
            db["transactions"].delete_many({"account_id": {"$in": ids}})
            db["accounts"].delete_many({"_id": {"$in": ids}})
            db["idempotency_keys"].delete_many({})
            db["audit_log"].delete_many({})

    def read(self, account: dict | None) -> dict | None:
        if account is None:
            return None
        with self.app.app_context():
            return AccountModel().find_by_id(account["_id"])

    def legs(self, source: dict) -> list[dict]:
        with self.app.app_context():
            return list(
                get_db()["transactions"].find(
                    {"description": f"race {self.cases}"}, sort=[("type", 1)]
                )
            )

    def delta(self) -> int:
        return {"deposit": AMOUNT_CENTS, "withdrawal": -AMOUNT_CENTS}.get(
            self.kind, -AMOUNT_CENTS
        )

    def moved(self, source: dict, target: dict | None) -> bool:
        """Both legs or neither: tell which, failing on anything in between."""
        src, tgt = self.read(source), self.read(target)
        legs = self.legs(source)
        source_moved = src["balance_cents"] - FUNDED
        assert source_moved in (0, self.delta()), (src, legs)
        if tgt is not None:
            assert tgt["balance_cents"] == -source_moved, (src, tgt, legs)
        for account in (src, tgt):
            if account is not None:
                assert account["pending_entries"] == [] and account["holds"] == []
        # Each attempt (a retry after an undone one is a new movement) is
        # wholly posted or wholly refused/undone; one posted if money moved.
        attempts: dict = {}
        for leg in legs:
            attempts.setdefault(leg["transfer_id"] or leg["_id"], set()).add(
                leg["status"]
            )
        assert all(
            statuses == {"posted"} or not statuses & {"posted", "pending"}
            for statuses in attempts.values()
        ), legs
        posted = sum(1 for statuses in attempts.values() if statuses == {"posted"})
        assert posted == (1 if source_moved else 0), legs
        return bool(source_moved)


def check(app) -> dict:
    with app.app_context():
        return check_report()


def count_ops(bench: Bench) -> int:
    """The number of database calls one undisturbed keyed movement makes."""
    source, target = bench.new_case()
    scheduled = faults.schedule(bench.app)
    try:
        assert bench.send(source, target).status_code == 201
    finally:
        bench.app.extensions["mongo_db"] = scheduled._database
    return len(scheduled.ops)


def schedules(kind: str, ops: int) -> list[tuple[str, str, dict]]:
    """Every status change a case lands: (start status, side, {op: action})."""
    sides = ["source", "target"] if kind == "transfer" else ["source"]
    plans = []
    for side in sides:
        for a in range(ops + 1):
            plans.append(("active", side, {a: "frozen"}))
            plans.append(("frozen", side, {a: "active"}))
            plans.append(("active", side, {a: "closed"}))
            for b in range(a + 1, ops + 1):
                plans.append(("active", side, {a: "frozen", b: "active"}))
                plans.append(("frozen", side, {a: "active", b: "frozen"}))
    return plans


def start_frozen(bench: Bench, account: dict) -> None:
    with bench.app.app_context():
        get_db()["accounts"].update_one(
            {"_id": account["_id"]}, {"$set": {"status": "frozen"}}
        )


@pytest.mark.parametrize("kind", ["transfer", "deposit", "withdrawal"])
def test_a_status_change_before_any_database_call_never_splits_a_movement(
    app, client, customer, other_customer, kind
):
    """A freeze, unfreeze or close lands before each read and write, alone and
    in pairs: the movement is answered 201 with both legs, or 409 with neither,
    and its retry replays that answer and moves nothing."""
    bench = Bench(app, client, customer, other_customer, kind)
    ops = count_ops(bench)
    outcomes: dict = {}
    for start, side, plan in schedules(kind, ops):
        source, target = bench.new_case()
        account = source if side == "source" else target
        if start == "frozen":
            start_frozen(bench, account)
        actions = {
            op: set_status(status, account["_id"], close_needs_empty=True)
            for op, status in plan.items()
        }
        scheduled = faults.schedule(app, actions)
        try:
            response = bench.send(source, target)
        finally:
            app.extensions["mongo_db"] = scheduled._database
        assert response.status_code in (201, 409), (plan, response.get_json())
        moved = bench.moved(source, target)
        assert moved == (response.status_code == 201), (plan, response.get_json())
        if not moved:
            assert response.get_json()["code"] in ("account_frozen", "account_closed")
        retry = bench.send(source, target)
        assert retry.data == response.data
        assert retry.headers["Idempotency-Replayed"] == "true"
        assert bench.moved(source, target) == moved
        bench.finish(source, target)
        outcomes[moved] = outcomes.get(moved, 0) + 1
    # The enumeration reached both outcomes many times over.
    assert outcomes[True] > 10 and outcomes[False] > 10, outcomes


TRANSFER_WRITES = 10  # claim, 8 protocol writes, key done (see test_ledger)
SINGLE_WRITES = 6


@pytest.mark.parametrize("kind", ["transfer", "withdrawal"])
def test_a_crash_at_every_write_with_a_freeze_landing_anywhere_is_settled(
    app, client, customer, other_customer, kind
):
    """The crash enumeration, with a freeze (or an unfreeze) of either side
    landing before any database call up to the crash: recovery finishes or undoes
    the movement, never half, and the retry moves money exactly once."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    bench = Bench(app, client, customer, other_customer, kind)
    ops = count_ops(bench)
    writes = TRANSFER_WRITES if kind == "transfer" else SINGLE_WRITES
    sides = ["source", "target"] if kind == "transfer" else ["source"]
    cases = 0
    for crash_after in range(writes + 1):
        for side in sides:
            for at in range(ops + 1):
                for start, change in (("active", "frozen"), ("frozen", "active")):
                    source, target = bench.new_case()
                    account = source if side == "source" else target
                    if start == "frozen":
                        start_frozen(bench, account)
                    scheduled = faults.schedule(
                        app, {at: set_status(change, account["_id"])}
                    )
                    faults.install(app, crash_after=crash_after)
                    try:
                        response = bench.send(source, target)
                        crashed = False
                    except faults.Crash:
                        crashed = True
                    finally:
                        app.extensions["mongo_db"] = scheduled._database
                    # Unfired (the crash came first), it is the plain crash case.
                    cases += bool(scheduled.fired)
                    if not crashed:
                        assert response.status_code in (201, 409)
                    with app.app_context():
                        assert run_recovery()  # never raises
                    moved = bench.moved(source, target)
                    # Unfreeze, so the retry can run if nothing moved.
                    set_status("active", account["_id"])(
                        app.extensions["mongo_db"]
                    )
                    retry = bench.send(source, target)
                    # A crashed request's retry is answered from its settled
                    # (or stored) outcome, or runs afresh on the active accounts.
                    if retry.headers.get("Idempotency-Replayed") != "true":
                        assert retry.status_code == 201, retry.get_json()
                    after = bench.moved(source, target)
                    assert after == (retry.status_code == 201)
                    assert after or not moved
                    bench.finish(source, target)
    assert cases > 50, cases


def test_recovery_reports_a_committed_leg_whose_hold_is_gone(
    app, customer, other_customer, caplog
):
    """A debit committed but the target's hold vanished (the protocol never
    does this; a hand edit of the database could): recovery does not guess.
    It credits nothing, logs and counts the movement, leaves the money where
    it is, and the ledger check names it; start-up still goes on."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    me, them = user_doc(app, customer["user"]), user_doc(app, other_customer["user"])
    with app.app_context():
        source = AccountModel().create(me, "USD", kind="savings")
        target = AccountModel().create(them, "USD")
    fund(app, source["account_number"], FUNDED)
    with app.app_context():
        source = AccountModel().find_by_id(source["_id"])
        now = utc_now()
        out_id, in_id = ObjectId(), ObjectId()
        out_entry = ledger._new_entry(
            source, "transfer_out", 300, None, out_id, now,
            counterparty=target["account_number"], transfer_id=out_id, pair_id=in_id,
        )  # fmt: skip
        in_entry = ledger._new_entry(
            target, "transfer_in", 300, None, in_id, now,
            counterparty=source["account_number"], transfer_id=out_id, pair_id=out_id,
        )  # fmt: skip
        ledger._commit(source, out_entry, pair=in_entry)  # debited; no hold exists
        assert "1 could not be settled" in run_recovery()
        assert "1 could not be settled" in run_recovery()
        assert AccountModel().find_by_id(target["_id"])["balance_cents"] == 0
        assert AccountModel().find_by_id(source["_id"])["balance_cents"] == 700
        report = check_report()
    assert "neither hold nor credit" in caplog.text
    # Stale, and named; the books still balance (the money is in transit).
    assert [p["code"] for p in report["problems"]] == ["stale_pending"]
    assert report["balanced"]


def test_recovery_logs_and_skips_a_movement_it_cannot_settle(
    app, customer, monkeypatch, caplog
):
    """One movement that settle() cannot handle must not stop the others (or
    the app's start-up): it stays as it is, is logged and counted."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    number = customer["account"]["account_number"]
    real_settle = ledger_recovery._settle
    broken: list = []

    def flaky(movement_id):
        if not broken:
            broken.append(movement_id)
            raise RuntimeError("odd state")
        return real_settle(movement_id)

    with app.app_context():
        for _ in range(2):
            account = AccountModel().find_by_number(number)
            entry = ledger._new_entry(
                account, "deposit", 100, None, ObjectId(), utc_now()
            )
            ledger._commit(account, entry)  # committed, never journalled
        monkeypatch.setattr(ledger_recovery, "_settle", flaky)
        text = run_recovery()
        journalled = get_db()["transactions"].count_documents({"type": "deposit"})
        left = AccountModel().find_by_number(number)["pending_entries"]
    assert "1 could not be settled" in text
    assert "1 finished" in text
    assert journalled == 1
    assert [record["id"] for record in left] == broken
    assert "could not settle movement" in caplog.text


# -- threads ------------------------------------------------------------------


ROUNDS = 3
SENDERS = 6
PER_SENDER = 25


def send(server: str, customer: dict, source: dict, number: str, codes: list):
    """Pay 0.01 into ``number`` PER_SENDER times; note each answer."""
    for _ in range(PER_SENDER):
        status, body = call(
            server,
            "POST",
            "/transfers",
            customer["headers"],
            {
                "from_account_number": source["account_number"],
                "to_account_number": number,
                "amount": "0.01",
            },
        )
        codes.append((status, body.get("code")))


def set_remotely(server: str, banker: dict, number: str, status: str) -> None:
    """A banker's PATCH of an account's status, over HTTP."""
    code, body = call(
        server, "PATCH", f"/banker/accounts/{number}", banker["headers"],
        {"status": status},
    )  # fmt: skip
    assert code in (200, 409), body


def flip(server: str, banker: dict, number: str, first: str, stop) -> None:
    """Flip an account between frozen and active until ``stop`` is set."""
    wanted = first
    while not stop.is_set():
        set_remotely(server, banker, number, wanted)
        wanted = "active" if wanted == "frozen" else "frozen"


def test_transfers_racing_freezes_unfreezes_and_a_close_never_lose_money(
    app, customer, other_customer, banker, server, fast_switching
):
    """The attack, made harder: six senders pay 0.01 into one account while two
    bankers flip it between frozen and active and a third tries to close it."""
    me = user_doc(app, customer["user"])
    them = user_doc(app, other_customer["user"])
    with app.app_context():
        sources = [
            AccountModel().create(me, "USD", kind="savings") for _ in range(SENDERS)
        ]
    for source in sources:
        fund(app, source["account_number"], 100_000)
    statuses: dict = {}
    for round_ in range(ROUNDS):
        with app.app_context():
            target = AccountModel().create(them, "USD")
        number = target["account_number"]
        stop = threading.Event()
        codes: list = []
        with ThreadPoolExecutor(SENDERS + 3) as pool:
            flippers = [
                pool.submit(flip, server, banker, number, first, stop)
                for first in ("frozen", "active")
            ]
            closer = None
            if round_ == ROUNDS - 1:  # early, while the account may be empty
                closer = pool.submit(set_remotely, server, banker, number, "closed")
            senders = [
                pool.submit(send, server, customer, source, number, codes)
                for source in sources
            ]
            for future in senders:
                future.result()
            stop.set()
            for future in flippers + ([closer] if closer else []):
                future.result()
        assert all(status < 500 for status, _code in codes), codes
        succeeded = sum(1 for status, _code in codes if status == 201)
        refused = {code for status, code in codes if status != 201}
        assert refused <= {"account_frozen", "account_closed", "ledger_busy"}, refused
        with app.app_context():
            final = AccountModel().find_by_id(target["_id"])
        assert final["balance_cents"] == succeeded
        assert final["holds"] == [] and final["pending_entries"] == []
        if final["status"] == "closed":
            assert succeeded == 0
        statuses[round_] = (succeeded, len(codes) - succeeded)
    with app.app_context():
        total = sum(
            AccountModel().find_by_id(s["_id"])["balance_cents"] for s in sources
        )
        paid = sum(
            a["balance_cents"]
            for a in get_db()["accounts"].find({"user_id": them["_id"]})
        )
    assert total + paid == SENDERS * 100_000
    report = check(app)
    assert report["ok"], report["problems"]
    # Both outcomes happened: the race was really run.
    assert sum(ok for ok, _no in statuses.values()) > 0, statuses
    assert sum(no for _ok, no in statuses.values()) > 0, statuses
