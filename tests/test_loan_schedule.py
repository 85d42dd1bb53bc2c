"""Loan arithmetic: annuity instalments, declining-balance schedules, rounding.

Every expected figure is worked out here independently of the code: by hand
(the comments show the sums), with plain 50-digit Decimal arithmetic of the
annuity formula, or with exact fractions (``reference_schedule`` below, which
rounds with Python's ``round`` of a Fraction: half-even, exactly).
"""

from dataclasses import FrozenInstanceError
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.loan_schedule import Row, instalment_cents, schedule


def annuity_50_digits(principal: str, annual_rate: str, months: int) -> Decimal:
    """The textbook formula P·r / (1 − (1 + r)^−n) in 50-digit Decimals, to
    the cent; fine wherever the exact value is not within 1e-40 of a tie."""
    with localcontext() as ctx:
        ctx.prec = 50
        r = Decimal(annual_rate) / 100 / 12
        payment = Decimal(principal) * r / (1 - (1 + r) ** -months)
        return payment.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def period_rate(annual_rate: Decimal) -> Fraction:
    return Fraction(annual_rate) / 1200


def exact_annuity(principal_cents: int, annual_rate: Decimal, months: int) -> Fraction:
    """The annuity in cents as an exact fraction."""
    r = period_rate(annual_rate)
    if r == 0:
        return Fraction(principal_cents, months)
    return principal_cents * r / (1 - (1 + r) ** -months)


def accumulation(annual_rate: Decimal, months: int) -> Fraction:
    """s_n = ((1 + r)^n − 1) / r: what one cent a month grows to over n months."""
    r = period_rate(annual_rate)
    return Fraction(months) if r == 0 else ((1 + r) ** months - 1) / r


def reference_schedule(
    principal_cents: int, annual_rate: Decimal, months: int
) -> list[tuple[int, int, int]]:
    """(principal, interest, instalment) per row, computed with Fractions."""
    r = period_rate(annual_rate)
    payment = round(exact_annuity(principal_cents, annual_rate, months))
    rows, owed = [], principal_cents
    for number in range(1, months + 1):
        interest = round(owed * r)
        part = owed if number == months else min(payment - interest, owed)
        owed -= part
        rows.append((part, interest, part + interest))
    return rows


def triples(rows: list[Row]) -> list[tuple[int, int, int]]:
    return [(r.principal_cents, r.interest_cents, r.instalment_cents) for r in rows]


# --- the contract's example -------------------------------------------------


def test_contract_example_1000_at_12_percent_over_12_months():
    # r = 1 %: 1000 × 0.01 / (1 − 1.01^−12) = 88.8488 → 88.85.
    assert annuity_50_digits("1000.00", "12.00", 12) == Decimal("88.85")
    assert instalment_cents(100000, Decimal("12.00"), 12) == 8885

    rows = schedule(100000, Decimal("12.00"), 12)

    assert [r.instalment_cents for r in rows] == [8885] * 11 + [8884]
    assert sum(r.interest_cents for r in rows) == 6619
    assert sum(r.principal_cents for r in rows) == 100000
    # By hand: 1000.00 × 1 % = 10.00, so 78.85 repaid and 921.15 owed;
    # 921.15 × 1 % = 9.2115 → 9.21, 79.64 repaid, 841.51 owed; 8.4151 → 8.42 …
    assert [r.interest_cents for r in rows] == [
        1000, 921, 842, 761, 680, 598, 515, 431, 347, 261, 175, 88,
    ]  # fmt: skip
    # … and the last row repays the 87.96 still owed: 87.96 + 0.88 = 88.84.
    assert (rows[-1].principal_cents, rows[-1].interest_cents) == (8796, 88)
    assert triples(rows) == reference_schedule(100000, Decimal("12.00"), 12)


def test_rows_are_numbered_from_one_and_frozen():
    rows = schedule(100000, Decimal("12.00"), 12)
    assert [r.number for r in rows] == list(range(1, 13))
    with pytest.raises(FrozenInstanceError):
        rows[0].interest_cents = 0  # type: ignore[misc]


# --- a 0 % product, a 1-month loan ----------------------------------------------


def test_zero_rate_splits_the_principal_and_the_last_row_takes_the_cent():
    # 1000.00 / 3 = 333.333… → 333.33, twice; the last repays 333.34.
    assert instalment_cents(100000, Decimal("0.00"), 3) == 33333
    rows = schedule(100000, Decimal("0.00"), 3)
    assert triples(rows) == [(33333, 0, 33333), (33333, 0, 33333), (33334, 0, 33334)]


