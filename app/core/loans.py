"""Loans: products, applications, decisions, disbursement, interest, repayment.

A loan is an application (``app.models.loan``) until it is disbursed; then it
is also a ledger account of kind ``loan`` with the loan's ``_id``, whose
balance is minus what the customer owes. Every movement of a loan's money goes
through the ledger with balanced legs:

- **disbursement**: a transfer out of the loan account (allowed below zero,
  down to minus the principal, by ``Terms(floor_cents=...)``) into the
  customer's disbursement account. The loan account *is* the bank's loan funds
  lent out: its negative balance is the customer's debt to the bank, within
  ``customer_total`` as the contract counts loans; the account credited is the
  money the customer received. Both legs are customer accounts, so the books
  balance with no system entry, and none could take one: a disbursement leaves
  ``customer_total`` unmoved, and with the total always ``0.00`` the system
  accounts cannot move either, so any booking through a ``loan_funds`` system
  account would net to zero at every disbursement (and taking the other side
  from ``cash`` or ``interest_income`` would misstate money that never came
  in). So the trial balance does not list a ``loan_funds`` that would read
  ``0.00`` for ever (``app.models.ledger.SYSTEM_ACCOUNTS``). A disbursement is
  no income in the statements and analytics: it comes from one of the
  customer's own accounts;
- **interest**: a charge on the loan account booked to ``interest_income``,
  one per period, by the job runner on the period's due date;
- **repayment**: a transfer from the customer's account into the loan
  account (``Terms(into_loan=True)``; no other transfer may reach a loan).

States and who moves them (each move one guarded update, so two deciders
reach one outcome)::

    submitted --approve--> approved --disburse--> disbursing --> active --> closed
        |                     |                       |
        +--reject/withdraw    +--withdraw             +--(refused: back to approved)

``disbursing`` (shown as ``approved``) takes the loan out of reach of a
withdrawal before any money moves; the money moves under ``run_once`` keyed by
the loan, so a retried or raced disbursement moves it once, and a disbursement
whose request stopped is finished by the job runner.

Every decision (application, approval, rejection, withdrawal, disbursement) is
audited with its actor in the guarded update that makes it, and delivered to
the log insert-once (``app.core.decision_audit``): a request that stops after
deciding leaves its entry for the job runner, never loses it. A disbursement
asked with an Idempotency-Key keeps a digest of the key's claim, so a retry of
a request that stopped is answered with the loan however the disbursement was
finished (see :func:`disburse`).

What is owed splits into principal and interest by one rule, repayments pay
interest first: with ``owed`` = minus the loan balance, the outstanding
principal is ``min(principal, owed)`` (what exceeds the principal is charged
interest not yet repaid). Each period's interest is that outstanding
principal × the annual rate / 12, rounded as the schedule rounds
(``loan_schedule.period_interest_cents``), so early repayment lowers the
interest charged later. Repayments are matched to the frozen schedule's rows
in order, for the rows' ``paid`` and status and for ``days_past_due``.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from bson import ObjectId

from app.core import decision_audit, loan_schedule
from app.core.accounts import own_account
from app.core.calendar import bank_day
from app.core.errors import (
    AccountBusy,
    DomainError,
    InvalidRequest,
    InvalidState,
    LoanNotFound,
    Overpayment,
)
from app.core.exactly_once import WorkInProgress, run_once
from app.core.movements import (
    Caller,
    Movement,
    MovementKey,
    in_ledger,
    ledger_transfer,
)
from app.models import ledger, utc_now
from app.models.account import ACCOUNT_KINDS, LOAN_KIND, AccountModel
from app.models.loan import LoanModel
from app.models.loan_product import LoanProductModel

# Shown for a loan whose every instalment is repaid: later than any due date.
ALL_PAID = "9999-12-31"
# The states a customer may still withdraw from.
WITHDRAWABLE = ("submitted", "approved")
# The audit action of each decision, by the state it moves the loan to.
ACTIONS = {
    "submitted": "loan_applied",
    "approved": "loan_approved",
    "rejected": "loan_rejected",
    "withdrawn": "loan_withdrawn",
    "active": "loan_disbursed",
}


@dataclass(frozen=True)
class LoanRules:
    """What the settings say about loans."""

    currency: str
    zone: str  # BANK_TIMEZONE
    stale_after: timedelta  # LEDGER_PENDING_TIMEOUT


@dataclass(frozen=True)
class NewProduct:
    """A loan product's terms, as a banker creates it (amounts in cents)."""

    name: str
    annual_rate: Decimal
    min_cents: int
    max_cents: int
    min_term_months: int
    max_term_months: int
    active: bool = True


