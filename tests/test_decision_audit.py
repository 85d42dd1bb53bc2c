"""Every decision is in the audit log with its actor exactly once, even when the
process dies after any write of it, the audit log's append included.

Each decision is cut short after each of its writes in turn (tests/faults.py,
counting the audit log's append too); then the job that finishes that kind of
work runs, and the log must hold the decision's entry once, with the actor who
decided, or not at all when the decision itself never landed. Approvals
(request, approve, reject, cancel, expiry), loans (application, approve,
reject, withdraw, disburse) and review closes (legitimate, fraud) are covered.
"""

from datetime import timedelta

import pytest
from bson import ObjectId

from app.controllers.jobs import context as job_context
from app.core import jobs
from app.db import get_db
from app.models import utc_now
from tests import faults
from tests.factories import fund

LARGE = {"amount": "10000.00"}
PRODUCT = {
    "name": "Personal loan", "annual_rate": "12.00", "min_amount": "500.00",
    "max_amount": "25000.00", "min_term_months": 1, "max_term_months": 60,
}  # fmt: skip


def entries(app, action: str, target: str) -> list[dict]:
    with app.app_context():
        return list(get_db()["audit_log"].find({"action": action, "target": target}))


def run_jobs(app, *names: str) -> None:
    """Run the jobs a stopped request leaves its work to, as a later pass would."""
    with app.app_context():
        context = job_context(utc_now() + timedelta(seconds=1))
        for name in names:
            jobs.run_job(name, context)


def crashing(app, crash_after: int | None, work):
    """Run ``work`` with the process dying after write ``crash_after`` (counting
    the audit log's); return the writes made. None: no crash, just count."""
    faulty = faults.install(app, crash_after=crash_after, audit=True)
    try:
        work()
    except faults.Crash:
        pass
    finally:
        faults.uninstall(app, faulty)
    return faulty.writes


def assert_audited_once(app, action: str, target: str, actor: str | None) -> None:
    found = entries(app, action, target)
    assert len(found) == 1, found
    assert found[0]["actor"] == actor
    with app.app_context():
        from app.models.audit import AuditModel

        assert AuditModel().verify()["valid"], "the entry verifies as written"


# -- approvals ----------------------------------------------------------------


