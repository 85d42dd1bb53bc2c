"""Loan arithmetic: the annuity instalment and the amortisation schedule.

A loan of ``principal_cents`` at ``annual_rate`` percent a year over
``term_months`` is repaid in equal monthly instalments on a declining balance
(API_CONTRACT.md, "Loans"): the period rate is the annual rate / 12; each
period's interest is the outstanding principal times that rate; the rest of
the instalment repays principal; the last instalment absorbs every rounding
residue so the principal parts sum exactly to the amount lent.

Pure functions, no clock and no storage. Every amount is whole cents and every
intermediate value is an exact Decimal: the arithmetic runs in a context sized
to hold the exact result and trapping ``Inexact``, so the one place a value is
rounded is :func:`_round_half_even`, called where a comment says why. (A fixed
50-digit context is not enough: 125.00 at 6.00 % over one month is exactly
125.625, and 50 digits of the annuity formula make it 125.62500…007, which
would round up to 125.63 instead of half-even to 125.62.)
"""

from dataclasses import dataclass
from datetime import date
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from app.core.calendar import add_months

MAX_TERM_MONTHS = 600
MAX_ANNUAL_RATE = Decimal(100)
# Rates are written to the hundredth of a percent ("7.50"), like the product's
# ``annual_rate``; working in hundredths keeps every rate a whole number.
HUNDREDTHS = 100
# The period rate is annual_rate / 100 / 12, i.e. hundredths / 120000.
PERIOD_DIVISOR = Decimal(100 * 12 * HUNDREDTHS)


@dataclass(frozen=True)
class Row:
    """One instalment of a schedule; amounts in cents, ``due_date`` None in a
    preview made before disbursement."""

    number: int
    due_date: date | None
    principal_cents: int
    interest_cents: int
    instalment_cents: int


def instalment_cents(
    principal_cents: int, annual_rate: Decimal, term_months: int
) -> int:
    """Return the monthly annuity payment P·r / (1 − (1 + r)^−n), in cents.

    ``annual_rate`` is a percentage (``Decimal("12.00")`` for 12 %), r is
    annual_rate / 100 / 12; at 0 % the payment is principal / n.

    :raises ValueError: principal not positive, term outside 1..600, rate
        outside 0..100 or with more than two decimals.
    :raises TypeError: an argument of the wrong type (a float rate, say).
    """
    rate = _validated(principal_cents, annual_rate, term_months)
    return _instalment(Decimal(principal_cents), rate, term_months)


def schedule(
    principal_cents: int,
    annual_rate: Decimal,
    term_months: int,
    disbursed_on: date | None = None,
) -> list[Row]:
    """Return the amortisation schedule, one row per month.

    Every row but the last asks for :func:`instalment_cents`; the last repays
    what is still outstanding, with its interest. Should the rounded-up
    instalment repay the loan before the term (long terms at high rates, or
    tiny amounts), the row that reaches zero asks only for what is owed and
    the rows after it are zero; there are always ``term_months`` rows.

    Row k falls due ``add_months(disbursed_on, k)`` (31 Jan → 28/29 Feb,
    31 Mar, …); without ``disbursed_on`` (a preview) due dates are None.

    :raises ValueError: as :func:`instalment_cents`.
    :raises TypeError: as :func:`instalment_cents`.
    """
    rate = _validated(principal_cents, annual_rate, term_months)
    payment = _instalment(Decimal(principal_cents), rate, term_months)
    rows: list[Row] = []
    outstanding = principal_cents
    for number in range(1, term_months + 1):
        interest = _interest(outstanding, rate)
        if number < term_months:
            # No rounding: whole cents minus whole cents. Capped at what is
            # owed: on a long loan at a high rate the half cent the instalment
            # was rounded up by compounds (9445.71 at 18.87 % over 480 months
            # is repaid by row 478), and a row never asks for more than that.
            principal_part = min(payment - interest, outstanding)
        else:
            # The last row repays whatever is still outstanding: every residue
            # of the rounded instalment and interests lands here, so the
            # principal parts sum exactly to the amount lent.
            principal_part = outstanding
        outstanding -= principal_part
        due = add_months(disbursed_on, number) if disbursed_on is not None else None
        rows.append(
            Row(number, due, principal_part, interest, principal_part + interest)
        )
    return rows


