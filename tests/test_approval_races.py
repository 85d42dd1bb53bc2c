"""Approvals under races and crashes: each reaches exactly one outcome, money
moves at most once, and no reservation is left behind.

Races go through a threaded server (every decider at once on one approval;
withdrawals racing a reservation). Crashes use tests/faults.py: the request
that asks, the approval and the failed approval each die after every one of
their writes, then recovery, the job and the client's retry finish the work.
"""

import functools
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId

from app.commands import run_recovery
from app.controllers import spending_rules
from app.controllers.ledger import check_report
from app.core import approvals
from app.db import get_db
from app.models import utc_now
from app.models.account import AccountModel
from tests import faults
from tests.conftest import PASSWORD
from tests.factories import auth_headers, balance_cents, fund, make_user
from tests.helpers import call
from tests.test_ledger import OUTGOING

FUNDS = 1_500_000  # 15000.00
CENTS = 1_000_000  # the 10000.00 asked for
ASK = "10000.00"
OUTCOMES = {"posted", "rejected", "cancelled", "expired", "failed"}
ROUNDS = 12


@pytest.fixture
def bank(app, customer, other_customer):
    """Carol funded with 15000.00, dave's account to pay, a banker; no daily
    limit in the way (the races post up to ROUNDS approvals in one day)."""
    app.config["DAILY_OUT_LIMIT"] = Decimal("1000000.00")
    mine = customer["account"]["account_number"]
    fund(app, mine, FUNDS)
    banker = make_user(app, "bernie", PASSWORD, role="banker")
    return {
        "mine": mine,
        "theirs": other_customer["account"]["account_number"],
        "customer": customer["headers"],
        "banker": auth_headers(app, banker),
    }


def ask(client, bank, key: str | None = None):
    headers = dict(bank["customer"])
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/transfers",
        headers=headers,
        json={"to_account_number": bank["theirs"], "amount": ASK},
    )


def stored(app, approval_id) -> dict:
    with app.app_context():
        return get_db()["approvals"].find_one({"_id": ObjectId(str(approval_id))})


def account(app, number: str) -> dict:
    with app.app_context():
        return AccountModel().find_by_number(number)


def posted_out(app, number: str) -> int:
    with app.app_context():
        return get_db()["transactions"].count_documents(
            {"account_number": number, "type": "transfer_out", "status": "posted"}
        )


def job(app, seconds_later: float = 1):
    """Run the approvals job as if ``seconds_later`` from now."""
    with app.app_context():
        later = utc_now() + timedelta(seconds=seconds_later)
        return approvals.run_job(later, spending_rules())


def outcome_audits(app, approval_id) -> list[str]:
    with app.app_context():
        return [
            entry["action"]
            for entry in get_db()["audit_log"].find({"target": str(approval_id)})
            if entry["action"] != "approval_requested"
        ]


def assert_settled(
    app, bank, approval_ids, funds=FUNDS, crashed: bool = False
) -> Counter:
    """Every approval has one outcome (audited once), money moved once per posted
    one and never otherwise, no reservation is left, and the books balance.

    ``crashed``: a crash right after the outcome's write loses its audit entry
    (the movement's own entry comes from the journal): at most one, then.
    """
    outcomes = Counter(stored(app, a)["status"] for a in approval_ids)
    assert set(outcomes) <= OUTCOMES, outcomes
    for approval_id in approval_ids:
        audits = len(outcome_audits(app, approval_id))
        assert audits == 1 or (crashed and audits == 0), approval_id
    moved = outcomes["posted"]
    assert posted_out(app, bank["mine"]) == moved
    assert balance_cents(app, bank["mine"]) == funds - moved * CENTS
    assert balance_cents(app, bank["theirs"]) == moved * CENTS
    mine = account(app, bank["mine"])
    assert mine["reservations"] == [] and mine["reserved_cents"] == 0
    with app.app_context():
        report = check_report()
    assert report["ok"] and report["balanced"], report
    return outcomes


# -- races ------------------------------------------------------------------------

# Eight deciders at once on one approval.
DECIDERS = ["approve", "approve", "approve", "reject", "reject", "cancel", "cancel",
            "expire"]  # fmt: skip


# What a decider's 200 leads to.
WINS = {"approve": {"posted", "failed"}, "reject": {"rejected"},
        "cancel": {"cancelled"}}  # fmt: skip


