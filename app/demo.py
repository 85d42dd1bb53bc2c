"""Demo data: a small bank with six months of history, made through the API.

``flask seed-demo`` (any store) and ``DEMO_DATA=true`` (the in-memory store of
``make demo`` / ``make run``, which lives in the server's process) fill an
empty store with three customers and a banker: salaries, rent, groceries,
savings, a goal, a payee, a standing order, a loan being repaid. Everything is
done the way a client does it, with HTTP requests to the app itself (Flask's
test client), so every rule, journal entry and audit entry is the real one; the
history is dated in the past by running each step on a clock started at that
day (:func:`app.models.clock_from`), and the job runner is run on each day as
cron would have run it.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask

from app.controllers import banker as banker_controller
from app.controllers import jobs as jobs_controller
from app.core.calendar import add_months
from app.models import clock_from, utc_now
from app.models.user import UserModel

MONTHS = 6
PASSWORD = "demo-password-2026"  # noqa: S105 - published demo credentials
BANKER = "demo-banker"
CUSTOMERS = {
    "alice": "Alice Martin",
    "bob": "Bob Chen",
    "carol": "Carol Diaz",
}


class SeedRefused(Exception):
    """The store is not empty: demo data goes only into a fresh one."""


@dataclass
class Customer:
    username: str
    headers: dict
    checking: str
    savings: str


class Client:
    """The app's own test client, failing loudly on any refusal."""

    def __init__(self, app: Flask) -> None:
        self.http = app.test_client()

    def call(self, method: str, path: str, headers=None, body=None) -> dict:
        response = self.http.open(path, method=method, headers=headers, json=body)
        if response.status_code >= 400:
            raise RuntimeError(
                f"demo data: {method} {path} answered {response.status_code}: "
                f"{response.get_data(as_text=True)[:300]}"
            )
        return response.get_json(silent=True) or {}

    def login(self, username: str) -> dict:
        tokens = self.call(
            "POST", "/auth/login", body={"username": username, "password": PASSWORD}
        )
        return {"Authorization": f"Bearer {tokens['access_token']}"}


def seed(app: Flask) -> list[str]:
    """Fill the app's empty store with the demo bank; return what was made.

    :raises SeedRefused: the store holds customers already (a bootstrap
        banker alone does not count).
    """
    with app.app_context():
        if UserModel().collection.find_one({"role": "customer"}, {"_id": 1}):
            raise SeedRefused("the database holds customers already")
        zone = ZoneInfo(app.config["BANK_TIMEZONE"])
        today = utc_now().astimezone(zone).date()
        first = add_months(today.replace(day=1), -(MONTHS - 1))
        client = Client(app)
        banker_controller.create_banker(BANKER, PASSWORD)
        banker = client.login(BANKER)
        product = client.call(
            "POST",
            "/banker/loan-products",
            banker,
            {
                "name": "Personal loan",
                "annual_rate": "7.50",
                "min_amount": "500.00",
                "max_amount": "20000.00",
                "min_term_months": 6,
                "max_term_months": 60,
            },
        )
        people = {}
        with clock_from(_at(first - timedelta(days=1), zone, 9)):
            for username, name in CUSTOMERS.items():
                registered = client.call(
                    "POST",
                    "/auth/register",
                    body={
                        "username": username,
                        "password": PASSWORD,
                        "full_name": name,
                        "email": f"{username}@example.com",
                    },
                )
                people[username] = registered["account"]["account_number"]
        for username, checking in list(people.items()):
            # Sessions on the real clock: one opened in the past would have
            # expired by the time the history reaches today.
            headers = client.login(username)
            with clock_from(_at(first - timedelta(days=1), zone, 10)):
                savings = client.call("POST", "/accounts", headers, {"kind": "savings"})
            people[username] = Customer(
                username, headers, checking, savings["account_number"]
            )
        made = _history(client, banker, people, product["id"], first, today, zone)
    return [
        f"Demo bank: {len(people)} customers ({', '.join(people)}) and banker "
        f"{BANKER}, all with password {PASSWORD!r}; {made} movements since "
        f"{first.isoformat()}.",
    ]


