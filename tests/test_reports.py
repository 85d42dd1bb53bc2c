"""Staff reports: the monthly figures (JSON, CSV), logins per day, the mailing job.

The bank below is written at chosen moments (``clock_from``) in a zone west of
UTC, so a month's edge in BANK_TIMEZONE is not UTC's. Its moments are relative
to today (the previous month and the one before): the login history is kept
90 days, older attempts are gone.
"""

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.config import TestConfig
from app.controllers.jobs import context as job_context
from app.core import jobs, reports
from app.core.calendar import utc_text
from app.core.statements import Month
from app.db import get_db
from app.models import clock_from, utc_now
from app.models.user import UserModel
from tests import query_recorder as qr
from tests.conftest import PASSWORD, register
from tests.factories import auth_headers, flagged_deposit, fund, make_user
from tests.helpers import assert_problem, make_app

ZONE = "America/New_York"
PRODUCT = {"name": "Report loan", "annual_rate": "12.00", "min_amount": "100.00",
           "max_amount": "25000.00", "min_term_months": 1,
           "max_term_months": 360}  # fmt: skip


class Zoned(TestConfig):
    BANK_TIMEZONE = ZONE


def local(month: Month, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of ``month`` in the bank's zone, as a UTC instant."""
    moment = datetime(month.year, month.month, day, hour, minute, tzinfo=ZoneInfo(ZONE))
    return moment.astimezone(UTC)


def last_day(month: Month) -> int:
    return (month.shifted(1).first_day - timedelta(days=1)).day


def ok(response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def disburse_loan(client, owner: dict, banker: dict, amount: str) -> dict:
    terms = {**PRODUCT, "name": f"Loan {amount}"}
    product = ok(client.post("/banker/loan-products", headers=banker, json=terms), 201)
    asked = {"product_id": product["id"], "amount": amount, "term_months": 12}
    loan = ok(client.post("/loans", headers=owner["headers"], json=asked), 201)
    ok(client.post(f"/banker/loans/{loan['id']}/approve", headers=banker))
    return ok(client.post(f"/banker/loans/{loan['id']}/disburse", headers=banker))


def failed_login(client, username: str, times: int = 1) -> None:
    for _ in range(times):
        client.post("/auth/login", json={"username": username, "password": "wrong-1"})


def build_bank(extra_customers: int = 0):
    """The bank of the module's tests; return (app, banker headers, month P)."""
    app = make_app(Zoned)
    client = app.test_client()
    banker = auth_headers(app, make_user(app, "bernie", PASSWORD, role="banker"))
    month = reports.previous_month(utc_now(), ZONE)
    before = month.shifted(-1)
    with clock_from(local(before, 5, 10)):
        early = register(client, "early")
        fund(app, early["account"]["account_number"], 100_000)
        disburse_loan(client, early, banker, "1000.00")
    # The last half hour of the month before in the bank's zone (the first
    # hours of P in UTC): not P's.
    with clock_from(local(before, last_day(before), 23, 30)):
        fund(app, early["account"]["account_number"], 700)
        failed_login(client, "early")
    with clock_from(local(month, 2, 9)):
        anna, boris = register(client, "anna"), register(client, "boris")
        register(client, "cleo")
        fund(app, anna["account"]["account_number"], 10_000)
        ok(client.post("/withdraw", headers=anna["headers"], json={"amount": "30.00"}),
           201)  # fmt: skip
        to_boris = {
            "amount": "20.00",
            "to_account_number": boris["account"]["account_number"],
        }
        ok(client.post("/transfers", headers=anna["headers"], json=to_boris), 201)
        loan = disburse_loan(client, anna, banker, "1000.00")
        ok(client.post(f"/loans/{loan['id']}/repayments", headers=anna["headers"],
                       json={"amount": "100.00"}), 201)  # fmt: skip
        failed_login(client, "boris", 2)
        failed_login(client, "mallory", 6)  # 5 failures, then locked out
        with app.app_context():
            UserModel().set_active(UserModel().find_by_username("cleo")["_id"], False)
        client.post("/auth/login", json={"username": "cleo", "password": PASSWORD})
        flagged_deposit(app, boris["account"]["account_number"])
        for n in range(extra_customers):
            extra = register(client, f"extra{n}")
            fund(app, extra["account"]["account_number"], 500)
            disburse_loan(client, extra, banker, "200.00")
    # A late evening in the bank's zone is still that day (UTC: the next).
    with clock_from(local(month, 3, 23, 30)):
        failed_login(client, "boris")
    # Early's first interest falls due on the 5th of P: the bank's doing alone.
    when = local(month, 5, 12)
    with clock_from(when), app.app_context():
        jobs.run_job("loan_interest", job_context(when))
    # Now, in the current month: none of P's figures.
    fund(app, anna["account"]["account_number"], 100)
    register(client, "late")
    return app, banker, month


@pytest.fixture(scope="module")
def bank():
    return build_bank()


def monthly(app, banker, **query):
    return app.test_client().get(
        "/banker/reports/monthly", headers=banker, query_string=query
    )


# -- the monthly report ---------------------------------------------------------


def test_the_monthly_report_counts_each_figure(bank):
    app, banker, month = bank
    body = ok(monthly(app, banker, month=str(month)))
    assert body["month"] == str(month)
    assert body["currency"] == "USD"
    assert body["complete"] is True
    # Midnight in New York, in UTC.
    assert body["starts_at"] == utc_text(local(month, 1, 0))
    assert body["ends_at"] == utc_text(local(month.shifted(1), 1, 0))
    assert body["customers"] == {"new": 3, "total": 4, "active": 2}
    # anna, boris, cleo sign up (a login each); boris misses twice on the 2nd
    # and once on the 3rd; mallory 5 times, then is locked out; cleo, disabled,
    # is refused (a failure).
    assert body["logins"] == {"success": 3, "failure": 9, "locked": 1}
    assert body["movements"] == {
        "deposit": {"count": 2, "volume": "5100.00"},  # anna 100, boris 5000
        "withdrawal": {"count": 1, "volume": "30.00"},
        # anna to boris 20, the loan paid out 1000, anna's repayment 100
        "transfer_out": {"count": 3, "volume": "1120.00"},
        "transfer_in": {"count": 3, "volume": "1120.00"},
        "interest": {"count": 1, "volume": "10.00"},  # early's, 1 % of 1000.00
    }
    assert body["reviews_opened"] == 1  # boris's 5000.00
    # early owes 1000.00 + 10.00 interest, anna 1000.00 - 100.00.
    assert body["loans"] == {"disbursed": "1000.00", "outstanding": "1910.00"}


def test_the_month_before_holds_what_fell_in_it_in_the_banks_zone(bank):
    app, banker, month = bank
    body = ok(monthly(app, banker, month=str(month.shifted(-1))))
    assert body["customers"] == {"new": 1, "total": 1, "active": 1}
    # The deposit of the last half hour (local) is the month before's.
    assert body["movements"]["deposit"] == {"count": 2, "volume": "1007.00"}
    assert body["logins"] == {"success": 1, "failure": 1, "locked": 0}
    assert body["loans"] == {"disbursed": "1000.00", "outstanding": "1000.00"}


def test_the_current_month_is_a_report_to_date(bank):
    app, banker, _month = bank
    now = Month.of(utc_now(), ZONE)
    body = ok(monthly(app, banker, month=str(now)))
    assert body["complete"] is False
    assert body["customers"]["new"] == 1  # late
    assert body["movements"]["deposit"] == {"count": 1, "volume": "1.00"}
    assert body["loans"]["outstanding"] == "1910.00"  # owed now


def test_the_default_month_is_the_previous_one(bank):
    app, banker, month = bank
    assert ok(monthly(app, banker))["month"] == str(month)


def test_the_report_as_csv_is_an_attachment_with_every_figure(bank):
    app, banker, month = bank
    response = monthly(app, banker, month=str(month), format="csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="bank-report-{month}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["month", "section", "figure", "count", "amount", "currency"]
    assert [str(month), "movements", "deposit", "2", "5100.00", "USD"] in rows
    assert [str(month), "customers", "active", "2", "", ""] in rows
    assert [str(month), "loans", "outstanding", "", "1910.00", "USD"] in rows
    assert len(rows) == 1 + 3 + 3 + 5 + 1 + 2


def test_csv_text_cells_that_could_run_as_formulas_are_escaped(bank):
    app, _banker, month = bank
    with app.app_context():
        report = reports.monthly_report(month, ZONE, utc_now())
    for start in ("=", "+", "-", "@", "\t", "\r"):
        text = reports.report_csv(report, f"{start}HYPERLINK()").decode()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[7][5] == f"'{start}HYPERLINK()", rows[7]
    # Amounts are numbers, never escaped.
    assert rows[7][4] == "5100.00"


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "26-01", "2026-1", "2026/01", "0000-01", "x"]
)
def test_a_bad_month_is_422_naming_month(bank, month):
    app, banker, _ = bank
    body = assert_problem(monthly(app, banker, month=month), 422, "validation_error")
    assert list(body["errors"]) == ["month"]


def test_an_unknown_format_is_422_naming_format(bank):
    app, banker, month = bank
    body = assert_problem(
        monthly(app, banker, month=str(month), format="pdf"), 422, "validation_error"
    )
    assert list(body["errors"]) == ["format"]


@pytest.mark.parametrize("ahead", [1, 12 * 100])
def test_a_month_not_yet_begun_is_404(bank, ahead):
    app, banker, _ = bank
    later = Month.of(utc_now(), ZONE).shifted(ahead)
    assert_problem(monthly(app, banker, month=str(later)), 404, "report_not_found")
    assert_problem(monthly(app, banker, month="9999-12"), 404, "report_not_found")


def test_a_month_long_before_the_bank_is_all_zeros(bank):
    app, banker, _ = bank
    body = ok(monthly(app, banker, month="0001-01"))
    assert body["customers"] == {"new": 0, "total": 0, "active": 0}
    assert body["loans"] == {"disbursed": "0.00", "outstanding": "0.00"}


def test_auditors_read_the_reports_and_customers_are_refused(bank):
    app, _banker, month = bank
    client = app.test_client()
    auditor = auth_headers(app, make_user(app, "audrey", PASSWORD, role="auditor"))
    with app.app_context():
        anna = UserModel().find_by_username("anna")
    customer = auth_headers(app, anna)
    for path in ("/banker/reports/monthly", "/banker/reports/logins"):
        assert client.get(path, headers=auditor).status_code == 200
        assert_problem(client.get(path, headers=customer), 403, "forbidden")
        assert_problem(client.get(path), 401, "token_missing")


def count_round_trips(app, call) -> list[str]:
    recording = qr.install(app)
    call()
    return [query.describe() for query in recording.queries]


def test_a_monthly_report_costs_the_same_round_trips_however_big_the_bank(bank):
    app, banker, month = bank
    small = count_round_trips(app, lambda: ok(monthly(app, banker, month=str(month))))
    bigger_app, bigger_banker, _ = build_bank(extra_customers=8)
    bigger = count_round_trips(
        bigger_app, lambda: ok(monthly(bigger_app, bigger_banker, month=str(month)))
    )
    # The caller, customers, loans paid out, the loans' ids, the journal (one
    # aggregation: the month's movements and the loans' balances), logins,
    # reviews.
    assert len(small) == len(bigger) == 7, small
    assert small == bigger
    figures = ok(monthly(bigger_app, bigger_banker, month=str(month)))
    assert figures["customers"]["new"] == 3 + 8


# -- logins per day -------------------------------------------------------------


def logins(app, banker, **query):
    return app.test_client().get(
        "/banker/reports/logins", headers=banker, query_string=query
    )


def test_logins_are_counted_per_day_in_the_banks_zone(bank):
    app, banker, month = bank
    first, last = month.first_day + timedelta(days=1), month.first_day + timedelta(3)
    body = ok(
        logins(app, banker, **{"from": first.isoformat(), "to": last.isoformat()})
    )
    assert body["from"] == first.isoformat() and body["to"] == last.isoformat()
    assert body["items"] == [
        {"date": first.isoformat(), "success": 3, "failure": 8, "locked": 1},
        # 23:30 in New York is the next day in UTC; still the 3rd here.
        {"date": (first + timedelta(1)).isoformat(), "success": 0, "failure": 1,
         "locked": 0},
        {"date": last.isoformat(), "success": 0, "failure": 0, "locked": 0},
    ]  # fmt: skip
    today = datetime.now(ZoneInfo(ZONE)).date()
    assert body["history_since"] == (today - timedelta(days=89)).isoformat()


def test_the_logins_report_defaults_to_the_last_30_days(bank):
    app, banker, _ = bank
    body = ok(logins(app, banker))
    today = datetime.now(ZoneInfo(ZONE)).date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert len(body["items"]) == 30


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2026-02-30"}, "from"),
        ({"from": "20260101"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "to"),  # before from
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"to": "9999-12-31"}, "to"),  # after today
        ({"to": "0001-01-01"}, "to"),  # 30 days before it overflowed: a 500
        ({"from": "1969-12-31"}, "from"),
    ],
)
def test_bad_logins_ranges_are_422_naming_the_field(bank, query, field):
    app, banker, _ = bank
    body = assert_problem(logins(app, banker, **query), 422, "validation_error")
    assert list(body["errors"]) == [field]