def decide(
    app, server, bank, approval_id: str, who: str, spin: int = 0, *, start
) -> int | str:
    """One decider: after the barrier, ``spin`` idle steps (a seeded stagger,
    so that each kind of decider gets to arrive first), then its decision."""
    start.wait(10)
    for _ in range(spin):
        pass
    if who == "expire":  # the job, on a clock past the approval's expiry
        ran = job(app, app.config["APPROVAL_TTL_SECONDS"] + 1)
        return f"job:{ran.done}"
    if who == "cancel":
        path, headers = f"/approvals/{approval_id}/cancel", bank["customer"]
    else:
        path, headers = f"/banker/approvals/{approval_id}/{who}", bank["banker"]
    status, body = call(server, "POST", path, headers, {"reason": "No"}
                        if who == "reject" else {})  # fmt: skip
    assert status in (200, 409, 503), body
    return status


def test_eight_deciders_at_once_reach_exactly_one_outcome(
    app, client, server, bank, fast_switching, capsys
):
    fund(app, bank["mine"], (ROUNDS - 1) * CENTS)  # every round may post
    funds = FUNDS + (ROUNDS - 1) * CENTS
    ids = []
    stagger = random.Random(7)
    for _round in range(ROUNDS):
        approval_id = ask(client, bank).get_json()["approval"]["id"]
        start = threading.Barrier(len(DECIDERS))
        # The job runs in-process, an HTTP round trip ahead of the others.
        spins = [stagger.randrange(600_000 if who == "expire" else 60_000)
                 for who in DECIDERS]  # fmt: skip
        with ThreadPoolExecutor(max_workers=len(DECIDERS)) as pool:
            answers = list(pool.map(
                functools.partial(decide, app, server, bank, approval_id,
                                  start=start),
                DECIDERS, spins,
            ))  # fmt: skip
        job(app, 0)  # finish an approval whose approver lost its lease to the job
        ids.append(approval_id)
        outcome = stored(app, approval_id)["status"]
        # One decider won, and its answer says so; every other one was refused.
        # (An approver whose lease the job took answers 503; the job posts.)
        oks = [who for who, answer in zip(DECIDERS, answers, strict=True)
               if answer == 200]  # fmt: skip
        if oks:
            assert len(oks) == 1 and outcome in WINS[oks[0]], (answers, outcome)
        else:
            assert outcome in ("expired", "posted"), (answers, outcome)
    outcomes = assert_settled(app, bank, ids, funds)
    with capsys.disabled():
        print(f"\n8 deciders x {ROUNDS} rounds: outcomes {dict(outcomes)}")
    assert sum(outcomes.values()) == ROUNDS


def test_eight_bankers_approving_at_once_post_once(
    app, client, server, bank, fast_switching
):
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    start = threading.Barrier(8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(
            lambda _: decide(app, server, bank, approval_id, "approve", start=start),
            range(8),
        ))  # fmt: skip
    assert Counter(answers)[200] == 1, answers
    assert set(answers) <= {200, 409}, answers
    assert assert_settled(app, bank, [approval_id]) == {"posted": 1}


def withdraw_1000(server, bank, start) -> int:
    start.wait(10)
    status, body = call(server, "POST", "/withdraw", bank["customer"],
                        {"amount": "1000.00"})  # fmt: skip
    assert status in (201, 409), body
    if status == 409:
        assert body["code"] == "insufficient_funds", body
    return status


def test_parallel_withdrawals_never_spend_the_reserved_part(
    app, client, server, bank, fast_switching
):
    """15000.00 with 10000.00 reserved: of ten withdrawals of 1000.00 at once,
    exactly five pass; the approval then posts from what they left."""
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    start = threading.Barrier(10)
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: withdraw_1000(server, bank, start),
                                range(10)))  # fmt: skip
    assert Counter(answers) == {201: 5, 409: 5}
    mine = account(app, bank["mine"])
    assert mine["balance_cents"] == CENTS and mine["reserved_cents"] == CENTS
    status, done = call(server, "POST", f"/banker/approvals/{approval_id}/approve",
                        bank["banker"], {})  # fmt: skip
    assert status == 200 and done["status"] == "posted", done
    assert balance_cents(app, bank["mine"]) == 0


