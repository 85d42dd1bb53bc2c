"""Monthly analytics: income, expenses and net by month for all the customer's
accounts (moves between them are neither), the months window, its cost, and
the same figures drawn as PNG and SVG charts."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from app.core import analytics
from app.core.statements import Month
from app.models import ledger
from app.models.account import AccountModel
from tests import history
from tests.conftest import register
from tests.helpers import assert_problem

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def this_month(app) -> Month:
    return Month.of(datetime.now(UTC), app.config["BANK_TIMEZONE"])


def month_start(app, months_ago: int) -> datetime:
    """The instant the month ``months_ago`` before this one begins (UTC)."""
    zone = app.config["BANK_TIMEZONE"]
    return this_month(app).shifted(-months_ago).start(zone)


@pytest.fixture
def clock(monkeypatch, app):
    # Opened nine months ago: the figures below fall in the months since.
    return history.install(
        monkeypatch, history.Clock(month_start(app, 9) + timedelta(hours=10))
    )


@pytest.fixture
def people(app, client, clock):
    """carol (checking, savings, a goal account, a loan account) and dave."""
    carol, dave = register(client, "carol"), register(client, "dave")
    with app.app_context():
        accounts = AccountModel()
        primary = accounts.find_by_number(carol["account"]["account_number"])
        owner = {"_id": primary["_id"], "username": "carol"}
        savings = accounts.create(owner, "USD", kind="savings")
        goal = accounts.create(owner, "USD", kind="goal")
        loan = accounts.create(owner, "USD", kind="loan")
    return {"carol": carol, "dave": dave, "primary": primary, "savings": savings,
            "goal": goal, "loan": loan, "book": history.Book(app)}  # fmt: skip


def move(app, kind: str, source: dict, cents: int, target: str | None = None, **kw):
    """One movement through the ledger, on a fresh read of the source."""
    with app.app_context():
        account = AccountModel().find_by_id(source["_id"])
        if kind == "deposit":
            return ledger.deposit(account, cents, None)
        if kind == "withdraw":
            return ledger.withdraw(account, cents, None)
        if kind == "interest":
            return ledger.charge_interest(account, cents, None)
        return ledger.transfer(account, target, cents, None, **kw)


def figures(client, headers, months: int | None = None) -> list[dict]:
    query = {} if months is None else {"months": months}
    response = client.get("/analytics/monthly", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["currency"] == "USD"
    return body["items"]


def test_moves_between_own_accounts_goals_and_loans_are_neither(
    app, client, people, clock
):
    p = people
    dave_number = p["dave"]["account"]["account_number"]
    clock.at(month_start(app, 1) + timedelta(days=2))
    move(app, "deposit", p["primary"], 1_000_00)  # income
    move(app, "transfer", p["primary"], 200_00, p["savings"]["account_number"])
    move(app, "transfer", p["primary"], 50_00, p["goal"]["account_number"])
    move(app, "transfer", p["savings"], 25_00, p["primary"]["account_number"])
    move(app, "withdraw", p["primary"], 40_00)  # an expense
    move(app, "transfer", p["primary"], 60_00, dave_number)  # an expense
    with app.app_context():
        dave = AccountModel().find_by_number(dave_number)
    move(app, "deposit", dave, 500_00)
    move(app, "transfer", dave, 70_00, p["savings"]["account_number"])  # income
    # A loan: disbursed into and repaid from carol's own account (neither), its
    # interest charged by the bank (an expense).
    move(app, "transfer", p["loan"], 300_00, p["primary"]["account_number"],
         terms=ledger.Terms(floor_cents=-300_00))  # fmt: skip
    move(app, "transfer", p["primary"], 100_00, p["loan"]["account_number"],
         terms=ledger.Terms(into_loan=True))  # fmt: skip
    move(app, "interest", p["loan"], 3_50)
    items = figures(client, p["carol"]["headers"], months=3)
    assert [item["month"] for item in items] == [
        str(this_month(app).shifted(offset)) for offset in (-2, -1, 0)
    ]
    assert items[0] == {"month": items[0]["month"], "income": "0.00",
                        "expenses": "0.00", "net": "0.00", "count": 0}  # fmt: skip
    assert items[1] == {"month": str(this_month(app).shifted(-1)), "income": "1070.00",
                        "expenses": "103.50", "net": "966.50", "count": 5}  # fmt: skip
    # dave's view of the same month: carol's 60.00 in, his 70.00 out.
    theirs = figures(client, p["dave"]["headers"], months=2)[0]
    assert (theirs["income"], theirs["expenses"]) == ("560.00", "70.00")


def test_six_months_by_default_oldest_first_and_only_those(app, client, people, clock):
    p = people
    for months_ago, cents in ((8, 11_00), (6, 22_00), (5, 33_00), (0, 44_00)):
        clock.at(month_start(app, months_ago) + timedelta(days=1))
        move(app, "deposit", p["primary"], cents)
    items = figures(client, p["carol"]["headers"])
    assert len(items) == 6
    assert [item["income"] for item in items] == [
        "33.00", "0.00", "0.00", "0.00", "0.00", "44.00"]  # fmt: skip
    assert items[-1]["month"] == str(this_month(app))
    assert [i["income"] for i in figures(client, p["carol"]["headers"], 9)][:3] == [
        "11.00", "0.00", "22.00"]  # fmt: skip
    one = figures(client, p["carol"]["headers"], 1)
    assert one == [{"month": str(this_month(app)), "income": "44.00",
                    "expenses": "0.00", "net": "44.00", "count": 1}]  # fmt: skip


def test_a_month_is_the_banks_month(app, client, people, clock):
    """With BANK_TIMEZONE Pacific/Auckland (12 or 13 hours ahead of UTC), an
    entry half an hour after the local month began, still the last month's in
    UTC, is this month's; half an hour before, last month's."""
    app.config["BANK_TIMEZONE"] = "Pacific/Auckland"
    zone = app.config["BANK_TIMEZONE"]
    last_month = this_month(app).shifted(-1)
    local_start = this_month(app).start(zone)
    clock.at(local_start - timedelta(minutes=30))
    move(app, "deposit", people["primary"], 1_00)  # last month, locally
    clock.at(local_start + timedelta(minutes=30))
    move(app, "deposit", people["primary"], 2_00)  # this month
    items = figures(client, people["carol"]["headers"], 2)
    assert [(i["month"], i["income"]) for i in items] == [
        (str(last_month), "1.00"), (str(this_month(app)), "2.00")]  # fmt: skip


@pytest.mark.parametrize("months", ["0", "25", "-1", "x", "1.5", "", "06e0"])
def test_months_out_of_range_or_not_a_number_is_422_naming_months(
    client, customer, months
):
    for path in (
        "/analytics/monthly",
        "/analytics/monthly.png",
        "/analytics/monthly.svg",
    ):
        response = client.get(path, headers=customer["headers"],
                              query_string={"months": months})  # fmt: skip
        body = assert_problem(response, 422, "validation_error")
        assert list(body["errors"]) == ["months"]


def test_analytics_is_the_customers(client, banker, auditor):
    for path in (
        "/analytics/monthly",
        "/analytics/monthly.png",
        "/analytics/monthly.svg",
    ):
        for staff in (banker, auditor):
            assert_problem(client.get(path, headers=staff["headers"]), 403, "forbidden")
        assert_problem(client.get(path), 401, "token_missing")


def test_the_figures_read_only_the_months_asked_for(app, client, people, clock):
    """Two years of history before the window cost nothing: the same round
    trips, and only the window's entries are read."""
    p = people

    def read_figures() -> history.Reads:
        reads = history.count_reads(app)
        try:
            figures(client, p["carol"]["headers"], months=2)
        finally:
            history.stop_counting(app, reads)
        return reads

    clock.at(month_start(app, 1) + timedelta(days=1))
    for _ in range(3):
        move(app, "deposit", p["primary"], 1_00)
    before = read_figures()
    # 48 entries over the two years before the window.
    for index in range(48):
        clock.at(month_start(app, 26) + timedelta(days=15 * index))
        move(app, "deposit", p["primary"], 1_00)
    assert clock.now < month_start(app, 1)
    after = read_figures()
    assert after.calls == before.calls
    assert after.documents == before.documents
    assert before.documents["transactions"] == 3
    assert before.round_trips("transactions") == 1


