"""Monthly statements: the months list, a month's statement as JSON, CSV and PDF,
who may read which, months in the bank's zone, late entries, and the cost of a
statement (which never grows with the history before it)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pypdf
import pytest

from app.core import statements
from app.core.statements import Month
from app.models.account import AccountModel
from app.rendering import statement_csv, statement_pdf
from tests import history
from tests.conftest import register
from tests.helpers import assert_problem

JAN_10 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    return history.install(monkeypatch, history.Clock(JAN_10))


@pytest.fixture
def carol(app, client, clock):
    """A customer whose account opened on 10 January 2025, with her book."""
    registered = register(client, "carol")
    number = registered["account"]["account_number"]
    with app.app_context():
        account = AccountModel().find_by_number(number)
    return {**registered, "number": number, "id": account["_id"],
            "book": history.Book(app)}  # fmt: skip


def url(number: str, month: str = "", query: str = "") -> str:
    tail = f"/{month}" if month else ""
    return f"/accounts/{number}/statements{tail}{query}"


def january_and_february(carol, clock) -> None:
    """Deposits and spending across two months (50.00 left at the end of January)."""
    book = carol["book"]
    book.deposit(carol["id"], 100_00, "Salary")
    clock.advance(timedelta(days=3))
    book.withdraw(carol["id"], 30_00)
    clock.advance(timedelta(days=2))
    book.withdraw(carol["id"], 20_00)
    clock.at(datetime(2025, 2, 3, 12, 0, tzinfo=UTC))
    book.deposit(carol["id"], 5_25, '=HYPERLINK("http://evil.example")')


# -- JSON ---------------------------------------------------------------------------


def test_a_statement_adds_up_and_lists_the_months_lines(client, carol, clock):
    january_and_february(carol, clock)
    response = client.get(url(carol["number"], "2025-01"), headers=carol["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert {k: v for k, v in body.items() if k != "lines"} == {
        "account_number": carol["number"], "month": "2025-01", "currency": "USD",
        "starts_at": "2025-01-01T00:00:00.000Z", "ends_at": "2025-02-01T00:00:00.000Z",
        "complete": True, "opening_balance": "0.00", "closing_balance": "50.00",
        "total_credits": "100.00", "total_debits": "50.00",
    }  # fmt: skip
    assert [(line["type"], line["amount"], line["balance_after"]) for line in
            body["lines"]] == [("deposit", "100.00", "100.00"),
                               ("withdrawal", "30.00", "70.00"),
                               ("withdrawal", "20.00", "50.00")]  # fmt: skip
    assert set(body["lines"][0]) >= {
        "id",
        "account_number",
        "description",
        "created_at",
    }
    february = client.get(url(carol["number"], "2025-02"), headers=carol["headers"])
    assert february.get_json()["opening_balance"] == "50.00"
    assert february.get_json()["closing_balance"] == "55.25"


def test_the_current_month_is_a_statement_to_date(app, client):
    """The real clock's month: not complete, everything so far in it."""
    customer = register(client, "erin")
    number = customer["account"]["account_number"]
    client.post("/deposit", headers=customer["headers"], json={"amount": "12.34"})
    this_month = str(Month.of(datetime.now(UTC), app.config["BANK_TIMEZONE"]))
    body = client.get(url(number, this_month), headers=customer["headers"]).get_json()
    assert body["complete"] is False
    assert (body["opening_balance"], body["closing_balance"]) == ("0.00", "12.34")


def test_a_quiet_month_after_opening_is_an_empty_statement(client, carol, clock):
    january_and_february(carol, clock)
    body = client.get(url(carol["number"], "2025-06"), headers=carol["headers"])
    assert body.status_code == 200
    body = body.get_json()
    assert body["lines"] == []
    assert body["opening_balance"] == body["closing_balance"] == "55.25"