@dataclass(frozen=True)
class Application:
    """A customer's application for a loan on a product."""

    product_id: str
    cents: int
    term_months: int
    purpose: str | None = None
    disbursement_account_number: str | None = None


@dataclass(frozen=True)
class ScheduleRow:
    """One row of a loan's schedule as it stands (amounts in cents)."""

    number: int
    due_date: str
    principal_cents: int
    interest_cents: int
    instalment_cents: int
    paid_cents: int
    status: str  # due | paid | overdue | upcoming


@dataclass(frozen=True)
class LoanState:
    """A loan with what follows from its account and today's date."""

    doc: dict
    owed_cents: int
    rows: tuple[ScheduleRow, ...]
    next_due: ScheduleRow | None
    days_past_due: int

    @property
    def status(self) -> str:
        """The status clients see (``disbursing`` is still ``approved``)."""
        status = self.doc["status"]
        return "approved" if status == "disbursing" else status


@dataclass(frozen=True)
class Repayment:
    """A posted repayment and the loan after it."""

    loan: LoanState
    movement: Movement


# -- products -----------------------------------------------------------------


def create_product(product: NewProduct) -> dict:
    """Store a new loan product.

    :raises InvalidRequest: a minimum above its maximum.
    """
    if product.min_cents > product.max_cents:
        raise InvalidRequest("min_amount", "Must not be more than max_amount.")
    if product.min_term_months > product.max_term_months:
        raise InvalidRequest(
            "min_term_months", "Must not be more than max_term_months."
        )
    return LoanProductModel().create(
        {
            "name": product.name,
            "annual_rate": str(product.annual_rate),
            "min_cents": product.min_cents,
            "max_cents": product.max_cents,
            "min_term_months": product.min_term_months,
            "max_term_months": product.max_term_months,
            "active": product.active,
        }
    )


def list_products(
    limit: int, after: tuple | None, active: bool | None
) -> tuple[list[dict], bool]:
    """A page of loan products, newest first."""
    return LoanProductModel().list_page(limit, after, active)


# -- applications and decisions -----------------------------------------------


def apply(caller: Caller, application: Application, *, rules: LoanRules) -> LoanState:
    """Record the customer's application, ``submitted``, with a schedule preview
    (and its audit entry, see ``app.core.decision_audit``).

    :raises InvalidRequest: no such product (or not offered), or an amount or
        term outside the product's bounds, or a disbursement account that is
        not a current or savings account.
    :raises AccountNotFound: the disbursement account is not the customer's.
    """
    user = caller.user
    product = LoanProductModel().find(application.product_id)
    if product is None or not product["active"]:
        raise InvalidRequest("product_id", "No such loan product on offer.")
    _within(application.cents, product["min_cents"], product["max_cents"], "amount",
            money=True)  # fmt: skip
    _within(application.term_months, product["min_term_months"],
            product["max_term_months"], "term_months")  # fmt: skip
    account = own_account(user, application.disbursement_account_number, rules.currency)
    if account.get("kind") not in ACCOUNT_KINDS:
        raise InvalidRequest(
            "disbursement_account_number", "Must be a current or savings account."
        )
    rate = Decimal(product["annual_rate"])
    now = utc_now()
    loan_id = ObjectId()
    entry = decision_audit.entry(
        ACTIONS["submitted"], actor=user["username"], target=loan_id, origin=caller,
        details={"amount_cents": application.cents,
                 "term_months": application.term_months},
    )  # fmt: skip
    loan = LoanModel().insert(
        {
            "_id": loan_id,
            "user_id": user["_id"],
            "username": user["username"],
            "product_id": product["_id"],
            "status": "submitted",
            "status_at": now,
            "principal_cents": application.cents,
            "annual_rate": product["annual_rate"],
            "term_months": application.term_months,
            "instalment_cents": loan_schedule.instalment_cents(
                application.cents, rate, application.term_months
            ),
            "purpose": application.purpose,
            "disbursement_account_number": account["account_number"],
            "created_at": now,
            "decided_at": None,
            "decided_by": None,
            "reason": None,
            "disbursed_at": None,
            "account_number": None,
        },
        audit=[entry],
    )
    decision_audit.deliver([entry])
    return state_of(loan, None, bank_day(now, rules.zone))