@pytest.fixture
def asked(app, client, customer, other_customer) -> str:
    """A pending approval of carol's 10000.00 transfer to dave; its id."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    fund(app, customer["account"]["account_number"], 2_000_000)
    target = other_customer["account"]["account_number"]
    response = client.post("/transfers", headers=customer["headers"],
                           json={**LARGE, "to_account_number": target})  # fmt: skip
    assert response.status_code == 202
    return response.get_json()["approval"]["id"]


def status_of(app, approval_id: str) -> str:
    with app.app_context():
        return get_db()["approvals"].find_one({"_id": ObjectId(approval_id)})["status"]


def approval_decisions(client, banker, customer):
    return {
        "posted": ("approval_approved", "bernie", lambda approval_id: client.post(
            f"/banker/approvals/{approval_id}/approve", headers=banker["headers"])),
        "rejected": ("approval_rejected", "bernie", lambda approval_id: client.post(
            f"/banker/approvals/{approval_id}/reject", headers=banker["headers"],
            json={"reason": "Call the customer first."})),
        "cancelled": ("approval_cancelled", "carol", lambda approval_id: client.post(
            f"/approvals/{approval_id}/cancel", headers=customer["headers"])),
    }  # fmt: skip


APPROVAL_WRITES = {
    # pending -> rejected | cancelled, the reservation released, the entry.
    "rejected": 3,
    "cancelled": 3,
    # pending -> approving; the transfer under its work key (claim, hold, the
    # daily limit's reservation, debit spending the reservation, credit,
    # journal, release, the limit's confirmation, claim done); approving ->
    # posted (with its entry); the entry.
    "posted": 12,
}


@pytest.mark.parametrize("outcome", list(APPROVAL_WRITES))
def test_each_approval_decision_makes_the_listed_writes(
    app, client, customer, banker, asked, outcome
):
    _action, _actor, decide = approval_decisions(client, banker, customer)[outcome]
    writes = crashing(app, None, lambda: decide(asked))
    assert len(writes) == APPROVAL_WRITES[outcome], writes
    assert writes[-1] == ("audit_log", "insert_many"), "the entry is the last write"


@pytest.mark.parametrize(
    "outcome, crash_after",
    [(outcome, n) for outcome, count in APPROVAL_WRITES.items()
     for n in range(count + 1)],
)  # fmt: skip
def test_an_approval_decision_cut_short_is_audited_once_with_its_actor(
    app, client, customer, banker, asked, outcome, crash_after
):
    action, actor, decide = approval_decisions(client, banker, customer)[outcome]
    crashing(app, crash_after, lambda: decide(asked))
    run_jobs(app, "ledger_recovery", "approvals")
    if status_of(app, asked) == "pending_approval":
        assert crash_after == 0  # the decision never landed: nothing to audit
        assert entries(app, action, asked) == []
        return
    assert status_of(app, asked) == outcome
    assert_audited_once(app, action, asked, actor)
    run_jobs(app, "approvals")  # a second pass logs nothing twice
    assert_audited_once(app, action, asked, actor)


@pytest.mark.parametrize("crash_after", range(4))
def test_an_expiry_cut_short_is_audited_once(app, asked, crash_after):
    with app.app_context():
        get_db()["approvals"].update_one(
            {"_id": ObjectId(asked)}, {"$set": {"expires_at": utc_now()}}
        )
    crashing(app, crash_after, lambda: run_jobs(app, "approvals"))
    run_jobs(app, "approvals")
    assert status_of(app, asked) == "expired"
    assert_audited_once(app, "approval_expired", asked, None)


@pytest.mark.parametrize("crash_after", range(6))
def test_an_approval_request_cut_short_is_audited_once_or_not_asked(
    app, client, customer, other_customer, crash_after
):
    fund(app, customer["account"]["account_number"], 2_000_000)
    ask = {**LARGE, "to_account_number": other_customer["account"]["account_number"]}
    crashing(app, crash_after, lambda: client.post(
        "/transfers", headers=customer["headers"], json=ask))  # fmt: skip
    run_jobs(app, "ledger_recovery", "approvals")
    with app.app_context():
        asked = [str(doc["_id"]) for doc in get_db()["approvals"].find({})]
    for approval_id in asked:
        assert_audited_once(app, "approval_requested", approval_id, "carol")
    assert len(asked) == (1 if crash_after >= 2 else 0)


# -- loans --------------------------------------------------------------------


@pytest.fixture
def loan(client, customer, banker) -> dict:
    product = client.post("/banker/loan-products", headers=banker["headers"],
                          json=PRODUCT).get_json()  # fmt: skip
    return client.post(
        "/loans", headers=customer["headers"],
        json={"product_id": product["id"], "amount": "1000.00", "term_months": 12},
    ).get_json()  # fmt: skip


def loan_status(app, loan_id: str) -> str:
    with app.app_context():
        return get_db()["loans"].find_one({"_id": ObjectId(loan_id)})["status"]


def loan_decisions(client, banker, customer):
    def post(path, headers, **kwargs):
        return lambda loan_id: client.post(f"{path}/{loan_id}/{kwargs.pop('to')}",
                                           headers=headers, **kwargs)  # fmt: skip

    return {
        "approved": ("loan_approved", "bernie", "submitted",
                     post("/banker/loans", banker["headers"], to="approve")),
        "rejected": ("loan_rejected", "bernie", "submitted",
                     post("/banker/loans", banker["headers"], to="reject",
                          json={"reason": "Too soon."})),
        "withdrawn": ("loan_withdrawn", "carol", "submitted",
                      post("/loans", customer["headers"], to="withdraw")),
        "active": ("loan_disbursed", "bernie", "approved",
                   post("/banker/loans", banker["headers"], to="disburse")),
    }  # fmt: skip


# The decision's write and its entry; a disbursement: the loan -> disbursing,
# the loan account (number, account), the work claim, the transfer's five, the
# claim done, the loan -> active (with its entry), the entry.
LOAN_WRITES = {"approved": 2, "rejected": 2, "withdrawn": 2, "active": 12}


@pytest.mark.parametrize("outcome", list(LOAN_WRITES))
def test_each_loan_decision_makes_the_listed_writes(
    app, client, customer, banker, loan, outcome
):
    _action, _actor, start, decide = loan_decisions(client, banker, customer)[outcome]
    if start == "approved":
        loan_decisions(client, banker, customer)["approved"][3](loan["id"])
    writes = crashing(app, None, lambda: decide(loan["id"]))
    assert len(writes) == LOAN_WRITES[outcome], writes
    assert writes[-1] == ("audit_log", "insert_many"), "the entry is the last write"


@pytest.mark.parametrize(
    "outcome, crash_after",
    [(outcome, n) for outcome, count in LOAN_WRITES.items() for n in range(count + 1)],
)
def test_a_loan_decision_cut_short_is_audited_once_with_its_actor(
    app, client, customer, banker, loan, outcome, crash_after
):
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    action, actor, start, decide = loan_decisions(client, banker, customer)[outcome]
    if start == "approved":
        loan_decisions(client, banker, customer)["approved"][3](loan["id"])
    crashing(app, crash_after, lambda: decide(loan["id"]))
    run_jobs(app, "ledger_recovery", "loan_interest")
    if loan_status(app, loan["id"]) == start:
        assert entries(app, action, loan["id"]) == []
        return
    assert loan_status(app, loan["id"]) == outcome
    assert_audited_once(app, action, loan["id"], actor)
    run_jobs(app, "loan_interest")
    assert_audited_once(app, action, loan["id"], actor)


@pytest.mark.parametrize("crash_after", range(5))
def test_a_loan_application_cut_short_is_audited_once_or_not_made(
    app, client, customer, banker, crash_after
):
    product = client.post("/banker/loan-products", headers=banker["headers"],
                          json=PRODUCT).get_json()  # fmt: skip
    crashing(app, crash_after, lambda: client.post(
        "/loans", headers=customer["headers"],
        json={"product_id": product["id"], "amount": "1000.00", "term_months": 12},
    ))  # fmt: skip
    run_jobs(app, "loan_interest")
    with app.app_context():
        made = [str(doc["_id"]) for doc in get_db()["loans"].find({})]
    for loan_id in made:
        assert_audited_once(app, "loan_applied", loan_id, "carol")


# -- review closes ---------------------------------------------------------------


@pytest.fixture
def review(app, client, customer, banker) -> str:
    """An open review of a large deposit into carol's account; its id."""
    fund(app, customer["account"]["account_number"], 600_000)
    items = client.get("/banker/reviews", headers=banker["headers"]).get_json()["items"]
    assert len(items) == 1
    return items[0]["id"]