def test_one_month_loan_is_principal_plus_one_months_interest():
    # 1000.00 + 1000.00 × 12 % / 12 = 1000.00 + 10.00.
    assert instalment_cents(100000, Decimal("12.00"), 1) == 101000
    assert triples(schedule(100000, Decimal("12.00"), 1)) == [(100000, 1000, 101000)]
    # 500.00 at 7.50 %: 500 × 0.00625 = 3.125 → 3.12 (half-even).
    assert triples(schedule(50000, Decimal("7.50"), 1)) == [(50000, 312, 50312)]


# --- a 30-year loan -------------------------------------------------------------


def test_360_month_loan_200000_at_6_5_percent():
    principal, rate = 20_000_000, Decimal("6.50")
    # The published figure for a 30-year 200,000.00 loan at 6.5 % is 1264.14;
    # by the formula in 50 digits:
    assert annuity_50_digits("200000.00", "6.50", 360) == Decimal("1264.14")
    # and exactly: paying 1264.135 a month leaves something owed after 360
    # months and 1264.145 overpays, so the exact annuity rounds to 1264.14.
    r = period_rate(rate)
    owed_after = lambda payment: (  # noqa: E731
        principal * (1 + r) ** 360 - payment * accumulation(rate, 360)
    )
    assert owed_after(Fraction("126413.5")) > 0 > owed_after(Fraction("126414.5"))
    assert instalment_cents(principal, rate, 360) == 126414

    rows = schedule(principal, rate, 360)

    assert len(rows) == 360
    assert sum(r.principal_cents for r in rows) == principal
    assert all(r.principal_cents > 0 and r.interest_cents >= 0 for r in rows)
    assert {r.instalment_cents for r in rows[:-1]} == {126414}
    # Row 1 by hand: 200000.00 × 6.5 % / 12 = 1083.333… → 1083.33 interest,
    # 1264.14 − 1083.33 = 180.81 principal.
    assert (rows[0].interest_cents, rows[0].principal_cents) == (108333, 18081)
    # The exact annuity is 1264.13605: rounding it up by 0.395 cent a month,
    # compounded at the loan's rate, overpays by 0.395 × s_360 = 0.395 × 1106.2
    # ≈ 4.37 over the term; the interest roundings make up the rest of the
    # 4.58 by which the last row asks for less.
    residue = Fraction(126414) - exact_annuity(principal, rate, 360)
    assert 437 < residue * accumulation(rate, 360) < 438
    assert triples(rows) == reference_schedule(principal, rate, 360)
    last = rows[-1]
    assert (last.principal_cents, last.interest_cents) == (125277, 679)
    assert last.instalment_cents == 125956
    # That is 4.58 below the others: more than "term cents" is not a bound.
    assert 126414 - last.instalment_cents == 458


# --- an amount that does not divide evenly --------------------------------------


def test_uneven_amount_1000_01_at_7_5_percent_over_7_months():
    # r = 7.5 % / 12 = 0.625 %; 1000.01 × 0.00625 / (1 − 1.00625^−7) = 146.4523.
    assert annuity_50_digits("1000.01", "7.50", 7) == Decimal("146.45")
    rows = schedule(100001, Decimal("7.50"), 7)
    assert rows[0].instalment_cents == 14645
    # By hand: 1000.01 × 0.00625 = 6.2500625 → 6.25, 140.20 repaid, 859.81
    # owed; 859.81 × 0.00625 = 5.3738125 → 5.37, 141.08 repaid, 718.73 owed …
    assert triples(rows) == [
        (14020, 625, 14645), (14108, 537, 14645), (14196, 449, 14645),
        (14285, 360, 14645), (14374, 271, 14645), (14464, 181, 14645),
        (14554, 91, 14645),
    ]  # fmt: skip
    assert sum(r.principal_cents for r in rows) == 100001
    assert triples(rows) == reference_schedule(100001, Decimal("7.50"), 7)


# --- half-even rounding ---------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "expected_interest"),
    [
        (12500, 62),  # 125.00 × 6 % / 12 = 0.625 → 0.62 (half-up would say 0.63)
        (12300, 62),  # 123.00 × 6 % / 12 = 0.615 → 0.62 (half-down: 0.61)
        (12400, 62),  # 124.00 × 6 % / 12 = 0.62, no rounding at all
    ],
)
def test_interest_exactly_on_a_half_cent_rounds_to_even(principal, expected_interest):
    for months in (1, 2, 12):
        assert schedule(principal, Decimal("6.00"), months)[0].interest_cents == (
            expected_interest
        )


