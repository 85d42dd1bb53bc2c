"""The job runner: the CLI, the HTTP routes, the loop, several runners at once."""

import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, date, datetime

import pytest

from app.core import jobs
from app.core.scheduled_transfers import StandingOrder, place
from app.core.schedules import Recurrence
from app.db import get_db
from app.job_loop import start_job_loop
from app.models.user import UserModel
from tests.conftest import PASSWORD
from tests.factories import auth_headers, balance_cents, fund, make_user
from tests.helpers import assert_problem

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def standing_order(app, customer, target, start="2027-02-01", count=3):
    with app.app_context():
        owner = UserModel().find_by_id(customer["user"]["id"])
        return place(
            owner,
            StandingOrder(cents=700, start_date=date.fromisoformat(start),
                          to_account_number=target,
                          recurrence=Recurrence("monthly", count=count)),
            currency="USD", today=date.fromisoformat(start),
        )  # fmt: skip


@pytest.fixture
def auditor(app):
    user = make_user(app, "audrey", PASSWORD, role="auditor")
    return {"user": user, "headers": auth_headers(app, user)}


def test_flask_jobs_run_due_pays_what_is_due_at_the_given_time(
    app, customer, other_customer
):
    fund(app, customer["account"]["account_number"], 10_000)
    theirs = other_customer["account"]["account_number"]
    standing_order(app, customer, theirs)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "run-due", "--at", "2027-03-15T09:00:00"])
    assert result.exit_code == 0, result.output
    assert "scheduled_transfers: 2 done, 0 failed" in result.output
    assert balance_cents(app, theirs) == 1400
    again = runner.invoke(args=["jobs", "run-due", "--at", "2027-03-15T10:00:00"])
    assert "scheduled_transfers: nothing due" in again.output
    assert balance_cents(app, theirs) == 1400


def test_a_bad_at_is_one_error_line(app):
    result = app.test_cli_runner().invoke(args=["jobs", "run-due", "--at", "soon"])
    assert result.exit_code == 2
    assert "error: --at: 'soon' is not an ISO 8601 instant" in result.output


def test_a_failing_job_does_not_stop_the_others_and_is_reported(
    app, monkeypatch, customer, other_customer
):
    fund(app, customer["account"]["account_number"], 10_000)
    standing_order(app, customer, other_customer["account"]["account_number"])

    def broken(context):
        raise RuntimeError("boom")

    monkeypatch.setitem(
        jobs.JOBS, "ledger_recovery",
        jobs.Job("ledger_recovery", "broken", broken, lambda c: 1),
    )  # fmt: skip
    result = app.test_cli_runner().invoke(
        args=["jobs", "run-due", "--at", "2027-02-01T12:00:00"]
    )
    assert result.exit_code == 1
    assert "ledger_recovery: stopped by RuntimeError (see the log)" in result.output
    assert "scheduled_transfers: 1 done, 0 failed" in result.output
    with app.app_context():
        last = get_db()["jobs"].find_one({"_id": "ledger_recovery"})
    assert last["last_outcome"]["error"] == "RuntimeError"


def test_banker_lists_and_runs_jobs_over_http(app, client, banker, auditor):
    listed = client.get("/banker/jobs", headers=banker["headers"])
    assert listed.status_code == 200
    names = [item["name"] for item in listed.get_json()["items"]]
    assert names == [
        "scheduled_transfers", "ledger_recovery", "round_ups", "loan_interest",
        "audit_movements", "flag_movements", "approvals", "monthly_report",
        "notifications",
    ]  # fmt: skip
    assert all(item["last_run_at"] is None for item in listed.get_json()["items"])
    ran = client.post("/banker/jobs/audit_movements/run", headers=banker["headers"])
    assert ran.status_code == 200
    assert ran.get_json() == {"name": "audit_movements", "done": 0, "failed": 0}
    after = client.get("/banker/jobs", headers=auditor["headers"]).get_json()
    audit = next(i for i in after["items"] if i["name"] == "audit_movements")
    assert audit["last_run_at"].endswith("Z")
    assert audit["last_outcome"] == {"done": 0, "failed": 0, "error": None}


