"""Time the staff reports and the users directory on a large in-memory bank.

Run from the repository root::

    .venv/bin/python bench/reports.py [--customers 10000] [--movements 200000]
                                      [--rounds 3]

The bank is filled by inserting documents straight into the in-memory
collections, in the exact shapes the models and the ledger write them
(``UserModel.create``, ``AccountModel.create``, ``ledger._new_entry`` as
``_journal_posted`` leaves it posted, ``LoginAttemptModel.record``,
``core.reviews._review``, ``core.loans`` for a disbursed loan, whose account
has the loan's id and whose disbursement is a transfer out of it). Through
the ledger, 200,000 movements would take hours here; the reports read only
the stored documents, so how they got there does not change what is timed.
The unique username index is dropped while the users go in and built again
after (mongomock checks it against every stored user on each insert).
Passwords are placeholders (nobody logs in as these customers).

The movements are spread over the last 12 months, the logins over the last
60 days. Each report is then asked for over HTTP (the Flask test client: the
whole request, token check and JSON included) ``--rounds`` times, and its
figures are checked against what the fill wrote. Nothing is written to disk.
"""

import argparse
import logging
import random
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from bson import ObjectId
from flask_jwt_extended import create_access_token

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.config import TestConfig  # noqa: E402
from app.core.reports import previous_month  # noqa: E402
from app.db import get_db, memory_client  # noqa: E402
from app.models import EPOCH, utc_now  # noqa: E402
from app.models.account import new_account_number  # noqa: E402
from app.models.ledger import CONTRA_ACCOUNTS, CREDIT_TYPES  # noqa: E402
from app.models.session import LOGIN_HISTORY_KEPT  # noqa: E402
from app.models.user import UserModel  # noqa: E402
from app.security import session_claims  # noqa: E402

CHUNK = 5_000
LOANS = 500
LOGINS = 30_000
REVIEWS = 300
TARGET_SECONDS = 1.0


class BenchConfig(TestConfig):
    LEDGER_RECOVER_ON_START = False


def ms(instant: datetime) -> datetime:
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def user_doc(n: int, created_at: datetime) -> dict:
    return {
        "_id": ObjectId(),
        "username": f"customer{n:05d}",
        "password_hash": "scrypt:1024:8:1$placeholder$0",
        "role": "customer",
        "email": f"customer{n:05d}@example.org",
        "full_name": f"Customer {n}",
        "active": True,
        "created_at": created_at,
        "last_login_at": None,
    }


def account_doc(user: dict, kind: str, account_id: ObjectId, at: datetime) -> dict:
    return {
        "_id": account_id,
        "account_number": new_account_number(),
        "user_id": user["_id"],
        "username": user["username"],
        "kind": kind,
        "primary": account_id == user["_id"],
        "status": "active",
        "balance_cents": 0,
        "currency": "USD",
        "entry_seq": 0,
        "pending_entries": [],
        "holds": [],
        "reserved_cents": 0,
        "reservations": [],
        "fenced_until": EPOCH,
        "created_at": at,
    }


def entry_doc(
    account: dict, type_: str, cents: int, at: datetime, **extra: object
) -> dict:
    """A journal entry as the ledger posts it (balances kept on ``account``)."""
    delta = cents if type_ in CREDIT_TYPES else -cents
    account["entry_seq"] += 1
    account["balance_cents"] += delta
    return {
        "_id": ObjectId(),
        "account_id": account["_id"],
        "account_number": account["account_number"],
        "user_id": account["user_id"],
        "username": account["username"],
        "type": type_,
        "amount_cents": cents,
        "currency": "USD",
        "delta_cents": delta,
        "balance_after_cents": account["balance_cents"],
        "seq": account["entry_seq"],
        "description": None,
        "counterparty_account_number": extra.get("counterparty"),
        "contra_account": CONTRA_ACCOUNTS.get(type_),
        "transfer_id": extra.get("transfer_id"),
        "pair_id": extra.get("pair_id"),
        "status": "posted",
        "reason": None,
        "origin": {"actor": account["username"], "ip": "127.0.0.1", "request_id": None},
        "created_at": at,
        "posted_at": at,
    }