@pytest.mark.parametrize(
    "month, detail",
    [("2999-01", "The month has not begun."),
     ("2024-12", "The account was opened after this month."),
     ("0001-01", "The account was opened after this month."),
     ("9999-12", "The month has not begun.")],
)  # fmt: skip
def test_a_month_not_begun_or_before_the_account_is_404(client, carol, month, detail):
    response = client.get(url(carol["number"], month), headers=carol["headers"])
    assert assert_problem(response, 404, "statement_not_found")["detail"] == detail


@pytest.mark.parametrize(
    "month", ["2025-13", "2025-00", "2025-1", "25-01", "0000-01", "2025-01-01",
              "abcd-ef", "２０２５-01", "2025_01"],
)  # fmt: skip
def test_a_month_not_written_yyyy_mm_is_422_naming_the_month(client, carol, month):
    response = client.get(url(carol["number"], month), headers=carol["headers"])
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == ["month"]


@pytest.mark.parametrize("query", ["?format=xml", "?format=", "?format=csv&format=pdf"])
def test_an_unknown_format_is_422_naming_it(client, carol, query):
    response = client.get(
        url(carol["number"], "2025-01", query), headers=carol["headers"]
    )
    assert list(assert_problem(response, 422, "validation_error")["errors"]) == [
        "format"
    ]


# -- the months list ----------------------------------------------------------------