def test_a_logins_range_of_366_days_is_answered(bank):
    app, banker, _ = bank
    today = datetime.now(ZoneInfo(ZONE)).date()
    first = today - timedelta(days=365)
    body = ok(logins(app, banker, **{"from": first.isoformat()}))
    assert len(body["items"]) == 366


def test_the_logins_report_is_two_round_trips_whatever_the_range(bank):
    app, banker, month = bank
    week = {"from": month.first_day.isoformat(),
            "to": (month.first_day + timedelta(6)).isoformat()}  # fmt: skip
    short = count_round_trips(app, lambda: ok(logins(app, banker, **week)))
    first = datetime.now(ZoneInfo(ZONE)).date() - timedelta(365)
    year = count_round_trips(
        app, lambda: ok(logins(app, banker, **{"from": first.isoformat()}))
    )
    assert len(short) == len(year) == 2, short  # the caller, one aggregation


# -- the monthly mailing --------------------------------------------------------

RECIPIENTS = ("ops@example.org", "audit@example.org")


class Mailing(TestConfig):
    REPORT_RECIPIENTS = RECIPIENTS


def outbox(app) -> list[dict]:
    with app.app_context():
        return list(get_db()["notifications"].find({"event": "email"}))


def due(app, at: datetime) -> int:
    with app.app_context():
        found = {j["name"]: j["due"] for j in jobs.list_jobs(job_context(at))}
        return found["monthly_report"]


