"""Loans under races and crashes: one outcome per decision, one disbursement,
never more repaid than owed, and a crash after any write of a disbursement or a
repayment finished or undone with the books balanced."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId

from app.commands import run_recovery
from app.controllers.ledger import check_report
from app.controllers.loans import loan_rules
from app.core import loans
from app.core.errors import AccountBusy, DomainError, InvalidState, Overpayment
from app.core.loans import Application, NewProduct
from app.core.movements import Caller
from app.db import get_db
from app.models import utc_now
from app.models.loan import LoanModel
from app.models.user import UserModel
from tests import faults
from tests.factories import balance_cents, fund, make_user

THREADS = 8
PRINCIPAL = 100_000


@pytest.fixture
def people(app, customer):
    banker = make_user(app, "bernie", "a banker's passphrase", role="banker")
    other = make_user(app, "bertha", "another banker's passphrase", role="banker")
    with app.app_context():
        carol = UserModel().find_by_username("carol")
    return carol, banker, other


@pytest.fixture
def product(app):
    with app.app_context():
        return loans.create_product(
            NewProduct(
                "Race loan", Decimal("12.00"), 50_000, 500_000, 1, 60
            )  # fmt: skip
        )


def submitted(app, carol, product, cents=PRINCIPAL) -> ObjectId:
    with app.app_context():
        state = loans.apply(Caller(carol), Application(str(product["_id"]), cents, 12),
                            rules=loan_rules())  # fmt: skip
    return state.doc["_id"]


def in_context(app, work):
    with app.app_context():
        return work()


def race(app, jobs: list) -> list:
    """Run each callable in its own thread, all released at once; return each
    outcome (its value, or the exception it raised)."""
    barrier = threading.Barrier(len(jobs))

    def run(work):
        with app.app_context():
            barrier.wait(10)
            try:
                return work()
            except Exception as error:  # noqa: BLE001 - the outcome under test
                return error

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def stored(app, loan_id):
    return in_context(app, lambda: LoanModel().find(loan_id))


def check(app) -> dict:
    return in_context(app, check_report)


def test_racing_decisions_reach_one_outcome(app, people, product):
    carol, banker, other = people
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    deciders = [
        lambda: loans.approve(Caller(banker), str(loan_id), rules=rules),
        lambda: loans.approve(Caller(other), str(loan_id), rules=rules),
        lambda: loans.reject(Caller(banker), str(loan_id), "no", rules=rules),
        lambda: loans.reject(Caller(other), str(loan_id), "no", rules=rules),
    ]
    outcomes = race(app, deciders * 2)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, InvalidState) for o in outcomes if o not in winners)
    assert stored(app, loan_id)["status"] == winners[0].doc["status"]


def test_racing_disbursements_pay_out_once(app, people, product):
    carol, banker, other = people
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    in_context(app, lambda: loans.approve(Caller(banker), str(loan_id), rules=rules))
    outcomes = race(app, [
        lambda who=who: loans.disburse(Caller(who), str(loan_id), rules=rules)
        for who in (banker, other) * (THREADS // 2)
    ])  # fmt: skip
    done = [o for o in outcomes if not isinstance(o, Exception)]
    assert 1 <= len(done), outcomes
    assert all(isinstance(o, InvalidState | AccountBusy) for o in outcomes
               if isinstance(o, Exception))  # fmt: skip
    number = carol_number(app, carol)
    assert balance_cents(app, number) == PRINCIPAL
    assert stored(app, loan_id)["status"] == "active"
    assert check(app)["ok"] and check(app)["balanced"]


def carol_number(app, carol) -> str:
    with app.app_context():
        return get_db()["accounts"].find_one({"_id": carol["_id"]})["account_number"]


def test_a_withdrawal_racing_a_disbursement_never_both(app, people, product):
    carol, banker, _other = people
    rules = in_context(app, loan_rules)
    for _round in range(6):
        loan_id = submitted(app, carol, product)
        in_context(
            app, lambda i=loan_id: loans.approve(Caller(banker), str(i), rules=rules)
        )
        before = balance_cents(app, carol_number(app, carol))
        race(app, [
            lambda i=loan_id: loans.disburse(Caller(banker), str(i), rules=rules),
            lambda i=loan_id: loans.withdraw(Caller(carol), str(i), rules=rules),
        ])  # fmt: skip
        status = stored(app, loan_id)["status"]
        moved = balance_cents(app, carol_number(app, carol)) - before
        assert (status, moved) in (("active", PRINCIPAL), ("withdrawn", 0)), status
    assert check(app)["ok"]


def active_loan(app, carol, banker, product) -> ObjectId:
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    in_context(app, lambda: loans.approve(Caller(banker), str(loan_id), rules=rules))
    in_context(app, lambda: loans.disburse(Caller(banker), str(loan_id), rules=rules))
    return loan_id


def test_racing_repayments_never_repay_more_than_is_owed(app, people, product):
    carol, banker, _other = people
    loan_id = active_loan(app, carol, banker, product)
    fund(app, carol_number(app, carol), 500_000)
    rules = in_context(app, loan_rules)
    caller = Caller(carol)
    outcomes = race(app, [
        lambda: loans.repay(caller, str(loan_id), 30_000, None, rules=rules)
        for _ in range(THREADS)
    ])  # fmt: skip
    paid = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, Overpayment | AccountBusy) for o in refused), refused
    loan_number = stored(app, loan_id)["account_number"]
    assert balance_cents(app, loan_number) == -PRINCIPAL + 30_000 * len(paid)
    assert balance_cents(app, loan_number) <= 0
    assert 1 <= len(paid) <= 3
    assert check(app)["ok"]


# -- crashes ---------------------------------------------------------------------

WRITES_OF_A_DISBURSEMENT = [
    ("loans", "find_one_and_update"),  # approved -> disbursing
    ("account_numbers", "insert_one"),  # the loan account's number
    ("accounts", "insert_one"),  # the loan account
    ("idempotency_keys", "insert_one"),  # the claim keyed by the loan
    ("accounts", "find_one_and_update"),  # the hold on the customer's account
    ("accounts", "update_one"),  # the commit point: the loan account debited
    ("accounts", "update_one"),  # the credit
    ("transactions", "insert_many"),  # both legs journalled
    ("accounts", "bulk_write"),  # the records released
    ("idempotency_keys", "update_one"),  # the claim done
    ("loans", "find_one_and_update"),  # disbursing -> active
]


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_A_DISBURSEMENT) + 1))
def test_a_disbursement_crashing_after_any_write_is_finished_once(
    app, people, product, crash_after
):
    carol, banker, _other = people
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    in_context(app, lambda: loans.approve(Caller(banker), str(loan_id), rules=rules))
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        in_context(
            app, lambda: loans.disburse(Caller(banker), str(loan_id), rules=rules)
        )
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_DISBURSEMENT[:crash_after]
    in_context(app, run_recovery)
    # The job finishes a disbursement whose request stopped; a loan the crash
    # left approved is disbursed by the banker's retry.
    in_context(app, lambda: loans.charge_due(utc_now(), rules=rules))
    if stored(app, loan_id)["status"] == "approved":
        in_context(
            app, lambda: loans.disburse(Caller(banker), str(loan_id), rules=rules)
        )
    loan = stored(app, loan_id)
    assert loan["status"] == "active"
    assert balance_cents(app, carol_number(app, carol)) == PRINCIPAL
    assert balance_cents(app, loan["account_number"]) == -PRINCIPAL
    report = check(app)
    assert report["ok"] and report["balanced"], report


def test_the_disbursement_writes_are_the_listed_ones(app, people, product):
    carol, banker, _other = people
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    in_context(app, lambda: loans.approve(Caller(banker), str(loan_id), rules=rules))
    faulty = faults.install(app)
    in_context(app, lambda: loans.disburse(Caller(banker), str(loan_id), rules=rules))
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_DISBURSEMENT


WRITES_OF_A_REPAYMENT = [
    ("accounts", "find_one_and_update"),  # the hold on the loan account
    ("accounts", "update_one"),  # the commit point: the customer debited
    ("accounts", "update_one"),  # the loan account credited
    ("transactions", "insert_many"),  # both legs journalled
    ("accounts", "bulk_write"),  # the records released
    ("loans", "update_one"),  # nothing owed: the loan marked closing
    ("accounts", "find_one_and_update"),  # the loan account closed (if empty)
    ("loans", "find_one_and_update"),  # active -> closed
]


@pytest.mark.parametrize("crash_after", range(len(WRITES_OF_A_REPAYMENT) + 1))
def test_a_full_repayment_crashing_after_any_write_settles_both_or_neither(
    app, people, product, crash_after
):
    carol, banker, _other = people
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    loan_id = active_loan(app, carol, banker, product)
    number = carol_number(app, carol)
    loan_number = stored(app, loan_id)["account_number"]
    rules = in_context(app, loan_rules)
    faulty = faults.install(app, crash_after=crash_after)
    with pytest.raises(faults.Crash):
        in_context(app, lambda: loans.repay(Caller(carol), str(loan_id), PRINCIPAL,
                                            None, rules=rules))  # fmt: skip
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_REPAYMENT[:crash_after]
    in_context(app, run_recovery)
    in_context(app, lambda: loans.charge_due(utc_now(), rules=rules))
    moved = balance_cents(app, loan_number) == 0
    loan = stored(app, loan_id)
    if moved:
        assert balance_cents(app, number) == 0
        assert loan["status"] == "closed"
        with app.app_context():
            assert get_db()["accounts"].find_one({"_id": loan_id})["status"] == "closed"
    else:
        assert balance_cents(app, number) == PRINCIPAL
        assert balance_cents(app, loan_number) == -PRINCIPAL
        assert loan["status"] == "active"
    report = check(app)
    assert report["ok"] and report["balanced"], report


def test_the_repayment_writes_are_the_listed_ones(app, people, product):
    carol, banker, _other = people
    loan_id = active_loan(app, carol, banker, product)
    rules = in_context(app, loan_rules)
    faulty = faults.install(app)
    in_context(app, lambda: loans.repay(Caller(carol), str(loan_id), PRINCIPAL, None,
                                        rules=rules))  # fmt: skip
    faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_REPAYMENT


def test_a_refused_disbursement_is_not_a_crash(app, people, product):
    """A domain refusal is not a failure of the protocol: nothing moved."""
    carol, banker, _other = people
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    in_context(app, lambda: loans.approve(Caller(banker), str(loan_id), rules=rules))
    with app.app_context():
        get_db()["accounts"].update_one({"_id": carol["_id"]},
                                        {"$set": {"status": "frozen"}})  # fmt: skip
    with pytest.raises(DomainError):
        in_context(
            app, lambda: loans.disburse(Caller(banker), str(loan_id), rules=rules)
        )
    assert stored(app, loan_id)["status"] == "approved"


def test_a_stalled_disbursement_taken_over_cannot_be_put_back(app, people, product):
    """Runner A took the loan to disbursing and stalled; B took it over. A's
    late refusal must not put the loan back to approved while B pays out."""
    carol, banker, _other = people
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    loan_id = submitted(app, carol, product)
    rules = in_context(app, loan_rules)
    in_context(app, lambda: loans.approve(Caller(banker), str(loan_id), rules=rules))
    stalled_lease = ObjectId()
    model = LoanModel()
    in_context(app, lambda: model.move(
        loan_id, ("approved",), "disbursing",
        {"status_at": utc_now(), "lease": stalled_lease},
    ))  # fmt: skip
    taken = in_context(app, lambda: model.take_over(loan_id, stalled_lease, utc_now()))
    assert taken is not None and taken["lease"] != stalled_lease
    reverted = in_context(app, lambda: model.move(
        loan_id, ("disbursing",), "approved", {}, lease=stalled_lease,
    ))  # fmt: skip
    assert reverted is None
    in_context(app, lambda: loans._finish_disbursement(taken, rules, None))
    assert stored(app, loan_id)["status"] == "active"
    assert balance_cents(app, carol_number(app, carol)) == PRINCIPAL


def test_interest_reckoned_before_the_last_repayment_cannot_land_after_it(
    app, people, product
):
    """The account closes before the loan: a charge computed on a read from
    before the final repayment is refused, and the closed loan owes nothing."""
    carol, banker, _other = people
    loan_id = active_loan(app, carol, banker, product)
    with app.app_context():
        stale = get_db()["accounts"].find_one({"_id": loan_id})
    in_context(app, lambda: loans.repay(Caller(carol), str(loan_id), PRINCIPAL, None,
                                        rules=in_context(app, loan_rules)))  # fmt: skip
    from app.models import ledger

    with pytest.raises(ledger.LedgerRefusal):
        in_context(app, lambda: ledger.charge_interest(stale, 1_000, "late"))
    with app.app_context():
        account = get_db()["accounts"].find_one({"_id": loan_id})
    assert account["status"] == "closed" and account["balance_cents"] == 0
    assert stored(app, loan_id)["status"] == "closed"