def _at(day: date, zone: ZoneInfo, hour: int) -> datetime:
    return datetime.combine(day, time(hour), zone).astimezone(UTC)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _history(client, banker, people, product_id, first, today, zone) -> int:
    """Day by day from ``first`` to ``today``: each customer's month, the loan,
    the jobs of each day. Return how many movements were made."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    draw = random.Random(2026)  # noqa: S311 - made-up shopping, not secrets
    made = 0
    loan_id = None
    for day in _days(first, today):
        with clock_from(_at(day, zone, 9)):
            if day == first:
                made += _set_up(client, alice, bob, carol, day)
            if day.day == 1:
                for person, salary in (
                    (alice, "3200.00"),
                    (bob, "2750.00"),
                    (carol, "2900.00"),
                ):
                    made += _move(
                        client,
                        person,
                        "/deposit",
                        {"amount": salary, "description": "Salary"},
                    )
            if day.day == 3:
                made += _move(
                    client,
                    alice,
                    "/transfers",
                    {
                        "amount": "950.00",
                        "to_account_number": bob.checking,
                        "description": "Rent",
                    },
                )
                made += _move(
                    client,
                    carol,
                    "/transfers",
                    {
                        "amount": "300.00",
                        "from_account_number": carol.checking,
                        "to_account_number": carol.savings,
                        "description": "Savings",
                    },
                )
            if day.weekday() == 5:
                for person in people.values():
                    cents = draw.randrange(3500, 14000)
                    made += _move(
                        client,
                        person,
                        "/withdraw",
                        {
                            "amount": str(Decimal(cents) / 100),
                            "description": "Groceries",
                        },
                    )
            if day.day == 10 and day.month % 2 == 0:
                made += _move(
                    client,
                    bob,
                    "/transfers",
                    {
                        "amount": "45.50",
                        "to_account_number": carol.checking,
                        "description": "Concert tickets",
                    },
                )
            if loan_id is None and day == add_months(first, 2).replace(day=5):
                loan_id, moved = _borrow(client, banker, alice, product_id)
                made += moved
            if loan_id is not None and day.day == 6 and day > add_months(first, 2):
                made += _move(
                    client,
                    alice,
                    f"/loans/{loan_id}/repayments",
                    {"amount": "260.27", "from_account_number": alice.checking},
                )
        # The job runner, as cron runs it at the end of each day: the standing
        # order, the loan's interest, the audit feed, the flags.
        jobs_controller.run_due(_at(day, zone, 23))
    return made


def _set_up(client, alice, bob, carol, day: date) -> int:
    """The first day: a goal, a payee and a standing order for Alice."""
    goal = client.call(
        "POST",
        "/goals",
        alice.headers,
        {
            "name": "Summer holiday",
            "target_amount": "1500.00",
            "target_date": add_months(day, 8).isoformat(),
        },
    )
    client.call(
        "POST",
        "/payees",
        alice.headers,
        {
            "account_number": carol.checking,
            "name": "Carol Diaz",
            "nickname": "Carol (book club)",
        },
    )
    client.call(
        "POST",
        "/scheduled-transfers",
        alice.headers,
        {
            "amount": "25.00",
            "to_account_number": carol.checking,
            "description": "Book club",
            "start_date": add_months(day, 0).replace(day=15).isoformat(),
            "recurrence": {"frequency": "monthly"},
        },
    )
    moved = _move(
        client,
        alice,
        "/deposit",
        {"amount": "400.00", "description": "Opening deposit"},
    )
    moved += _move(client, alice, f"/goals/{goal['id']}/deposits", {"amount": "250.00"})
    return moved


def _borrow(client, banker, alice, product_id) -> tuple[str, int]:
    """Alice borrows 3,000.00 over 12 months: applied, approved, disbursed."""
    loan = client.call(
        "POST",
        "/loans",
        alice.headers,
        {
            "product_id": product_id,
            "amount": "3000.00",
            "term_months": 12,
            "purpose": "A new bicycle and repairs",
            "disbursement_account_number": alice.checking,
        },
    )
    client.call("POST", f"/banker/loans/{loan['id']}/approve", banker)
    client.call("POST", f"/banker/loans/{loan['id']}/disburse", banker)
    return loan["id"], 1


def _move(client, person: Customer, path: str, body: dict) -> int:
    client.call("POST", path, person.headers, body)
    return 1