def test_an_annuity_exactly_on_a_half_cent_rounds_to_even():
    # 100.50 at 12 % over 2 months: 100.50 × 0.01 × 1.0201 / 0.0201 = 51.005
    # exactly (the sum 1.0252005 / 0.0201 divides out), so 51.00, not 51.01.
    assert Fraction(10050) * Fraction("0.01") * Fraction("1.0201") / Fraction(
        "0.0201"
    ) == Fraction("5100.5")
    assert instalment_cents(10050, Decimal("12.00"), 2) == 5100
    # Three times as much is 153.015 exactly: to the even cent above, 153.02.
    assert instalment_cents(30150, Decimal("12.00"), 2) == 15302
    # 125.00 at 6 % for one month owes 125.625 exactly → 125.62. (The formula
    # in 50 digits gives 125.6250000…007 and would round it up to 125.63.)
    assert instalment_cents(12500, Decimal("6.00"), 1) == 12562
    assert annuity_50_digits("125.00", "6.00", 1) == Decimal("125.63")


@pytest.mark.parametrize(
    ("principal", "expected"),
    [(5, [2, 3]), (7, [4, 3]), (9, [4, 5]), (11, [6, 5])],  # 2.5→2, 3.5→4 …
)
def test_zero_rate_instalment_on_a_half_cent_rounds_to_even(principal, expected):
    assert [r.instalment_cents for r in schedule(principal, Decimal(0), 2)] == expected


# --- due dates ------------------------------------------------------------------


def test_due_dates_follow_the_month_end_from_31_january_2027():
    rows = schedule(100000, Decimal("12.00"), 12, disbursed_on=date(2027, 1, 31))
    assert [r.due_date for r in rows[:4]] == [
        date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31),
    ]  # fmt: skip
    assert rows[-1].due_date == date(2028, 1, 31)


def test_due_dates_in_a_leap_year_fall_on_29_february():
    rows = schedule(100000, Decimal("12.00"), 3, disbursed_on=date(2028, 1, 31))
    assert [r.due_date for r in rows] == [
        date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30),
    ]  # fmt: skip


def test_due_dates_keep_the_disbursement_day_when_every_month_has_it():
    rows = schedule(100000, Decimal("12.00"), 3, disbursed_on=date(2027, 11, 15))
    assert [r.due_date for r in rows] == [
        date(2027, 12, 15), date(2028, 1, 15), date(2028, 2, 15),
    ]  # fmt: skip


def test_a_preview_before_disbursement_has_no_due_dates():
    assert {r.due_date for r in schedule(100000, Decimal("12.00"), 12)} == {None}


# --- a loan the rounded-up instalment repays early ------------------------------


def test_rounding_up_that_would_overpay_stops_at_what_is_owed():
    # 1.40 at 0 % over 40 months: 1.40 / 40 = 0.035 → 0.04 (half-even), and 35
    # of those repay it; the rows after ask for nothing, never a negative.
    rows = schedule(140, Decimal(0), 40)
    assert [r.instalment_cents for r in rows] == [4] * 35 + [0] * 5
    # 9445.71 at 18.87 % over 480 months: 148.62, the exact annuity being
    # 148.6169; the 0.31 cent a month, compounded at 18.87 % for 40 years, is
    # more than two instalments, so row 478 finishes the loan (67.31 + 1.06)
    # and rows 479 and 480 are zero.
    rate = Decimal("18.87")
    assert 1486168 < exact_annuity(944571, rate, 480) * 100 < 1486169
    rows = schedule(944571, rate, 480)
    assert triples(rows) == reference_schedule(944571, rate, 480)
    assert {r.instalment_cents for r in rows[:477]} == {14862}
    assert triples(rows[477:]) == [(6731, 106, 6837), (0, 0, 0), (0, 0, 0)]
    assert sum(r.principal_cents for r in rows) == 944571


# --- properties -----------------------------------------------------------------