def run(app, at: datetime):
    with app.app_context():
        return jobs.run_job("monthly_report", job_context(at))


def test_the_job_mails_the_previous_month_once_to_each_recipient():
    app = make_app(Mailing)
    fund(app, register(app.test_client(), "anna")["account"]["account_number"], 500)
    first = datetime(2027, 3, 1, 0, 5, tzinfo=UTC)
    assert due(app, first) == 1
    assert run(app, first).done == 2
    sent = outbox(app)
    assert sorted(m["address"] for m in sent) == sorted(RECIPIENTS)
    assert {m["key"].split("|")[1] for m in sent} == {
        f"monthly-report:2027-02:{address}" for address in RECIPIENTS
    }
    message = sent[0]
    assert message["title"] == "Bank report for 2027-02"
    assert "The bank's report for 2027-02 (UTC)." in message["body"]
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "bank-report-2027-02.csv"
    assert attachment["mime_type"] == "text/csv"
    assert attachment["content"].startswith(b"month,section,figure,count,amount")
    # Done: nothing is due, a re-run or another runner queues nothing again.
    later = first + timedelta(days=3)
    assert due(app, later) == 0
    assert run(app, later).done == 0
    with app.app_context():
        assert jobs.run_due(job_context(later))["monthly_report"] is None
    assert len(outbox(app)) == 2
    # The next month's is due on the next 1st.
    assert due(app, datetime(2027, 3, 31, 23, 59, tzinfo=UTC)) == 0
    assert due(app, datetime(2027, 4, 1, tzinfo=UTC)) == 1
    assert run(app, datetime(2027, 4, 1, 6, tzinfo=UTC)).done == 2
    assert len(outbox(app)) == 4