def test_the_due_count_shows_scheduled_work(app, client, banker, customer,
                                            other_customer):  # fmt: skip
    standing_order(
        app, customer, other_customer["account"]["account_number"],
        start=datetime.now(UTC).date().isoformat(),
    )  # fmt: skip
    items = client.get("/banker/jobs", headers=banker["headers"]).get_json()["items"]
    assert next(i for i in items if i["name"] == "scheduled_transfers")["due"] == 1


def test_unknown_job_is_404_and_only_bankers_run_jobs(
    client, banker, auditor, customer
):
    assert_problem(
        client.post("/banker/jobs/nope/run", headers=banker["headers"]),
        404, "job_not_found",
    )  # fmt: skip
    for who in (auditor, customer):
        assert_problem(
            client.post("/banker/jobs/audit_movements/run", headers=who["headers"]),
            403, "forbidden",
        )  # fmt: skip
    assert_problem(client.get("/banker/jobs", headers=customer["headers"]), 403,
                   "forbidden")  # fmt: skip


def test_the_loop_runs_the_jobs_and_stops(app, customer, other_customer):
    app.config["JOBS_INTERVAL_SECONDS"] = 0.05
    ran = threading.Event()
    original = jobs.run_due

    def spy(context):
        ran.set()
        return original(context)

    jobs.run_due = spy
    try:
        stop = start_job_loop(app)
        assert ran.wait(5)
        stop.set()
        for thread in threading.enumerate():
            if thread.name == "job-loop":
                thread.join(5)
    finally:
        jobs.run_due = original


def test_the_loop_is_off_at_zero_and_never_started_by_create_app():
    from tests.helpers import make_app

    before = {t for t in threading.enumerate() if t.name == "job-loop"}
    app = make_app()  # what gunicorn does in each worker
    assert {t for t in threading.enumerate() if t.name == "job-loop"} <= before
    app.config["JOBS_INTERVAL_SECONDS"] = 0
    assert start_job_loop(app) is None


@pytest.mark.mongo
def test_several_processes_running_the_jobs_pay_each_occurrence_once():
    """N processes of ``flask jobs run-due`` over the same due work (needs
    TEST_MONGO_URI: processes share no in-memory database)."""
    import pymongo

    from app import create_app
    from app.config import TestConfig

    uri = os.environ["TEST_MONGO_URI"]
    name = f"bank_test_{uuid.uuid4().hex[:8]}"

    class RealMongo(TestConfig):
        MONGO_URI = uri
        MONGO_DB_NAME = name

    client = pymongo.MongoClient(uri, tz_aware=True)
    app = create_app(RealMongo, mongo_client=client)
    try:
        with app.test_client() as http:
            users = []
            for username in ("payer", "payee"):
                body = {"username": username, "password": PASSWORD}
                http.post("/auth/register", json=body)
            with app.app_context():
                for username in ("payer", "payee"):
                    users.append(get_db()["accounts"].find_one({"username": username}))
        fund(app, users[0]["account_number"], 1_000_000)
        customer = {"user": {"id": str(users[0]["user_id"])}}
        for _ in range(5):
            standing_order(app, customer, users[1]["account_number"],
                           start="2027-01-01", count=4)  # fmt: skip
        env = {**os.environ, "MONGO_URI": uri, "MONGO_DB_NAME": name,
               "FLASK_APP": "app:create_cli_app"}  # fmt: skip
        runners = [
            subprocess.Popen(
                [sys.executable, "-m", "flask", "jobs", "run-due",
                 "--at", "2027-05-01T12:00:00"],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            for _ in range(4)
        ]
        for runner in runners:
            runner.wait(120)
        assert balance_cents(app, users[1]["account_number"]) == 5 * 4 * 700
        with app.app_context():
            assert get_db()["scheduled_runs"].count_documents({}) == 20
    finally:
        client.drop_database(name)