def _instalment(principal: Decimal, rate: Decimal, n: int) -> int:
    """Return the annuity payment in cents; ``rate`` in hundredths of a percent."""
    if rate == 0:
        with localcontext(_exact(_digits(principal) + _digits(Decimal(n)))):
            # Rounding: principal / n, half-even to the cent, as the contract
            # rounds every amount; the last instalment absorbs what it leaves.
            return _round_half_even(principal, Decimal(n))
    # With 1 + r = a / b (b = 120000, a = b + rate in hundredths) the annuity
    # is P·rate·a^n / (b·(a^n − b^n)): whole numbers, so computed exactly.
    b = PERIOD_DIVISOR
    a = b + rate
    size = _digits(principal) + _digits(rate) + _digits(b) + n * _digits(a)
    with localcontext(_exact(size)):
        growth, base = a**n, b**n
        # Rounding: the exact annuity, half-even to the cent ("the annuity
        # payment rounded to the cent"); it leaves up to half a cent a month
        # over or under, which the last instalment absorbs.
        return _round_half_even(principal * rate * growth, b * (growth - base))


def _interest(outstanding_cents: int, rate: Decimal) -> int:
    """Return one month's interest on ``outstanding_cents``, in cents."""
    outstanding = Decimal(outstanding_cents)
    with localcontext(_exact(_digits(outstanding) + _digits(rate))):
        # Rounding: outstanding × annual rate / 12, half-even to the cent, as
        # the contract fixes it; the principal part is the instalment minus
        # this rounded interest, so the balance stays in whole cents.
        return _round_half_even(outstanding * rate, PERIOD_DIVISOR)


def _round_half_even(numerator: Decimal, denominator: Decimal) -> int:
    """Return numerator / denominator (whole numbers, numerator ≥ 0 and
    denominator > 0) rounded to the nearest whole number, a tie to the even."""
    # This is the one place anything is rounded. divmod of Decimals is exact
    # (the caller's context traps Inexact), so the comparison sees the true
    # remainder: a true tie is a tie, and nothing near one is mistaken for it.
    whole, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and whole % 2 == 1):
        whole += 1
    return int(whole)


def _digits(value: Decimal) -> int:
    return len(value.as_tuple().digits)


def _exact(digits: int) -> Context:
    """Return a context holding ``digits`` significant digits (and a margin)
    that raises rather than round: every result within it is exact."""
    return Context(
        prec=digits + 10,
        Emax=MAX_EMAX,
        Emin=MIN_EMIN,
        traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
    )


def _validated(principal_cents: int, annual_rate: Decimal, term_months: int) -> Decimal:
    """Check the loan's terms; return the annual rate in hundredths of a
    percent (a whole-number Decimal: "7.50" → 750)."""
    for name, value in (("principal_cents", principal_cents),
                        ("term_months", term_months)):  # fmt: skip
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not isinstance(annual_rate, Decimal):
        kind = type(annual_rate).__name__
        raise TypeError(f"annual_rate must be a Decimal, not {kind}")
    if principal_cents <= 0:
        raise ValueError("principal_cents must be positive")
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise ValueError(f"term_months must be between 1 and {MAX_TERM_MONTHS}")
    if not annual_rate.is_finite() or not 0 <= annual_rate <= MAX_ANNUAL_RATE:
        raise ValueError(f"annual_rate must be between 0 and {MAX_ANNUAL_RATE}")
    with localcontext(_exact(_digits(annual_rate) + 3)):
        # No rounding: the context is wide enough for the exact product.
        hundredths = annual_rate * HUNDREDTHS
    if hundredths != hundredths.to_integral_value():
        raise ValueError("annual_rate must have at most two decimals")
    return hundredths


def period_interest_cents(outstanding_cents: int, annual_rate: Decimal) -> int:
    """Return one month's interest on what is outstanding, as a loan is charged
    on a due date: the same rounding as the schedule's rows (:func:`_interest`).
    """
    if outstanding_cents <= 0:
        return 0
    return _interest(outstanding_cents, _validated(outstanding_cents, annual_rate, 1))