def test_a_runner_back_after_months_mails_only_the_previous_month():
    app = make_app(Mailing)
    run(app, datetime(2027, 3, 2, tzinfo=UTC))
    back = datetime(2027, 7, 15, tzinfo=UTC)
    assert due(app, back) == 1
    assert run(app, back).done == 2
    months = sorted({m["key"].split("|")[1].split(":")[1] for m in outbox(app)})
    assert months == ["2027-02", "2027-06"]


def test_runners_at_once_mail_each_address_once():
    app = make_app(Mailing)
    at = datetime(2027, 3, 1, 1, tzinfo=UTC)
    threads = [threading.Thread(target=run, args=(app, at)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(m["address"] for m in outbox(app)) == sorted(RECIPIENTS)


def test_run_due_queues_the_report_and_sends_it_in_the_same_pass():
    app = make_app(Mailing)
    at = datetime(2027, 3, 1, 1, tzinfo=UTC)
    with app.app_context():
        outcomes = jobs.run_due(job_context(at))
    assert outcomes["monthly_report"].done == 2
    assert {m["status"] for m in outbox(app)} == {"sent"}  # the console sender


def test_without_recipients_nothing_is_due_or_mailed(app):
    at = datetime(2027, 3, 1, 1, tzinfo=UTC)
    assert app.config["REPORT_RECIPIENTS"] == ()
    assert due(app, at) == 0
    assert run(app, at).done == 0
    assert outbox(app) == []


def test_the_outstanding_figure_reads_only_loans_that_may_owe_at_the_months_end(app):
    """Loans closed before the month's end owed 0.00 then: they stay out of the
    report's list of loan accounts, so it grows with the live book, not with
    every loan ever made."""
    from app.models.loan import LoanModel

    end = datetime(2026, 6, 1, tzinfo=UTC)
    day = timedelta(days=1)
    loans = {
        "open": {"status": "active", "disbursed_at": end - 40 * day},
        "closed_before": {
            "status": "closed",
            "disbursed_at": end - 40 * day,
            "closed_at": end - day,
        },
        "closed_after": {
            "status": "closed",
            "disbursed_at": end - 40 * day,
            "closed_at": end + day,
        },
        "paid_out_after": {"status": "active", "disbursed_at": end + day},
        "never_paid_out": {"status": "submitted"},
        "withdrawn": {"status": "withdrawn"},
    }
    ids = {}
    with app.app_context():
        for name, fields in loans.items():
            ids[name] = LoanModel().collection.insert_one(fields).inserted_id
        owing = set(LoanModel().ids_owing_at(end))
    assert owing == {ids["open"], ids["closed_after"]}