def test_withdrawals_racing_the_approval_leave_it_its_money(
    app, client, server, bank, fast_switching
):
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    start = threading.Barrier(11)

    def approve(_):
        start.wait(10)
        return call(server, "POST", f"/banker/approvals/{approval_id}/approve",
                    bank["banker"], {})  # fmt: skip

    with ThreadPoolExecutor(max_workers=11) as pool:
        approving = pool.submit(approve, None)
        withdrawals = [pool.submit(withdraw_1000, server, bank, start)
                       for _ in range(10)]  # fmt: skip
        answers = Counter(w.result() for w in withdrawals)
        status, done = approving.result()
    assert status == 200 and done["status"] == "posted", done
    assert answers == {201: 5, 409: 5}
    assert balance_cents(app, bank["mine"]) == 0
    assert account(app, bank["mine"])["reserved_cents"] == 0


def ask_at(server, bank, start) -> tuple[int, dict]:
    """Ask for 10000.00 to dave once ``start`` lets every thread go."""
    start.wait(10)
    return call(server, "POST", "/transfers", bank["customer"],
                {"to_account_number": bank["theirs"], "amount": ASK})  # fmt: skip


def test_asking_racing_withdrawals_never_spends_money_twice(
    app, client, server, bank, fast_switching
):
    """The reservation and the debits are compare-and-sets on the same account:
    whatever the interleaving, what was withdrawn plus what is reserved never
    exceeds the balance there was."""
    for _round in range(6):
        if balance_cents(app, bank["mine"]) < FUNDS:
            fund(app, bank["mine"], FUNDS - balance_cents(app, bank["mine"]))
        start = threading.Barrier(11)
        with ThreadPoolExecutor(max_workers=11) as pool:
            asking = pool.submit(ask_at, server, bank, start)
            withdrawals = [pool.submit(withdraw_1000, server, bank, start)
                           for _ in range(10)]  # fmt: skip
            passed = Counter(w.result() for w in withdrawals)[201]
            status, body = asking.result()
        mine = account(app, bank["mine"])
        reserved = CENTS if status == 202 else 0
        assert status in (202, 409), body
        assert passed * 100_000 + reserved <= FUNDS
        assert mine["balance_cents"] == FUNDS - passed * 100_000
        assert mine["reserved_cents"] == reserved
        assert mine["balance_cents"] - mine["reserved_cents"] >= 0
        if status == 202:
            call(server, "POST", f"/approvals/{body['approval']['id']}/cancel",
                 bank["customer"], {})  # fmt: skip


def test_a_reservation_landing_before_a_debits_commit_point_refuses_the_debit(
    app, client, bank
):
    """Deterministic: a withdrawal reads the account, then a request reserves
    10000.00 of the 15000.00 (without changing the balance or the entry count),
    then the withdrawal's commit point runs. It is guarded by the reservations
    as read, so it reads again and refuses; unguarded, it would spend reserved
    money."""
    mine = account(app, bank["mine"])
    dry = faults.schedule(app)
    client.post("/withdraw", headers=bank["customer"], json={"amount": "0.01"})
    app.extensions["mongo_db"] = dry._database
    commit = dry.ops.index(("accounts", "update_one"))

    def reserve_meanwhile(database):
        database["accounts"].update_one(
            {"_id": mine["_id"]},
            {"$inc": {"reserved_cents": CENTS},
             "$push": {"reservations": {"id": ObjectId(), "cents": CENTS,
                                        "at": utc_now()}}},
        )  # fmt: skip

    scheduled = faults.schedule(app, {commit: reserve_meanwhile})
    response = client.post("/withdraw", headers=bank["customer"],
                           json={"amount": "6000.00"})  # fmt: skip
    app.extensions["mongo_db"] = scheduled._database
    assert scheduled.fired == [commit]
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["code"] == "insufficient_funds"
    after = account(app, bank["mine"])
    assert after["balance_cents"] - after["reserved_cents"] >= 0


def test_a_debit_landing_before_a_reservation_refuses_the_reservation(
    app, client, bank
):
    """The other way round: the reservation read 15000.00, then 6000.00 left
    the account, then the reservation's own compare-and-set ran: it reads
    again and refuses, 9000.00 not covering 10000.00."""
    mine = account(app, bank["mine"])
    dry = faults.schedule(app)
    ask(client, bank)
    app.extensions["mongo_db"] = dry._database
    reserve = dry.ops.index(("accounts", "find_one_and_update"))
    with app.app_context():
        get_db()["approvals"].delete_many({})
        get_db()["accounts"].update_one(
            {"_id": mine["_id"]},
            {"$set": {"reserved_cents": 0, "reservations": []}},
        )

    def debit_meanwhile(database):
        database["accounts"].update_one(
            {"_id": mine["_id"]},
            {"$inc": {"balance_cents": -600_000, "entry_seq": 1}},
        )

    scheduled = faults.schedule(app, {reserve: debit_meanwhile})
    response = ask(client, bank)
    app.extensions["mongo_db"] = scheduled._database
    assert scheduled.fired == [reserve]
    assert response.status_code == 409, response.get_json()
    assert "balance 9000.00" in response.get_json()["detail"]
    after = account(app, bank["mine"])
    assert after["reserved_cents"] == 0