def _within(value: int, low: int, high: int, field: str, money: bool = False) -> None:
    if low <= value <= high:
        return
    shown = (lambda cents: f"{cents // 100}.{cents % 100:02d}") if money else str
    raise InvalidRequest(
        field, f"Must be between {shown(low)} and {shown(high)} for this product."
    )


def get(viewer: dict, loan_id: str, *, rules: LoanRules) -> LoanState:
    """One loan, for its owner or for staff.

    :raises LoanNotFound: no such loan, or another customer's.
    """
    loan = _visible(viewer, loan_id)
    return current_state(loan, rules)


def list_own(
    user: dict, limit: int, after: tuple | None, status: str | None, *, rules: LoanRules
) -> tuple[list[LoanState], list[dict], bool]:
    """A page of the customer's loans, newest first."""
    docs, more = LoanModel().list_for_user(user["_id"], limit, after, _statuses(status))
    return _states(docs, rules), docs, more


def list_all(
    limit: int, after: tuple | None, status: str | None, overdue: bool, *,
    rules: LoanRules,
) -> tuple[list[LoanState], list[dict], bool]:  # fmt: skip
    """A page of every customer's loans (staff), newest first."""
    statuses = _statuses(status)
    today = bank_day(utc_now(), rules.zone).isoformat()
    docs, more = LoanModel().list_page(
        limit, after, statuses, overdue_before=today if overdue else None
    )
    return _states(docs, rules), docs, more


def _statuses(status: str | None) -> list[str] | None:
    """The stored statuses a status clients see stands for."""
    if status is None:
        return None
    return ["approved", "disbursing"] if status == "approved" else [status]


def withdraw(caller: Caller, loan_id: str, *, rules: LoanRules) -> LoanState:
    """The customer withdraws an application not yet disbursed.

    :raises LoanNotFound: no such loan of the caller's.
    :raises InvalidState: the loan is past approval (or already decided so).
    """
    loan = _own(caller.user, loan_id)
    return _decide(loan, WITHDRAWABLE, "withdrawn", "withdraw", caller, rules)


def approve(caller: Caller, loan_id: str, *, rules: LoanRules) -> LoanState:
    """A banker approves a submitted application.

    :raises LoanNotFound: no such loan.
    :raises InvalidState: the loan is not ``submitted``.
    """
    loan = _found(LoanModel().find(loan_id))
    return _decide(loan, ("submitted",), "approved", "approve", caller, rules)


def reject(
    caller: Caller, loan_id: str, reason: str | None, *, rules: LoanRules
) -> LoanState:
    """A banker rejects a submitted application.

    :raises LoanNotFound: no such loan.
    :raises InvalidState: the loan is not ``submitted``.
    """
    loan = _found(LoanModel().find(loan_id))
    return _decide(loan, ("submitted",), "rejected", "reject", caller, rules,
                   reason=reason)  # fmt: skip