def test_the_months_with_activity_newest_first_page_by_page(client, carol, clock):
    for day in (datetime(2025, 1, 20), datetime(2025, 3, 5), datetime(2025, 3, 6),
                datetime(2025, 7, 1), datetime(2026, 2, 28, 23)):  # fmt: skip
        clock.at(day.replace(tzinfo=UTC))
        carol["book"].deposit(carol["id"], 1_00)
    headers = carol["headers"]
    body = client.get(url(carol["number"]), headers=headers).get_json()
    assert body == {"items": [{"month": m} for m in
                              ("2026-02", "2025-07", "2025-03", "2025-01")],
                    "next_cursor": None}  # fmt: skip
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(url(carol["number"]), headers=headers, query_string=query)
        page = page.get_json()
        seen += [item["month"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["2026-02", "2025-07", "2025-03", "2025-01"]


def test_a_new_account_has_no_months(client, customer):
    number = customer["account"]["account_number"]
    body = client.get(url(number), headers=customer["headers"]).get_json()
    assert body == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query, field",
    [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit"),
     ({"cursor": "not-a-cursor"}, "cursor"),
     ({"cursor": "bW9udGg6MjAyNS0xMw"}, "cursor"),  # month:2025-13
     ({"colour": "red"}, "colour")],
)  # fmt: skip
def test_bad_list_queries_are_422_naming_the_field(client, customer, query, field):
    number = customer["account"]["account_number"]
    response = client.get(url(number), headers=customer["headers"], query_string=query)
    assert field in assert_problem(response, 422, "validation_error")["errors"]


def test_listing_months_costs_one_read_per_month_listed(app, client, carol, clock):
    """A skip scan: however many entries a month holds, one indexed read finds
    it; a page of 2 months costs 3 reads of the journal."""
    for month in range(1, 7):
        for day in range(1, 21):
            clock.at(datetime(2025, month, day, 8, tzinfo=UTC))
            carol["book"].deposit(carol["id"], 1_00)
    reads = history.count_reads(app)
    try:
        response = client.get(url(carol["number"], query="?limit=2"),
                              headers=carol["headers"])  # fmt: skip
    finally:
        history.stop_counting(app, reads)
    assert [i["month"] for i in response.get_json()["items"]] == ["2025-06", "2025-05"]
    assert reads.round_trips("transactions") == 3
    assert reads.documents["transactions"] == 3


# -- who reads what -------------------------------------------------------------


def test_another_customers_account_is_404_like_a_missing_one(
    client, customer, other_customer
):
    theirs = other_customer["account"]["account_number"]
    for path in (url(theirs), url(theirs, "2025-01"), url("0000000000", "2025-01"),
                 url("12345", "2025-01"), url("0000000000")):  # fmt: skip
        response = client.get(path, headers=customer["headers"])
        assert_problem(response, 404, "account_not_found")


def test_staff_read_any_accounts_statements_and_customers_may_not(
    client, carol, clock, banker, auditor
):
    january_and_february(carol, clock)
    number = carol["number"]
    own = client.get(url(number, "2025-01"), headers=carol["headers"]).get_json()
    for staff in (banker, auditor):
        months = client.get(f"/banker{url(number)}", headers=staff["headers"])
        assert months.status_code == 200
        assert [i["month"] for i in months.get_json()["items"]] == [
            "2025-02",
            "2025-01",
        ]
        cut = client.get(f"/banker{url(number, '2025-01')}", headers=staff["headers"])
        assert cut.get_json() == own
        pdf = client.get(f"/banker{url(number, '2025-01', '?format=pdf')}",
                         headers=staff["headers"])  # fmt: skip
        assert pdf.mimetype == "application/pdf"
        # The customers' routes are the customers'.
        assert_problem(client.get(url(number), headers=staff["headers"]), 403,
                       "forbidden")  # fmt: skip
    for path in (f"/banker{url(number)}", f"/banker{url(number, '2025-01')}"):
        assert_problem(client.get(path, headers=carol["headers"]), 403, "forbidden")
        assert_problem(client.get(path), 401, "token_missing")
    missing = client.get("/banker/accounts/0000000000/statements/2025-01",
                         headers=banker["headers"])  # fmt: skip
    assert_problem(missing, 404, "account_not_found")


def test_a_closed_account_keeps_its_statements_for_its_owner(
    app, client, carol, clock, banker
):
    book = carol["book"]
    book.deposit(carol["id"], 40_00)
    clock.advance(timedelta(days=1))
    book.withdraw(carol["id"], 40_00)
    closed = client.patch(
        f"/banker/accounts/{carol['number']}",
        headers=banker["headers"],
        json={"status": "closed"},
    )
    assert closed.status_code == 200, closed.get_json()
    body = client.get(url(carol["number"], "2025-01"), headers=carol["headers"])
    assert body.status_code == 200
    assert [line["amount"] for line in body.get_json()["lines"]] == ["40.00", "40.00"]
    months = client.get(url(carol["number"]), headers=carol["headers"]).get_json()
    assert months["items"] == [{"month": "2025-01"}]


# -- months in the bank's zone --------------------------------------------------------


def test_an_entry_late_on_the_31st_utc_is_next_month_in_berlin(
    app, client, carol, clock
):
    """23:30 UTC on 31 January is 00:30 on 1 February in Europe/Berlin."""
    app.config["BANK_TIMEZONE"] = "Europe/Berlin"
    clock.at(datetime(2025, 1, 31, 23, 30, tzinfo=UTC))
    carol["book"].deposit(carol["id"], 7_00)
    headers = carol["headers"]
    january = client.get(url(carol["number"], "2025-01"), headers=headers).get_json()
    february = client.get(url(carol["number"], "2025-02"), headers=headers).get_json()
    assert january["lines"] == [] and january["closing_balance"] == "0.00"
    assert [line["amount"] for line in february["lines"]] == ["7.00"]
    assert february["starts_at"] == "2025-01-31T23:00:00.000Z"
    months = client.get(url(carol["number"]), headers=headers).get_json()
    assert months["items"] == [{"month": "2025-02"}]
    # In UTC the same entry is January's.
    app.config["BANK_TIMEZONE"] = "UTC"
    january = client.get(url(carol["number"], "2025-01"), headers=headers).get_json()
    assert [line["amount"] for line in january["lines"]] == ["7.00"]


def test_an_entry_early_on_the_1st_utc_is_last_month_in_new_york(app, carol, clock):
    clock.at(datetime(2025, 3, 1, 3, 0, tzinfo=UTC))  # 22:00 on 28 February in NY
    carol["book"].deposit(carol["id"], 9_00)
    with app.app_context():
        account = AccountModel().find_by_id(carol["id"])
        feb = statements.statement(account, Month(2025, 2), "America/New_York")
        march = statements.statement(account, Month(2025, 3), "America/New_York")
    assert [e["amount_cents"] for e in feb.lines] == [9_00]
    assert march.lines == [] and march.opening_cents == 9_00


# -- late entries ---------------------------------------------------------------------


def cut(app, account_id, month: Month):
    with app.app_context():
        account = AccountModel().find_by_id(account_id)
        return statements.statement(account, month, "UTC")


def test_an_entry_not_yet_journalled_fills_its_place_from_its_commit_record(
    app, carol, clock
):
    """seq 1 committed and stalled, seq 2 journalled: the statement still shows
    both, from the account's record, and is unchanged once recovery journals."""
    book = carol["book"]
    book.stall_deposit(carol["id"], 10_00)
    clock.advance(timedelta(seconds=1))
    book.deposit(carol["id"], 5_00)
    before = cut(app, carol["id"], Month(2025, 1))
    assert [(e["seq"], e["balance_after_cents"]) for e in before.lines] == [
        (1, 10_00), (2, 15_00)]  # fmt: skip
    assert before.closing_cents == 15_00
    clock.advance(timedelta(days=2))
    book.settle_all()
    after = cut(app, carol["id"], Month(2025, 1))
    assert [(e["_id"], e["seq"]) for e in after.lines] == [
        (e["_id"], e["seq"]) for e in before.lines]  # fmt: skip


def test_an_entry_journalled_next_month_stays_in_the_month_of_its_successor(
    app, carol, clock
):
    """Committed on 31 January, journalled by recovery on 2 February, while the
    next entry was journalled on 31 January: it is January's (its seq is below
    January's boundary), and February's opening follows from it."""
    book = carol["book"]
    clock.at(datetime(2025, 1, 31, 23, 59, 58, tzinfo=UTC))
    book.stall_deposit(carol["id"], 10_00)  # seq 1
    clock.advance(timedelta(seconds=1))
    book.deposit(carol["id"], 5_00)  # seq 2, journalled in January
    clock.at(datetime(2025, 2, 2, 8, tzinfo=UTC))
    book.settle_all()  # seq 1 journalled in February
    january, february = cut(app, carol["id"], Month(2025, 1)), cut(
        app, carol["id"], Month(2025, 2))  # fmt: skip
    assert [e["seq"] for e in january.lines] == [1, 2]
    assert january.closing_cents == 15_00 == february.opening_cents
    assert february.lines == []


def test_the_last_entry_journalled_next_month_is_next_months(app, carol, clock):
    """An entry above every journalled one at the month's end belongs to the
    month in which it is journalled."""
    book = carol["book"]
    book.deposit(carol["id"], 5_00)
    clock.at(datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC))
    book.stall_deposit(carol["id"], 10_00)  # seq 2, the highest
    month_end = cut(app, carol["id"], Month(2025, 1))
    assert month_end.closing_cents == 5_00  # the month closes at what is journalled
    clock.at(datetime(2025, 2, 1, 0, 5, tzinfo=UTC))
    book.settle_all()
    january, february = cut(app, carol["id"], Month(2025, 1)), cut(
        app, carol["id"], Month(2025, 2))  # fmt: skip
    assert [e["seq"] for e in january.lines] == [1] and january.closing_cents == 5_00
    assert [e["seq"] for e in february.lines] == [2]
    assert february.closing_cents == 15_00