# -- crashes: asking --------------------------------------------------------------


def writes_of(app, request) -> tuple[list, object]:
    """Run ``request`` counting the database's writes; return them and its answer."""
    faulty = faults.install(app)
    try:
        answer = request()
    finally:
        faults.uninstall(app, faulty)
    return faulty.writes, answer


def crashing(app, crash_after: int, request) -> list:
    """Run ``request`` on a database that dies after write ``crash_after``
    (0: before any); return the writes it made."""
    faulty = faults.install(app, crash_after=crash_after)
    try:
        with pytest.raises(faults.Crash):
            request()
    finally:
        faults.uninstall(app, faulty)
    return faulty.writes


# The writes of a keyed request that asks for approval, in order.
WRITES_OF_ASKING = [
    ("idempotency_keys", "insert_one"),  # claim the key (its id: the approval's)
    ("accounts", "find_one_and_update"),  # the reservation on the source
    ("approvals", "insert_one"),  # the approval, pending
    ("idempotency_keys", "update_one"),  # the key done, with the 202
]


def test_the_writes_of_asking(app, client, bank):
    writes, answer = writes_of(app, lambda: ask(client, bank, key="writes"))
    assert answer.status_code == 202
    assert writes == WRITES_OF_ASKING


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_ASKING) + 1))
def test_a_keyed_request_crashing_after_any_write_is_answered_once_by_its_retry(
    app, client, bank, crash_after
):
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    writes = crashing(app, crash_after, lambda: ask(client, bank, key="crash"))
    assert writes == WRITES_OF_ASKING[:crash_after]
    retried = ask(client, bank, key="crash")
    assert retried.status_code == 202, retried.get_json()
    approval_id = retried.get_json()["approval"]["id"]
    again = ask(client, bank, key="crash")  # settled: replayed, never asked again
    assert again.get_json()["approval"]["id"] == approval_id
    with app.app_context():
        assert get_db()["approvals"].count_documents({}) == 1
    job(app)  # a reservation the crash left without its approval is released
    mine = account(app, bank["mine"])
    assert [r["id"] for r in mine["reservations"]] == [ObjectId(approval_id)]
    assert mine["reserved_cents"] == CENTS
    status = client.post(f"/banker/approvals/{approval_id}/approve",
                         headers=bank["banker"])  # fmt: skip
    assert status.get_json()["status"] == "posted"
    assert_settled(app, bank, [approval_id])