def transfer_docs(source: dict, target: dict, cents: int, at: datetime) -> list[dict]:
    out_id, in_id = ObjectId(), ObjectId()
    out = entry_doc(source, "transfer_out", cents, at,
                    counterparty=target["account_number"], transfer_id=out_id,
                    pair_id=in_id)  # fmt: skip
    into = entry_doc(target, "transfer_in", cents, at,
                     counterparty=source["account_number"], transfer_id=out_id,
                     pair_id=out_id)  # fmt: skip
    out["_id"], into["_id"] = out_id, in_id
    return [out, into]


class Fill:
    """What the fill wrote, to check the reports' figures against."""

    def __init__(self, month_start: datetime, month_end: datetime) -> None:
        self.start, self.end = month_start, month_end
        self.in_month: dict[str, int] = {}
        self.customers_new = 0
        self.customers_total = 0
        self.fill_seconds: dict[str, float] = {}

    def count(self, entries: list[dict]) -> None:
        for entry in entries:
            if self.start <= entry["posted_at"] < self.end:
                self.in_month[entry["type"]] = self.in_month.get(entry["type"], 0) + 1


def fill(app, customers: int, movements: int, seed: int = 7) -> Fill:
    rng = random.Random(seed)
    now = utc_now()
    zone = app.config["BANK_TIMEZONE"]
    month = previous_month(now, zone)
    facts = Fill(month.start(zone), month.end(zone))
    db = get_db()
    year = timedelta(days=365)

    def moment(span: timedelta) -> datetime:
        return ms(now - span * rng.random())

    users, accounts = [], []
    for n in range(customers):
        created = moment(2 * year)
        user = user_doc(n, created)
        users.append(user)
        facts.customers_total += created < facts.end
        facts.customers_new += facts.start <= created < facts.end
        accounts.append(account_doc(user, "checking", user["_id"], created))
        if n % 10 == 0:
            accounts.append(account_doc(user, "savings", ObjectId(), created))
    users.append(
        {**user_doc(customers, now), "username": "benchbanker", "role": "banker"}
    )
    entries: list[dict] = []
    # Loans: a disbursement (a transfer out of the loan's account), monthly
    # interest on the loan's account, a repayment now and then.
    loans = []
    for _ in range(LOANS):
        owner = accounts[rng.randrange(len(accounts))]
        disbursed = moment(year)
        loan_id = ObjectId()
        loan_account = account_doc(
            {"_id": owner["user_id"], "username": owner["username"]},
            "loan", loan_id, disbursed,
        )  # fmt: skip
        accounts.append(loan_account)
        principal = rng.randrange(50_000, 2_000_000, 100)
        entries += transfer_docs(loan_account, owner, principal, disbursed)
        months = int((now - disbursed) / timedelta(days=30.4))
        for k in range(1, months + 1):
            at = disbursed + timedelta(days=30.4 * k)
            entries.append(entry_doc(loan_account, "interest", principal // 100, at))
            if k % 2 == 0:
                entries += transfer_docs(owner, loan_account, principal // 20, at)
        loans.append({
            "_id": loan_id, "user_id": owner["user_id"], "username": owner["username"],
            "product_id": ObjectId(), "status": "active", "status_at": disbursed,
            "principal_cents": principal, "annual_rate": "12.00", "term_months": 24,
            "instalment_cents": principal // 20, "purpose": None,
            "disbursement_account_number": owner["account_number"],
            "created_at": disbursed, "decided_at": disbursed,
            "decided_by": "benchbanker",
            "reason": None, "disbursed_at": disbursed,
            "account_number": loan_account["account_number"], "charged": months,
            "next_charge_on": None, "next_unpaid_on": None, "rows": [],
        })  # fmt: skip
    customer_accounts = [a for a in accounts if a["kind"] != "loan"]
    while len(entries) < movements:
        at = moment(year)
        account = customer_accounts[rng.randrange(len(customer_accounts))]
        pick = rng.random()
        cents = rng.randrange(100, 200_000)
        if pick < 0.35:
            entries.append(entry_doc(account, "deposit", cents, at))
        elif pick < 0.6:
            entries.append(entry_doc(account, "withdrawal", cents, at))
        else:
            target = customer_accounts[rng.randrange(len(customer_accounts))]
            if target is not account:
                entries += transfer_docs(account, target, cents, at)
    entries.sort(key=lambda entry: entry["posted_at"])
    facts.count(entries)
    attempts = []
    for _ in range(LOGINS):
        user = users[rng.randrange(customers)]
        at = moment(timedelta(days=60))
        outcome = rng.choices(["success", "failure", "locked"], [8, 3, 1])[0]
        attempts.append({
            "_id": ObjectId(), "username": user["username"],
            "user_id": user["_id"] if outcome == "success" else None,
            "outcome": outcome, "ip": "127.0.0.1", "user_agent": "bench",
            "created_at": at, "expires_at": at + LOGIN_HISTORY_KEPT,
        })  # fmt: skip
        if outcome == "success":
            user["last_login_at"] = max(user["last_login_at"] or at, at)
    reviews = [
        {"_id": entry["_id"], "status": "open", "rules": ["large_amount"],
         "transaction": entry, "created_at": entry["posted_at"], "closed_at": None,
         "closed_by": None, "outcome": None, "note": None, "freeze_pending": False}
        for entry in rng.sample(
            [e for e in entries if e["type"] in ("deposit", "transfer_out")], REVIEWS
        )
    ]  # fmt: skip
    for name, docs in (("users", users), ("accounts", accounts),
                       ("loans", loans), ("transactions", entries),
                       ("login_attempts", attempts), ("reviews", reviews)):  # fmt: skip
        started = time.perf_counter()
        if name == "users":
            # mongomock checks a unique index against every stored document on
            # each insert (10,000 users: minutes); built after, it is one pass.
            db[name].drop_index("username_1")
        for start in range(0, len(docs), CHUNK):
            db[name].insert_many(docs[start : start + CHUNK])
        if name == "users":
            UserModel().ensure_indexes()
        facts.fill_seconds[name] = time.perf_counter() - started
    return facts


def token(app, user: dict) -> dict:
    """Bearer headers of a new session of ``user``, as a login makes them."""
    now = utc_now()
    claims = {
        "role": user["role"],
        **session_claims(uuid.uuid4().hex, now, now + timedelta(hours=1)),
    }
    with app.app_context():
        access = create_access_token(str(user["_id"]), additional_claims=claims)
    return {"Authorization": f"Bearer {access}"}


def timed(client, path: str, headers: dict) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.get_data()[:300]}")
    return elapsed, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--movements", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    app = create_app(BenchConfig, mongo_client=memory_client())
    with app.app_context():
        started = time.perf_counter()
        facts = fill(app, args.customers, args.movements)
        filled = time.perf_counter() - started
        banker = UserModel().find_by_username("benchbanker")
        names = ("users", "accounts", "transactions", "login_attempts", "loans")
        counts = {name: get_db()[name].count_documents({}) for name in names}
    print(f"fill: {filled:.1f} s  {counts}")
    print(
        "  inserts: "
        + ", ".join(f"{n} {t:.1f} s" for n, t in facts.fill_seconds.items())
    )
    headers = token(app, banker)
    client = app.test_client()
    month = previous_month(utc_now(), app.config["BANK_TIMEZONE"])
    first_day = (utc_now() - timedelta(days=365)).date().isoformat()
    paths = {
        "monthly report (previous month)": f"/banker/reports/monthly?month={month}",
        "monthly report as CSV": f"/banker/reports/monthly?month={month}&format=csv",
        "monthly report (current month)": "/banker/reports/monthly?month="
        + utc_now().strftime("%Y-%m"),
        "logins per day, 30 days": "/banker/reports/logins",
        "logins per day, 366 days": f"/banker/reports/logins?from={first_day}",
        "users, first page": "/banker/users",
        "users, role=customer&active=true&q=customer09": (
            "/banker/users?role=customer&active=true&q=customer09"
        ),
        "one user with accounts": "/banker/users/" + str(banker["_id"]),
    }
    worst = 0.0
    for name, path in paths.items():
        times = []
        for _ in range(args.rounds):
            elapsed, response = timed(client, path, headers)
            times.append(elapsed)
        if name.startswith("monthly report (previous"):
            body = response.get_json()
            got = {t: f["count"] for t, f in body["movements"].items() if f["count"]}
            assert got == facts.in_month, (got, facts.in_month)
            assert body["customers"]["new"] == facts.customers_new
            assert body["customers"]["total"] == facts.customers_total
        if name.startswith("monthly report") or name.startswith("logins"):
            worst = max(worst, max(times))
        print(f"{name:48s} " + "  ".join(f"{t * 1000:7.1f} ms" for t in times))
    verdict = "under" if worst < TARGET_SECONDS else "OVER"
    print(f"slowest report: {worst * 1000:.0f} ms ({verdict} {TARGET_SECONDS:.0f} s)")


if __name__ == "__main__":
    main()