def test_a_boundary_finds_a_higher_seq_journalled_before_the_latest_entry(
    app, carol, clock
):
    """seq 2 journalled at 23:59:59.000, seq 1 (committed before it) at
    23:59:59.500: the latest entry before the 1st is seq 1, yet the boundary is
    seq 2 (the window after seq 1's creation finds it)."""
    book = carol["book"]
    clock.at(datetime(2025, 1, 31, 23, 59, 58, tzinfo=UTC))
    book.stall_deposit(carol["id"], 10_00)  # seq 1, created 23:59:58
    clock.advance(timedelta(seconds=1))
    book.deposit(carol["id"], 5_00)  # seq 2, posted 23:59:59.000
    clock.advance(timedelta(milliseconds=500))
    book.settle_all()  # seq 1 posted 23:59:59.500: the latest by time
    with app.app_context():
        from app.models.transaction import TransactionModel

        journal = TransactionModel()
        feb_1 = datetime(2025, 2, 1, tzinfo=UTC)
        assert journal.latest_posted_before(carol["id"], feb_1)["seq"] == 1
        assert statements.boundary(journal, carol["id"], feb_1) == (2, 15_00)
    clock.at(datetime(2025, 2, 1, 10, tzinfo=UTC))
    book.deposit(carol["id"], 1_00)  # seq 3, February's
    february = cut(app, carol["id"], Month(2025, 2))
    assert february.opening_cents == 15_00
    assert [e["seq"] for e in february.lines] == [3]