@pytest.mark.parametrize("crash_after", range(1, 3))
def test_an_unkeyed_request_crashing_leaves_nothing_the_job_does_not_release(
    app, client, bank, crash_after
):
    """Without a key there is no retry to settle it: the job releases a
    reservation left without its approval once it is stale."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    crashing(app, crash_after, lambda: ask(client, bank))
    job(app)
    with app.app_context():
        left = list(get_db()["approvals"].find())
    for approval in left:  # asked in full: still pending, still reserved
        assert approval["status"] == "pending_approval"
        client.post(f"/approvals/{approval['_id']}/cancel", headers=bank["customer"])
    assert len(left) == crash_after - 1
    assert_settled(app, bank, [a["_id"] for a in left])


def test_a_request_stalled_past_recovery_cannot_reserve_afterwards(app, bank):
    """The fence a settled claim puts on the owner's accounts refuses a
    reservation begun before it, like any movement of the stalled request."""
    from app.models import ledger
    from app.models.ledger_recovery import fence_owner

    with app.app_context():
        mine = AccountModel().find_by_number(bank["mine"])
        begun = utc_now() - timedelta(seconds=5)
        fence_owner(mine["user_id"], utc_now())
        with pytest.raises(ledger.LedgerRefusal) as refused:
            ledger.reserve(AccountModel().find_by_id(mine["_id"]), ObjectId(),
                           CENTS, begun)  # fmt: skip
    assert refused.value.reason is ledger.Refusal.EXPIRED
    assert account(app, bank["mine"])["reserved_cents"] == 0


# -- crashes: deciding ------------------------------------------------------------

# The writes of an approval that posts, in order.
WRITES_OF_APPROVING = [
    ("approvals", "find_one_and_update"),  # pending -> approving, under a lease
    ("idempotency_keys", "insert_one"),  # claim the work key approval:<id>
    *OUTGOING,  # the transfer, with its daily-limit count; the debit spends the
    #             reservation
    ("idempotency_keys", "update_one"),  # the work key done, with the movement
    ("approvals", "find_one_and_update"),  # approving -> posted, with its id
]


def approve(client, bank, approval_id):
    return client.post(f"/banker/approvals/{approval_id}/approve",
                       headers=bank["banker"])  # fmt: skip


def test_the_writes_of_approving(app, client, bank):
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    writes, answer = writes_of(app, lambda: approve(client, bank, approval_id))
    assert answer.get_json()["status"] == "posted"
    assert writes == WRITES_OF_APPROVING


def finish_after_crash(app, client, bank, approval_id) -> None:
    """What comes after a crash: recovery, the job, and (if it is still
    pending, the crash having come first) the banker's approve once more."""
    with app.app_context():
        run_recovery()
    job(app)
    if stored(app, approval_id)["status"] == "pending_approval":
        approve(client, bank, approval_id)
    job(app)


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_APPROVING) + 1))
def test_an_approval_crashing_after_any_write_posts_once(
    app, client, bank, crash_after
):
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    writes = crashing(app, crash_after, lambda: approve(client, bank, approval_id))
    assert writes == WRITES_OF_APPROVING[:crash_after]
    finish_after_crash(app, client, bank, approval_id)
    assert assert_settled(app, bank, [approval_id], crashed=True) == {"posted": 1}
    assert stored(app, approval_id)["transfer_id"] is not None


# The writes of an approval whose target was frozen meanwhile, in order.
WRITES_OF_FAILING = [
    ("approvals", "find_one_and_update"),  # pending -> approving
    ("idempotency_keys", "insert_one"),  # claim the work key
    ("accounts", "find_one_and_update"),  # the hold on the target: no match
    ("transactions", "insert_many"),  # both legs journalled rejected
    ("idempotency_keys", "delete_one"),  # the claim freed: nothing moved
    ("approvals", "find_one_and_update"),  # approving -> failed
    ("accounts", "update_one"),  # the reservation released
]


def freeze(app, number: str) -> None:
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$set": {"status": "frozen"}}
        )


def test_the_writes_of_failing(app, client, bank):
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    freeze(app, bank["theirs"])
    writes, answer = writes_of(app, lambda: approve(client, bank, approval_id))
    assert answer.get_json()["status"] == "failed"
    assert writes == WRITES_OF_FAILING


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_FAILING) + 1))
def test_a_failing_approval_crashing_after_any_write_fails_once_and_releases(
    app, client, bank, crash_after
):
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    freeze(app, bank["theirs"])
    writes = crashing(app, crash_after, lambda: approve(client, bank, approval_id))
    assert writes == WRITES_OF_FAILING[:crash_after]
    finish_after_crash(app, client, bank, approval_id)
    outcome = stored(app, approval_id)
    assert (outcome["status"], outcome["reason"]) == ("failed", "account_frozen")
    assert assert_settled(app, bank, [approval_id], crashed=True) == {"failed": 1}


@pytest.mark.parametrize("decision", ["reject", "cancel", "expire"])
def test_a_decision_crashing_before_its_release_is_released_by_the_job(
    app, client, bank, decision
):
    """Reject, cancel and expire are two writes: the state change, the release."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    approval_id = ask(client, bank).get_json()["approval"]["id"]
    decide = {
        "reject": lambda: client.post(f"/banker/approvals/{approval_id}/reject",
                                      headers=bank["banker"], json={"reason": "No"}),
        "cancel": lambda: client.post(f"/approvals/{approval_id}/cancel",
                                      headers=bank["customer"]),
        "expire": lambda: job(app, app.config["APPROVAL_TTL_SECONDS"] + 1),
    }[decision]  # fmt: skip
    assert crashing(app, 1, decide) == [("approvals", "find_one_and_update")]
    assert account(app, bank["mine"])["reserved_cents"] == CENTS  # not yet
    # The release the crash skipped, and the decision's audit entry it cut off.
    assert job(app).done == 2
    mine = account(app, bank["mine"])
    assert mine["reservations"] == [] and mine["reserved_cents"] == 0
    assert balance_cents(app, bank["mine"]) == FUNDS