def _decide(
    loan: dict, from_states: tuple[str, ...], to: str, action: str, caller: Caller,
    rules: LoanRules, reason: str | None = None,
) -> LoanState:  # fmt: skip
    """Move the loan by one guarded update that also stores the decision's audit
    entry (with the decider and their request), then deliver the entry."""
    now = utc_now()
    by = caller.username
    changes = {"status_at": now, "decided_at": now, "decided_by": by}
    if to == "withdrawn":
        changes = {"status_at": now}
    if reason is not None:
        changes["reason"] = reason
    entry = decision_audit.entry(
        ACTIONS[to], actor=by, target=loan["_id"], origin=caller,
        details={"reason": reason} if to == "rejected" else None,
    )  # fmt: skip
    moved = LoanModel().move(loan["_id"], from_states, to, changes, audit=[entry])
    if moved is None:
        current = LoanModel().find(loan["_id"]) or loan
        raise InvalidState(_shown(current["status"]), action, "a loan")
    decision_audit.deliver([entry])
    return current_state(moved, rules)


# -- disbursement -------------------------------------------------------------


def disburse(
    caller: Caller, loan_id: str, *, rules: LoanRules, request: str | None = None
) -> LoanState:
    """Open the loan's account and pay the principal into the disbursement account.

    Once only, whoever asks how often: the loan leaves ``approved`` by one
    guarded update, and the money moves under a claim keyed by the loan.

    ``request``: what names the request for good across its retries (an
    Idempotency-Key's claim: the banker and the key). The loan keeps a digest
    of it, so that a retry of a request that stopped, and whose disbursement
    the job runner (or another banker) finished meanwhile, is answered with the
    loan instead of ``invalid_state``: it asked for exactly what happened.

    :raises LoanNotFound: no such loan.
    :raises InvalidState: the loan is not ``approved`` (and was not disbursed
        for this ``request``).
    :raises AccountBusy: another banker's disbursement of it is under way.
    :raises DomainError: the disbursement account refused the money (frozen,
        closed); the loan stays ``approved``.
    """
    model = LoanModel()
    loan = _found(model.find(loan_id))
    now = utc_now()
    asked = _digest(request)
    taken = model.move(
        loan["_id"], ("approved",), "disbursing",
        {"status_at": now, "disbursed_by": caller.username,
         "disbursed_from": caller.origin, "disburse_request": asked,
         "lease": ObjectId()},
    )  # fmt: skip
    if taken is None:
        loan = model.find(loan["_id"]) or loan
        if (
            asked is not None
            and loan.get("disburse_request") == asked
            and (loan["status"] in ("active", "closed"))
        ):
            return current_state(loan, rules)  # this request's, finished after it
        if loan["status"] != "disbursing":
            raise InvalidState(_shown(loan["status"]), "disburse", "a loan")
        taken = _take_over(loan, now, rules)  # that request stopped: finish it
    return current_state(_finish_disbursement(taken, rules, caller.username), rules)


def _digest(request: str | None) -> str | None:
    """What a loan keeps of the request that disbursed it (never the key itself)."""
    if request is None:
        return None
    return hashlib.sha256(request.encode()).hexdigest()


def _take_over(loan: dict, now: datetime, rules: LoanRules) -> dict:
    """Take a stalled disbursement over (its lease changes hands, so the runner
    that stalled can no longer put the loan back to ``approved``).

    :raises AccountBusy: its runner is still within its time, or another took it.
    """
    if loan["status_at"] > now - rules.stale_after:
        raise AccountBusy()  # another request is disbursing it now
    taken = LoanModel().take_over(loan["_id"], loan.get("lease"), now)
    if taken is None:
        raise AccountBusy()
    return taken