# -- CSV ------------------------------------------------------------------------------


def test_csv_is_an_attachment_with_one_line_per_movement(client, carol, clock):
    january_and_february(carol, clock)
    carol["book"].deposit(carol["id"], 1_00, "+1 bonus")
    carol["book"].deposit(carol["id"], 2_00, "-sign @home")
    carol["book"].deposit(carol["id"], 3_00, "@SUM(A1)")
    response = client.get(url(carol["number"], "2025-02", "?format=csv"),
                          headers=carol["headers"])  # fmt: skip
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="statement-{carol["number"]}-2025-02.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(statement_csv.HEADER)
    assert len(rows) == 1 + 4
    descriptions = [row[3] for row in rows[1:]]
    assert descriptions == ["'=HYPERLINK(\"http://evil.example\")", "'+1 bonus",
                            "'-sign @home", "'@SUM(A1)"]  # fmt: skip
    assert [row[5] for row in rows[1:]] == ["5.25", "1.00", "2.00", "3.00"]
    assert rows[1][7] == "55.25" and rows[-1][7] == "61.25"
    assert rows[1][0] == "2025-02-03" and rows[1][1] == "2025-02-03T12:00:00.000Z"


@pytest.mark.parametrize(
    "text, shown",
    [("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=1", "a=1"), ("", ""), (None, "")],
)  # fmt: skip
def test_text_cells_that_a_spreadsheet_would_run_are_escaped(text, shown):
    assert statement_csv.text_cell(text) == shown


def test_a_negative_balance_stays_a_number_in_csv(app, client, carol):
    """A loan's account: its balance below zero is written as the amount it is."""
    with app.app_context():
        from app.models import ledger

        # The primary account shares its _id with its owner.
        owner = {"_id": carol["id"], "username": "carol"}
        loan = AccountModel().create(owner, "USD", kind="loan")
        ledger.transfer(loan, carol["number"], 250_00, "Loan",
                        terms=ledger.Terms(floor_cents=-250_00))  # fmt: skip
    response = client.get(url(loan["account_number"], "2025-01", "?format=csv"),
                          headers=carol["headers"])  # fmt: skip
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[1][6:8] == ["250.00", "-250.00"]