def close(client, banker, review_id, outcome):
    return client.post(f"/banker/reviews/{review_id}/close", headers=banker["headers"],
                       json={"outcome": outcome})  # fmt: skip


# The close (with its entry), the entry; a fraud close: the close, the freeze,
# the freeze noted (with its entry), the two entries.
CLOSE_WRITES = {"legitimate": 2, "fraud": 4}


@pytest.mark.parametrize("outcome", list(CLOSE_WRITES))
def test_a_review_close_makes_the_listed_writes(app, client, banker, review, outcome):
    writes = crashing(app, None, lambda: close(client, banker, review, outcome))
    assert len(writes) == CLOSE_WRITES[outcome], writes


@pytest.mark.parametrize(
    "outcome, crash_after",
    [(outcome, n) for outcome, count in CLOSE_WRITES.items() for n in range(count + 1)],
)
def test_a_review_close_cut_short_is_audited_once_with_its_actor(
    app, client, customer, banker, review, outcome, crash_after
):
    crashing(app, crash_after, lambda: close(client, banker, review, outcome))
    run_jobs(app, "flag_movements")
    with app.app_context():
        stored = get_db()["reviews"].find_one({"_id": ObjectId(review)})
    if stored["status"] == "open":
        assert crash_after == 0
        assert entries(app, "review_closed", review) == []
        return
    assert_audited_once(app, "review_closed", review, "bernie")
    if outcome == "fraud":
        number = customer["account"]["account_number"]
        with app.app_context():
            account = get_db()["accounts"].find_one({"account_number": number})
        assert account["status"] == "frozen"
        freezes = entries(app, "account_status_changed", number)
        if crash_after == FREEZE_WRITTEN:
            # The window an account's status change leaves (PATCH
            # /banker/accounts has it too): the freeze landed and the process
            # died before noting it, so the job finds the account frozen and
            # cannot tell this close's freeze from anyone else's: it logs none.
            # The close itself is logged (above).
            assert len(freezes) <= 1
        else:
            assert_audited_once(app, "account_status_changed", number, "bernie")


# The fraud close's write after which the freeze has landed, not yet noted.
FREEZE_WRITTEN = 2