def _finish_disbursement(loan: dict, rules: LoanRules, by: str | None) -> dict:
    """Move the principal (once) and make the loan ``active``; return the loan."""
    account = _open_account(loan, rules)
    origin = {"actor": by, "ip": None, "request_id": None} if by else None

    def pay_out(key: MovementKey) -> Movement:
        return ledger_transfer(
            account, loan["disbursement_account_number"], loan["principal_cents"],
            "Loan disbursement", key=key, origin=origin,
            terms=ledger.Terms(floor_cents=-loan["principal_cents"]),
        )  # fmt: skip

    model = LoanModel()
    try:
        done = run_once(loan["user_id"], f"loan-disburse:{loan['_id']}", pay_out,
                        stale_after=rules.stale_after)  # fmt: skip
    except WorkInProgress:
        raise AccountBusy() from None
    except DomainError:
        # Back to approved only while this runner still holds the lease: one
        # that took over may have moved the money meanwhile.
        model.move(loan["_id"], ("disbursing",), "approved",
                   {"status_at": utc_now()}, lease=loan.get("lease"))  # fmt: skip
        raise
    posted_at = done.movement.first["posted_at"] or utc_now()
    disbursed_on = bank_day(posted_at, rules.zone)
    rows = loan_schedule.schedule(
        loan["principal_cents"], Decimal(loan["annual_rate"]), loan["term_months"],
        disbursed_on,
    )  # fmt: skip
    frozen = [
        {
            "number": row.number,
            "due_date": row.due_date.isoformat(),
            "principal_cents": row.principal_cents,
            "interest_cents": row.interest_cents,
            "instalment_cents": row.instalment_cents,
        }
        for row in rows
    ]
    first_due = frozen[0]["due_date"]
    # Audited as the banker's who asked, whoever finishes it (the job included).
    entry = decision_audit.entry(
        ACTIONS["active"], actor=loan.get("disbursed_by"), target=loan["_id"],
        origin=loan.get("disbursed_from"),
        details={"amount_cents": loan["principal_cents"],
                 "account_number": account["account_number"]},
    )  # fmt: skip
    active = model.move(
        loan["_id"], ("disbursing",), "active",
        {
            "status_at": utc_now(), "disbursed_at": posted_at,
            "disbursed_on": disbursed_on.isoformat(),
            "account_number": account["account_number"], "rows": frozen,
            "charged": 0, "interest_charged_cents": 0,
            "next_charge_on": first_due, "next_unpaid_on": first_due,
        },
        audit=[entry],
    )  # fmt: skip
    if active is None:
        return model.find(loan["_id"])  # finished (and audited) by another runner
    decision_audit.deliver([entry])
    return active


def _open_account(loan: dict, rules: LoanRules) -> dict:
    """The loan's ledger account, opened on first call (its ``_id`` is the loan's)."""
    accounts = AccountModel()
    account = accounts.find_by_id(loan["_id"])
    if account is not None:
        return account
    owner = {"_id": loan["user_id"], "username": loan["username"]}
    try:
        return accounts.create(owner, rules.currency, kind=LOAN_KIND,
                               account_id=loan["_id"])  # fmt: skip
    except Exception:  # noqa: BLE001 - a duplicate id: opened by a racing call
        account = accounts.find_by_id(loan["_id"])
        if account is None:
            raise
        return account


# -- repayment ----------------------------------------------------------------


def repay(
    caller: Caller,
    loan_id: str,
    cents: int,
    from_account_number: str | None,
    *,
    rules: LoanRules,
    key: MovementKey | None = None,
) -> Repayment:
    """Move money from the caller's account into the loan account.

    Never more than is owed, even with repayments racing: the loan account's
    holds (repayments on their way in) count against what is owed, judged on
    the account as held (``admit``), before the commit point.

    :raises LoanNotFound: no such loan of the caller's.
    :raises InvalidState: the loan is not ``active``.
    :raises Overpayment: more than is owed.
    :raises DomainError: as a transfer (insufficient funds, frozen, ...).
    """
    loan = _own(caller.user, loan_id)
    if loan["status"] != "active":
        raise InvalidState(_shown(loan["status"]), "repay", "a loan")
    source = own_account(caller.user, from_account_number, rules.currency)
    if source.get("kind") not in ACCOUNT_KINDS:
        raise InvalidRequest(
            "from_account_number", "Must be a current or savings account."
        )

    def within_owed(target: dict) -> None:
        owed = -target["balance_cents"]
        incoming = sum(hold["cents"] for hold in target["holds"])
        if incoming > owed:
            raise Overpayment(max(0, owed - (incoming - cents)))

    movement = ledger_transfer(
        source, loan["account_number"], cents, "Loan repayment", key=key,
        origin=caller.origin, terms=ledger.Terms(into_loan=True), admit=within_owed,
    )  # fmt: skip
    return Repayment(after_repayment(loan, rules), movement)