# -- PDF ------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_carries_the_account_the_month_the_balances_and_every_amount(
    client, carol, clock
):
    january_and_february(carol, clock)
    response = client.get(url(carol["number"], "2025-01", "?format=pdf"),
                          headers=carol["headers"])  # fmt: skip
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="statement-{carol["number"]}-2025-01.pdf"'
    )
    assert response.data.startswith(b"%PDF-")
    text = pdf_text(response.data)
    for expected in (carol["number"], "2025-01", "Opening balance", "0.00",
                     "Closing balance", "50.00", "100.00", "30.00", "20.00", "70.00",
                     "Salary", "Page 1 of 1"):  # fmt: skip
        assert expected in text, expected


def test_pdf_of_the_same_statement_is_the_same_bytes(client, carol, clock):
    january_and_february(carol, clock)
    path = url(carol["number"], "2025-02", "?format=pdf")
    first = client.get(path, headers=carol["headers"]).data
    second = client.get(path, headers=carol["headers"]).data
    assert first == second
    carol["book"].deposit(carol["id"], 1_00)
    assert client.get(path, headers=carol["headers"]).data != first


def long_statement(lines: int) -> statements.Statement:
    """A statement of ``lines`` alternating credits and debits, no database."""
    start = datetime(2025, 5, 1, tzinfo=UTC)
    entries, balance = [], 1_000_00
    for index in range(lines):
        kind = "deposit" if index % 2 == 0 else "withdrawal"
        cents = 1_00 + index
        balance += cents if kind == "deposit" else -cents
        entries.append({
            "_id": f"{index:024x}", "seq": index + 1, "type": kind,
            "amount_cents": cents, "balance_after_cents": balance, "currency": "USD",
            "description": f"Movement number {index} with a rather long description",
            "counterparty_account_number": None,
            "created_at": start + timedelta(minutes=index),
        })  # fmt: skip
    credits = sum(e["amount_cents"] for e in entries if e["type"] == "deposit")
    return statements.Statement(
        "1234567897", "USD", Month(2025, 5), start, datetime(2025, 6, 1, tzinfo=UTC),
        1_000_00, balance, credits, sum(e["amount_cents"] for e in entries) - credits,
        entries, True,
    )  # fmt: skip


def test_a_long_statement_runs_over_pages_with_every_line(monkeypatch):
    cut = long_statement(200)
    data = statement_pdf.render(cut, "UTC")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == statement_pdf.page_count(200) > 3
    text = pdf_text(data)
    assert f"Page {len(reader.pages)} of {len(reader.pages)}" in text
    for entry in cut.lines:
        assert (
            f"{entry['amount_cents'] // 100}.{entry['amount_cents'] % 100:02d}" in text
        )
    assert statement_pdf.render(cut, "UTC") == data


# -- cost -----------------------------------------------------------------------------


def statement_reads(app, client, carol, month: str) -> history.Reads:
    reads = history.count_reads(app)
    try:
        response = client.get(url(carol["number"], month), headers=carol["headers"])
    finally:
        history.stop_counting(app, reads)
    assert response.status_code == 200
    return reads


def test_a_statement_reads_its_month_not_the_history_before_it(
    app, client, carol, clock
):
    """The same month costs the same round trips and documents after 1 or 12
    earlier months of history: its own entries and its boundary entries."""

    def month_of_activity(year: int, month: int) -> None:
        for day in (12, 16, 20, 27):
            clock.at(datetime(year, month, day, 10, tzinfo=UTC))
            carol["book"].deposit(carol["id"], 2_00)

    month_of_activity(2025, 1)
    for month in range(2, 5):
        month_of_activity(2025, month)
    first = statement_reads(app, client, carol, "2025-03")
    # Pile history in front of a later month: twelve more months.
    for month in range(5, 13):
        month_of_activity(2025, month)
    for month in range(1, 5):
        month_of_activity(2026, month)
    month_of_activity(2026, 5)
    later = statement_reads(app, client, carol, "2026-05")
    assert later.calls == first.calls
    assert later.documents == first.documents
    # The month's 4 lines, and per boundary the entry before it and its window.
    assert first.documents["transactions"] == 4 + 2 + 2
    assert first.round_trips("transactions") == 5
