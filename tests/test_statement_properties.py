"""Property: statements prove themselves over a long random history.

Hypothesis writes months of deposits, withdrawals and transfers (between a
customer's two accounts and to and from another customer's) at random times,
some of them stopped after their commit point and journalled by recovery
later (days or months later: out of seq order by posting time). Then, for
every account and every month from its opening to now, in the bank's zone:

- opening + credits - debits = closing, to the cent, and each line's balance
  is the one before it plus its amount;
- each month's closing is the next month's opening, the first opening is 0.00
  and the last closing is the live balance;
- every entry of the account is in exactly one month (its seqs, 1..n, once);
- a month's statement taken when it had just ended is the statement at the
  end: a late entry does not rewrite a month that is over.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from app.core import statements
from app.core.statements import Month
from app.models.ledger import CREDIT_TYPES
from tests import history
from tests.helpers import make_app

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Pacific/Auckland", "Asia/Kolkata")
START = datetime(2023, 1, 10, 12, 0, tzinfo=UTC)
CENTS = st.integers(min_value=1, max_value=200_000)
# Accounts by index: the customer's checking and savings, another customer's.
ACCOUNT = st.integers(min_value=0, max_value=2)
OPERATION = st.one_of(
    st.tuples(st.just("deposit"), ACCOUNT, ACCOUNT, CENTS),
    st.tuples(st.just("withdraw"), ACCOUNT, ACCOUNT, CENTS),
    st.tuples(st.just("transfer"), ACCOUNT, ACCOUNT, CENTS),
    st.tuples(st.just("transfer"), ACCOUNT, ACCOUNT, CENTS),
    st.tuples(st.just("stall_deposit"), ACCOUNT, ACCOUNT, CENTS),
    st.tuples(st.just("stall_transfer"), ACCOUNT, ACCOUNT, CENTS),
    st.tuples(st.just("settle"), ACCOUNT, ACCOUNT, CENTS),
)
# Time between two steps: the same second (the boundary's skew window), some
# minutes, or days (the history spans months).
# (Hypothesis draws small integers far more often than large ones; these are
# drawn evenly.)
DAYS = st.builds(
    lambda days, minutes: timedelta(days=days, minutes=minutes),
    st.sampled_from(range(1, 26)),
    st.sampled_from(range(0, 24 * 60, 7)),
)
GAP = st.one_of(
    st.integers(min_value=0, max_value=3_000).map(
        lambda ms: timedelta(milliseconds=ms)
    ),
    st.sampled_from(range(1, 600, 13)).map(lambda m: timedelta(minutes=m)),
    DAYS,
    DAYS,
)
STEPS = st.lists(st.tuples(GAP, OPERATION), min_size=30, max_size=120)
EXAMPLES = 40


def shape(cut: statements.Statement) -> tuple:
    """What a statement says, line by line (an entry read from its commit record
    or from the journal says the same)."""
    return (
        cut.opening_cents, cut.closing_cents, cut.credits_cents, cut.debits_cents,
        [(e["_id"], e["seq"], e["type"], e["amount_cents"], e["balance_after_cents"],
          e["created_at"]) for e in cut.lines],
    )  # fmt: skip


def months_between(first: Month, last: Month) -> list[Month]:
    months = [first]
    while months[-1] < last:
        months.append(months[-1].shifted(1))
    return months


def check_account(app, account: dict, zone: str, last: Month, snapshots: dict) -> int:
    """Check every month of one account up to ``last``; return how many."""
    with app.app_context():
        live = history.read(app, account["_id"])
        months = months_between(Month.of(account["created_at"], zone), last)
        cuts = [statements.statement(live, month, zone) for month in months]
    assert cuts[0].opening_cents == 0
    seqs = []
    for before, cut in zip([None, *cuts], cuts, strict=False):
        if before is not None:
            assert cut.opening_cents == before.closing_cents, cut.month
        balance = cut.opening_cents
        for entry in cut.lines:
            credit = entry["type"] in CREDIT_TYPES
            balance += entry["amount_cents"] if credit else -entry["amount_cents"]
            assert entry["balance_after_cents"] == balance, (cut.month, entry["seq"])
            seqs.append(entry["seq"])
        credits = sum(e["amount_cents"] for e in cut.lines if e["type"] in CREDIT_TYPES)
        debits = sum(e["amount_cents"] for e in cut.lines) - credits
        assert (cut.credits_cents, cut.debits_cents) == (credits, debits)
        assert cut.opening_cents + credits - debits == cut.closing_cents, cut.month
        if (account["_id"], cut.month) in snapshots:
            assert shape(cut) == snapshots[account["_id"], cut.month], cut.month
    assert cuts[-1].closing_cents == live["balance_cents"]
    assert seqs == list(range(1, live["entry_seq"] + 1))
    return len(cuts)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(zone=st.sampled_from(ZONES), steps=STEPS)
def test_every_month_adds_up_and_chains_to_the_live_balance(monkeypatch, zone, steps):
    app = make_app()
    clock = history.install(monkeypatch, history.Clock(START))
    alice, bob = history.owner("alice"), history.owner("bob")
    accounts = [
        history.open_account(app, alice),
        history.open_account(app, alice, kind="savings"),
        history.open_account(app, bob),
    ]
    book = history.Book(app)
    snapshots: dict = {}
    month = Month.of(clock.now, zone)
    for gap, (kind, first, second, cents) in steps:
        clock.advance(gap)
        if Month.of(clock.now, zone) != month:
            # A month just ended: what its statements say now is final.
            with app.app_context():
                for account in accounts:
                    live = history.read(app, account["_id"])
                    cut = statements.statement(live, month, zone)
                    snapshots[account["_id"], month] = shape(cut)
            month = Month.of(clock.now, zone)
        source, receiving = accounts[first], accounts[second]
        if kind == "deposit":
            book.deposit(source["_id"], cents)
        elif kind == "withdraw":
            book.withdraw(source["_id"], cents)
        elif kind == "transfer" and first != second:
            book.transfer(source["_id"], receiving["account_number"], cents)
        elif kind == "stall_deposit":
            book.stall_deposit(source["_id"], cents)
        elif kind == "stall_transfer" and first != second:
            book.stall_transfer(source["_id"], receiving["account_number"], cents)
        elif kind == "settle":
            book.settle_oldest()
    # What is still stalled is journalled days later, maybe in a later month.
    clock.advance(timedelta(days=3))
    event(f"stalled at the end: {min(len(book.stalled), 3)}+")
    book.settle_all()
    # Every month of the history, and the one after it, quiet.
    last = Month.of(clock.now, zone).shifted(1)
    checked = sum(check_account(app, a, zone, last, snapshots) for a in accounts)
    event(f"months per account: {checked // 3 // 6 * 6}+")
    target(checked / 3, label="months per account")
    target(len(steps), label="movements")