def after_repayment(loan: dict, rules: LoanRules) -> LoanState:
    """Bring the loan up to date with its account: the oldest-unpaid watermark,
    and ``closed`` once nothing is owed. Safe to repeat (the job does, for a
    request that stopped in between)."""
    state = current_state(loan, rules)
    if state.doc["status"] != "active":
        return state
    model = LoanModel()
    watermark = state.next_due.due_date if state.next_due else ALL_PAID
    if state.owed_cents > 0:
        if watermark > state.doc.get("next_unpaid_on", ""):
            model.paid_up_to(loan["_id"], watermark)
        if state.doc.get("closing"):
            model.mark_closing(loan["_id"], False)  # interest landed first
        return state
    # Nothing owed: the account closes first (guarded by its being empty), so
    # an interest charge computed before the last repayment is refused by the
    # ledger instead of landing on a closed loan; the loan follows. ``closing``
    # lets the job finish a close that stopped between the two.
    model.mark_closing(loan["_id"], True)
    accounts = AccountModel()
    accounts.change_status(loan["account_number"], "active", "closed")
    account = accounts.find_by_id(loan["_id"])
    if account is None or account["status"] != "closed":
        return current_state(model.find(loan["_id"]) or loan, rules)  # owed again
    model.move(
        loan["_id"], ("active",), "closed",
        {"status_at": utc_now(), "closed_at": utc_now(), "next_unpaid_on": ALL_PAID,
         "closing": False},
    )  # fmt: skip
    return current_state(model.find(loan["_id"]) or loan, rules)


# -- interest (the job runner) --------------------------------------------------


def charge_due(now: datetime, *, rules: LoanRules) -> tuple[int, int]:
    """Charge every period's interest due up to today; finish stopped work.

    Returns (pieces done, pieces failed). Each period is charged under a claim
    keyed by loan and period, then counted by a guarded increment, so several
    runners, or a runner that stopped between the two, charge it once.
    """
    today = bank_day(now, rules.zone).isoformat()
    done = failed = 0
    model = LoanModel()
    for loan in model.stalled("disbursing", now - rules.stale_after):
        try:
            _finish_disbursement(_take_over(loan, now, rules), rules, None)
            done += 1
        except (DomainError, WorkInProgress):
            failed += 1
    for loan in model.to_charge(today):
        try:
            done += _charge_periods(loan, today, rules)
        except (DomainError, WorkInProgress):
            failed += 1
    for loan in _settle_candidates(today):
        after_repayment(loan, rules)
    # The audit entries of decisions whose request stopped after deciding.
    done += decision_audit.drain(model)
    return done, failed


def due_count(now: datetime, *, rules: LoanRules) -> int:
    """How many loans have interest to charge today (or earlier)."""
    return LoanModel().count_to_charge(bank_day(now, rules.zone).isoformat())


def _charge_periods(loan: dict, today: str, rules: LoanRules) -> int:
    charged = 0
    while (
        loan is not None
        and loan["next_charge_on"] is not None
        and (loan["next_charge_on"] <= today)
    ):
        period = loan["charged"] + 1
        account = AccountModel().find_by_id(loan["_id"])
        owed = -account["balance_cents"]
        cents = loan_schedule.period_interest_cents(
            min(loan["principal_cents"], owed), Decimal(loan["annual_rate"])
        )
        if cents > 0:

            def charge(
                key: MovementKey, account=account, cents=cents, period=period
            ) -> Movement:
                entry = in_ledger(
                    ledger.charge_interest, account, cents,
                    f"Interest, instalment {period}", key.id, key.begun_at,
                )  # fmt: skip
                return Movement((entry,))

            done = run_once(loan["user_id"], f"loan-interest:{loan['_id']}:{period}",
                            charge, stale_after=rules.stale_after)  # fmt: skip
            cents = done.movement.first["amount_cents"]
        rows = loan["rows"]
        next_on = rows[period]["due_date"] if period < len(rows) else None
        counted = LoanModel().count_charged(loan["_id"], period, cents, next_on)
        charged += counted is not None
        loan = counted or LoanModel().find(loan["_id"])
    return charged


