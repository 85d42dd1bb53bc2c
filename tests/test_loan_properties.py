"""Property-based: a loan's life as random repayments and interest runs.

A hypothesis state machine disburses a loan of random terms and then, in any
order, repays random amounts (around what is owed as often as not), runs the
interest job at the next due date, or runs it again on the same day. It keeps
its own model of what is owed (the principal, plus each period's interest on
``min(principal, owed)`` at the product's rate, less repayments) and checks
after every step: the stored balance is the model's, a repayment beyond it is
refused with ``overpayment`` and moves nothing, the loan is closed exactly
when nothing is owed, the interest charged adds up to ``interest_income``, and
the ledger check and the trial balance hold.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.controllers.jobs import context as job_context
from app.controllers.ledger import check_report, summary
from app.controllers.loans import loan_rules
from app.core import jobs, loans
from app.core.errors import Overpayment
from app.core.loan_schedule import period_interest_cents
from app.core.loans import Application, NewProduct
from app.core.movements import Caller
from app.models.account import AccountModel
from app.models.loan import LoanModel
from app.models.user import UserModel
from tests.factories import fund, make_user
from tests.helpers import make_app

RATES = st.sampled_from(["0.00", "3.25", "7.50", "12.00", "29.99"])


class LoanLife(RuleBasedStateMachine):
    @initialize(
        cents=st.integers(min_value=10_000, max_value=2_000_000),
        term=st.integers(min_value=1, max_value=36),
        rate=RATES,
    )
    def disburse(self, cents, term, rate):
        self.app = make_app()
        self.rate = Decimal(rate)
        self.principal = cents
        with self.app.app_context():
            rules = loan_rules()
            make_user(self.app, "lena", "a borrower's passphrase")
            banker = make_user(self.app, "bernie", "a banker's passphrase", "banker")
            self.user = UserModel().find_by_username("lena")
            product = loans.create_product(
                NewProduct("Any", self.rate, 10_000, 2_000_000, 1, 36)
            )
            state = loans.apply(
                Caller(self.user),
                Application(str(product["_id"]), cents, term),
                rules=rules,
            )
            self.loan_id = state.doc["_id"]
            loans.approve(Caller(banker), str(self.loan_id), rules=rules)
            loans.disburse(Caller(banker), str(self.loan_id), rules=rules)
            primary = AccountModel().find_by_id(self.user["_id"])["account_number"]
        # Enough to repay anything the loan can come to.
        fund(self.app, primary, 10 * cents + 10_000_000)
        self.owed = cents
        self.interest = 0
        self.charged = 0
        self.term = term

    def loan(self) -> dict:
        with self.app.app_context():
            return LoanModel().find(self.loan_id)

    def balance(self) -> int:
        with self.app.app_context():
            return AccountModel().find_by_id(self.loan_id)["balance_cents"]

    @precondition(lambda self: self.owed > 0)
    @rule(
        how=st.one_of(
            st.tuples(st.just("near"), st.integers(min_value=-2, max_value=2)),
            st.tuples(st.just("share"), st.integers(min_value=1, max_value=4)),
            st.tuples(st.just("abs"), st.integers(min_value=1, max_value=50_000)),
        )
    )
    def repay(self, how):
        kind, n = how
        if kind == "near":
            cents = max(1, self.owed + n)
        elif kind == "share":
            cents = max(1, self.owed * n // 4)
        else:
            cents = n
        with self.app.app_context():
            try:
                loans.repay(Caller(self.user), str(self.loan_id), cents, None,
                            rules=loan_rules())  # fmt: skip
            except Overpayment as refusal:
                assert cents > self.owed
                assert (
                    refusal.extras["outstanding"]
                    == f"{self.owed // 100}.{self.owed % 100:02d}"
                )
                return
        assert cents <= self.owed
        self.owed -= cents

    @precondition(lambda self: self.owed > 0 and self.charged < self.term)
    @rule(again=st.booleans())
    def next_due_date(self, again):
        due = date.fromisoformat(self.loan()["rows"][self.charged]["due_date"])
        when = datetime(due.year, due.month, due.day, 12, tzinfo=UTC)
        expected = period_interest_cents(min(self.principal, self.owed), self.rate)
        with self.app.app_context():
            jobs.run_job("loan_interest", job_context(when))
            if again:
                jobs.run_job("loan_interest", job_context(when))
        self.charged += 1
        self.owed += expected
        self.interest += expected

    @rule()
    def read_the_schedule(self):
        with self.app.app_context():
            state = loans.get(self.user, str(self.loan_id), rules=loan_rules())
        repaid = self.principal + self.interest - self.owed
        paid = sum(row.paid_cents for row in state.rows)
        assert paid == min(repaid, sum(row.instalment_cents for row in state.rows))
        if self.owed == 0:
            assert {row.status for row in state.rows} == {"paid"}
            assert state.next_due is None
        else:
            assert state.next_due is not None

    @invariant()
    def books_agree(self):
        if not hasattr(self, "app"):
            return
        assert -self.balance() == self.owed
        loan = self.loan()
        assert loan["charged"] == self.charged
        assert loan["interest_charged_cents"] == self.interest
        assert (loan["status"] == "closed") == (self.owed == 0)
        with self.app.app_context():
            report = check_report()
            trial = summary()
        assert report["ok"] and report["balanced"], report
        system = {row["name"]: row["balance"] for row in trial["system_accounts"]}
        assert (
            system["interest_income"]
            == f"{self.interest // 100}.{self.interest % 100:02d}"
        )
        assert trial["total"] == "0.00"


def test_any_life_of_a_loan_keeps_the_books():
    run_state_machine_as_test(
        LoanLife,
        settings=settings(max_examples=15, stateful_step_count=10, deadline=None),
    )
