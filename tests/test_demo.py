"""flask seed-demo / DEMO_DATA: the demo bank, made through the API."""

import pytest

from app import demo
from app.controllers import ledger as ledger_controller
from app.core.calendar import add_months
from app.db import get_db
from app.models import utc_now


@pytest.fixture(scope="module")
def seeded():
    from tests.helpers import make_app

    app = make_app()
    lines = demo.seed(app)
    return app, lines


def test_the_demo_bank_has_months_of_history_for_every_customer(seeded):
    app, lines = seeded
    assert "alice, bob, carol" in lines[0] and demo.PASSWORD in lines[0]
    with app.app_context():
        db = get_db()
        customers = list(db["users"].find({"role": "customer"}))
        assert sorted(u["username"] for u in customers) == ["alice", "bob", "carol"]
        for user in customers:
            months = {
                e["posted_at"].strftime("%Y-%m")
                for e in db["transactions"].find(
                    {"user_id": user["_id"], "status": "posted"}
                )
            }
            assert len(months) == demo.MONTHS, (user["username"], months)
        rejected = db["transactions"].count_documents({"status": {"$ne": "posted"}})
        assert rejected == 0


def test_the_demo_bank_has_a_goal_payee_standing_order_and_a_loan(seeded):
    app, _ = seeded
    with app.app_context():
        db = get_db()
        alice = db["users"].find_one({"username": "alice"})
        goal = db["goals"].find_one({"user_id": alice["_id"]})
        assert goal["name"] == "Summer holiday" and goal["status"] == "active"
        assert db["payees"].count_documents({}) == 1
        order = db["scheduled_transfers"].find_one({})
        # Paid by the job runner on the 15th of each month since the first.
        first = min(e["posted_at"] for e in db["transactions"].find({}))
        fifteenths = sum(
            1
            for month in range(demo.MONTHS)
            if add_months(first.date().replace(day=15), month) <= utc_now().date()
        )
        assert order["runs_made"] == fifteenths
        loan = db["loans"].find_one({"user_id": alice["_id"]})
        assert loan["status"] == "active" and loan["charged"] >= 2
        repayments = db["transactions"].count_documents(
            {"type": "transfer_out", "description": "Loan repayment"}
        )
        # Repaid on each 6th after the disbursement on a 5th.
        sixths = sum(
            1
            for month in range(demo.MONTHS)
            if loan["disbursed_at"].date()
            < add_months(loan["disbursed_at"].date().replace(day=6), month)
            <= utc_now().date()
        )
        assert repayments == sixths >= 2


def test_the_demo_books_balance(seeded):
    app, _ = seeded
    with app.app_context():
        report = ledger_controller.check_report()
    assert report["ok"] and report["balanced"], report


def test_seed_demo_fills_only_a_store_without_customers(seeded):
    app, _ = seeded
    with pytest.raises(demo.SeedRefused):
        demo.seed(app)


def test_the_cli_command_reports_a_refusal_in_one_line(seeded):
    app, _ = seeded
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: the database holds customers")