def test_classify_names_each_kind_of_entry():
    own, other = {"1111111111"}, "2222222222"
    cases = [
        ({"type": "deposit"}, "income"),
        ({"type": "withdrawal"}, "expense"),
        ({"type": "interest"}, "expense"),
        ({"type": "transfer_in", "counterparty_account_number": other}, "income"),
        ({"type": "transfer_out", "counterparty_account_number": other},
         "expense"),
        ({"type": "transfer_in", "counterparty_account_number": "1111111111"}, None),
        ({"type": "transfer_out", "counterparty_account_number": "1111111111"}, None),
    ]  # fmt: skip
    assert [analytics.classify(entry, own) for entry, _ in cases] == [
        kind for _, kind in cases
    ]


# -- charts ---------------------------------------------------------------------------


def chart(client, headers, kind: str, months: int = 6):
    response = client.get(f"/analytics/monthly.{kind}", headers=headers,
                          query_string={"months": months})  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response


def test_the_png_chart_is_a_png_and_is_the_same_for_the_same_figures(
    app, client, people, clock
):
    headers = people["carol"]["headers"]
    clock.at(month_start(app, 2) + timedelta(days=3))
    move(app, "deposit", people["primary"], 1_250_00)
    move(app, "withdraw", people["primary"], 310_45)
    first = chart(client, headers, "png")
    assert first.mimetype == "image/png"
    assert first.data.startswith(PNG_SIGNATURE)
    assert 5_000 < len(first.data) < 200_000
    assert chart(client, headers, "png").data == first.data
    move(app, "withdraw", people["primary"], 1_00)
    assert chart(client, headers, "png").data != first.data
    assert chart(client, headers, "png", months=12).data != first.data


def test_the_svg_chart_is_svg_with_the_months_and_is_deterministic(
    app, client, people, clock
):
    headers = people["carol"]["headers"]
    clock.at(month_start(app, 1) + timedelta(days=3))
    move(app, "deposit", people["primary"], 99_00)
    first = chart(client, headers, "svg", months=3)
    assert first.mimetype == "image/svg+xml"
    assert 2_000 < len(first.data) < 300_000
    root = ET.fromstring(first.data)  # noqa: S314 - the app's own chart
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = first.get_data(as_text=True)
    for offset in (-2, -1, 0):
        assert str(this_month(app).shifted(offset)) in text
    assert "<dc:date>" not in text
    assert chart(client, headers, "svg", months=3).data == first.data
    move(app, "deposit", people["primary"], 1_00)
    assert chart(client, headers, "svg", months=3).data != first.data