def _settle_candidates(today: str) -> list[dict]:
    """Active loans a stopped repayment may have left behind: nothing owed yet
    still active, or an overdue watermark that may be stale."""
    model = LoanModel()
    paid_off = model.find_many(AccountModel().paid_off_loan_ids())
    return paid_off + list(model.closing()) + list(model.overdue(today))


# -- reading ------------------------------------------------------------------


def current_state(loan: dict, rules: LoanRules) -> LoanState:
    """The loan with its account as it is now."""
    account = AccountModel().find_by_id(loan["_id"]) if loan.get("rows") else None
    return state_of(loan, account, bank_day(utc_now(), rules.zone))


def _states(docs: list[dict], rules: LoanRules) -> list[LoanState]:
    """Many loans' states with one read of their accounts."""
    ids = [doc["_id"] for doc in docs if doc.get("rows")]
    accounts = AccountModel().find_by_ids(ids) if ids else {}
    today = bank_day(utc_now(), rules.zone)
    return [state_of(doc, accounts.get(doc["_id"]), today) for doc in docs]


def state_of(loan: dict, account: dict | None, today: date) -> LoanState:
    """What a loan's figures are on ``today``, given its account (None before
    disbursement: the rows are a preview due monthly from today)."""
    if loan.get("rows"):
        rows = loan["rows"]
        owed = -account["balance_cents"] if account is not None else 0
        repaid = loan["principal_cents"] + loan["interest_charged_cents"] - owed
    else:
        preview = loan_schedule.schedule(
            loan["principal_cents"], Decimal(loan["annual_rate"]),
            loan["term_months"], today,
        )  # fmt: skip
        rows = [
            {
                "number": row.number, "due_date": row.due_date.isoformat(),
                "principal_cents": row.principal_cents,
                "interest_cents": row.interest_cents,
                "instalment_cents": row.instalment_cents,
            }
            for row in preview
        ]  # fmt: skip
        owed = repaid = 0
    running = loan["status"] == "active"
    shown: list[ScheduleRow] = []
    left = max(0, repaid)
    next_due = None
    for row in rows:
        paid = min(left, row["instalment_cents"])
        left -= paid
        no_due_yet = all(earlier.status != "due" for earlier in shown)
        status = _row_status(row, paid, today, loan["status"], no_due_yet)
        item = ScheduleRow(
            row["number"], row["due_date"], row["principal_cents"],
            row["interest_cents"], row["instalment_cents"], paid, status,
        )  # fmt: skip
        shown.append(item)
        if running and next_due is None and paid < row["instalment_cents"]:
            next_due = item
    days_past_due = 0
    if next_due is not None:
        days_past_due = max(0, (today - date.fromisoformat(next_due.due_date)).days)
    return LoanState(loan, owed, tuple(shown), next_due, days_past_due)


def _row_status(
    row: dict, paid: int, today: date, loan_status: str, no_due_yet: bool
) -> str:
    """``paid`` (fully repaid, or the loan is closed: nothing more is owed),
    ``overdue`` (its date has passed), ``due`` (the first one not yet past
    its date) or ``upcoming``; every row of a loan not yet disbursed is ``upcoming``."""
    if loan_status == "closed" or paid == row["instalment_cents"]:
        return "paid"
    if loan_status != "active":
        return "upcoming"
    if date.fromisoformat(row["due_date"]) < today:
        return "overdue"
    return "due" if no_due_yet else "upcoming"


def _visible(viewer: dict, loan_id: str) -> dict:
    loan = _found(LoanModel().find(loan_id))
    if (
        viewer.get("role", "customer") == "customer"
        and loan["user_id"] != viewer["_id"]
    ):
        raise LoanNotFound()
    return loan


def _own(user: dict, loan_id: str) -> dict:
    loan = _found(LoanModel().find(loan_id))
    if loan["user_id"] != user["_id"]:
        raise LoanNotFound()
    return loan


def _found(loan: dict | None) -> dict:
    if loan is None:
        raise LoanNotFound()
    return loan


def _shown(status: str) -> str:
    return "approved" if status == "disbursing" else status