principals = st.integers(min_value=1, max_value=10**8)
rates = st.integers(min_value=0, max_value=3000).map(lambda n: Decimal(n) / 100)
terms = st.integers(min_value=1, max_value=480)


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=rates, months=terms)
def test_schedule_invariants(principal, rate, months):
    payment = instalment_cents(principal, rate, months)
    rows = schedule(principal, rate, months)

    assert len(rows) == months
    assert [r.number for r in rows] == list(range(1, months + 1))
    assert sum(r.principal_cents for r in rows) == principal
    for r in rows:
        assert r.instalment_cents == r.principal_cents + r.interest_cents
        assert r.principal_cents >= 0
        assert r.interest_cents >= 0
    # The instalment is the exact annuity rounded half-even.
    assert payment == round(exact_annuity(principal, rate, months))

    # Rows before the one that repays the loan ask for the instalment; if the
    # rounded-up instalment repays it early, that row asks for no more and
    # every row after it is zero.
    owed, paid_off_at = principal, months
    for r in rows:
        owed -= r.principal_cents
        if owed == 0:
            paid_off_at = r.number
            break
    assert {r.instalment_cents for r in rows[: paid_off_at - 1]} <= {payment}
    if paid_off_at < months:
        assert rows[paid_off_at - 1].instalment_cents <= payment
        assert all(triples([r]) == [(0, 0, 0)] for r in rows[paid_off_at:])
    else:
        # The last row differs from the others by the compounded residue:
        # at most one cent a month (half of the instalment's rounding, half
        # of an interest's) grown at the loan's rate, s_n cents, which is n
        # cents at 0 %.
        gap = abs(rows[-1].instalment_cents - payment)
        assert gap <= accumulation(rate, months)
        if rate == 0:
            assert gap <= months

    # On the declining balance interest never rises and the principal part
    # never falls (rows before the last and before any early repayment).
    steady = rows[: paid_off_at - 1]
    interests = [r.interest_cents for r in steady]
    assert interests == sorted(interests, reverse=True)
    parts = [r.principal_cents for r in steady]
    assert parts == sorted(parts)
    # When the exact first principal part is at least a cent, every row
    # before the last repays at least a cent.
    r_ = period_rate(rate)
    first_part = exact_annuity(principal, rate, months) - principal * r_
    if first_part >= 1:
        assert all(part >= 1 for part in parts)


@settings(max_examples=150, deadline=None)
@given(principal=principals, rate=rates, months=terms)
def test_schedule_matches_exact_fractions(principal, rate, months):
    assert triples(schedule(principal, rate, months)) == reference_schedule(
        principal, rate, months
    )


@settings(max_examples=100, deadline=None)
@given(
    principal=st.integers(min_value=1, max_value=10**12),
    rate=st.integers(min_value=0, max_value=10000).map(lambda n: Decimal(n) / 100),
    months=st.integers(min_value=1, max_value=600),
)
def test_instalment_is_the_exact_annuity_rounded_half_even_over_the_whole_range(
    principal, rate, months
):
    assert instalment_cents(principal, rate, months) == round(
        exact_annuity(principal, rate, months)
    )


def test_the_extremes_of_the_range_compute():
    assert instalment_cents(1, Decimal(100), 600) == 0  # 1 cent × 8.33 % a month
    assert instalment_cents(10**8, Decimal(100), 600) == round(
        exact_annuity(10**8, Decimal(100), 600)
    )
    assert len(schedule(10**8, Decimal("100.00"), 600)) == 600


# --- invalid input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (0, Decimal("5.00"), 12),
        (-100, Decimal("5.00"), 12),
        (100000, Decimal("5.00"), 0),
        (100000, Decimal("5.00"), -1),
        (100000, Decimal("5.00"), 601),
        (100000, Decimal("-0.01"), 12),
        (100000, Decimal("100.01"), 12),
        (100000, Decimal("7.125"), 12),
        (100000, Decimal("1E-1000000"), 12),
        (100000, Decimal("NaN"), 12),
        (100000, Decimal("sNaN"), 12),
        (100000, Decimal("Infinity"), 12),
    ],
)
def test_invalid_terms_raise_value_error(principal, rate, months):
    with pytest.raises(ValueError):
        instalment_cents(principal, rate, months)
    with pytest.raises(ValueError):
        schedule(principal, rate, months)


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (100000, 5.0, 12),
        (100000, "5.00", 12),
        (100000.0, Decimal("5.00"), 12),
        (True, Decimal("5.00"), 12),
        (100000, Decimal("5.00"), 12.0),
    ],
)
def test_wrong_types_raise_type_error(principal, rate, months):
    with pytest.raises(TypeError):
        schedule(principal, rate, months)


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (1, Decimal(0), 1),
        (100000, Decimal("100.00"), 600),
        (100000, Decimal("7.5"), 12),
        (100000, Decimal("7.500"), 12),  # trailing zeros are still 7.50
        (100000, Decimal("1.2E+1"), 12),
    ],
)
def test_bounds_and_spellings_of_valid_terms_are_accepted(principal, rate, months):
    assert sum(r.principal_cents for r in schedule(principal, rate, months)) == (
        principal
    )
