"""Notifications: the outbox's queue, the events derived from the bank's records,
the customer's routes (the in-app list, read marks, preferences) and the job."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId

from app.controllers import jobs as jobs_controller
from app.controllers.jobs import context as job_context
from app.core import jobs
from app.core import notifications as outbox
from app.core.notification_events import FEEDS, money
from app.core.scheduled_transfers import StandingOrder, place
from app.core.schedules import Recurrence
from app.db import get_db
from app.models import EPOCH
from app.models.audit import AuditModel
from app.models.user import UserModel
from tests.conftest import PASSWORD, register
from tests.factories import auth_headers, fund, login_headers, make_user
from tests.helpers import assert_problem


class Recorder:
    """A sender that keeps what it is given (thread-safe)."""

    def __init__(self) -> None:
        self.sent = []
        self._lock = threading.Lock()

    def send(self, message) -> None:
        with self._lock:
            self.sent.append(message)


@pytest.fixture
def senders(app):
    """Recording senders in place of the console ones."""
    recorders = {"email": Recorder(), "sms": Recorder()}
    app.extensions["notification_senders"] = recorders
    return recorders


def contact(app, user_id, email="someone@example.org", phone="+15551234567"):
    """Give a user an email address and a phone number."""
    with app.app_context():
        get_db()["users"].update_one(
            {"_id": ObjectId(user_id)}, {"$set": {"email": email, "phone": phone}}
        )


def user_doc(app, user_id) -> dict:
    with app.app_context():
        return UserModel().find_by_id(user_id)


def run_job(app, now=None):
    with app.app_context():
        return jobs.run_job("notifications", job_context(now))


def outbox_of(app, user_id=None, **query) -> list[dict]:
    with app.app_context():
        if user_id is not None:
            query["user_id"] = ObjectId(user_id)
        return list(get_db()["notifications"].find(query, sort=[("_id", 1)]))


def events_of(app, user_id, channel="in_app") -> list[str]:
    return [m["event"] for m in outbox_of(app, user_id, channel=channel)]


def in_app(client, customer) -> list[dict]:
    response = client.get("/notifications", headers=customer["headers"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


# -- queue ---------------------------------------------------------------------


def test_queue_sends_each_channel_once_per_key(app, customer):
    contact(app, customer["user"]["id"])
    user = user_doc(app, customer["user"]["id"])
    with app.app_context():
        assert outbox.queue(user, "test_event", "occurrence-1", "Title", "Body") == 3
        assert outbox.queue(user, "test_event", "occurrence-1", "Title", "Body") == 0
        assert outbox.queue(user, "test_event", "occurrence-2", "Title", "Body") == 3
    channels = [m["channel"] for m in outbox_of(app, customer["user"]["id"])]
    assert sorted(channels) == sorted(["email", "sms", "in_app"] * 2)


def test_queue_skips_a_channel_without_an_address(app, customer):
    user = user_doc(app, customer["user"]["id"])  # no email, no phone
    with app.app_context():
        assert outbox.queue(user, "test_event", "k", "Title", "Body") == 1
    assert [m["channel"] for m in outbox_of(app, customer["user"]["id"])] == ["in_app"]


def test_a_secret_is_never_in_app_and_staff_get_no_in_app(app, customer, banker):
    contact(app, customer["user"]["id"])
    user = user_doc(app, customer["user"]["id"])
    with app.app_context():
        staff = UserModel().find_by_id(banker["user"]["_id"])
        get_db()["users"].update_one(
            {"_id": staff["_id"]}, {"$set": {"email": "bernie@example.org"}}
        )
        staff = UserModel().find_by_id(staff["_id"])
        assert outbox.queue(user, "code", "c1", "Code", "12345678", secret=True) == 2
        assert outbox.queue(staff, "test_event", "s1", "T", "B") == 1
    mine = outbox_of(app, customer["user"]["id"])
    assert {m["channel"] for m in mine} == {"email", "sms"}
    assert all(m["secret"] for m in mine)
    assert [m["channel"] for m in outbox_of(app, banker["user"]["_id"])] == ["email"]


def test_email_off_stops_email_but_not_security_events(app, client, customer):
    contact(app, customer["user"]["id"])
    patched = client.patch(
        "/notifications/preferences", headers=customer["headers"], json={"email": False}
    )
    assert patched.status_code == 200
    assert patched.get_json() == {"email": False, "sms": True}
    user = user_doc(app, customer["user"]["id"])
    with app.app_context():
        assert outbox.queue(user, "plain", "p1", "T", "B") == 2  # sms, in-app
        assert outbox.queue(user, "alarm", "a1", "T", "B", security=True) == 3
    by_event = {}
    for message in outbox_of(app, customer["user"]["id"]):
        by_event.setdefault(message["event"], set()).add(message["channel"])
    assert by_event == {"plain": {"sms", "in_app"}, "alarm": {"email", "sms", "in_app"}}


def test_email_off_applies_to_derived_events_too(app, client, customer):
    contact(app, customer["user"]["id"])
    client.patch("/notifications/preferences", headers=customer["headers"],
                 json={"email": False})  # fmt: skip
    fund(app, customer["account"]["account_number"], 100_000)  # large: not security
    change = {"current_password": PASSWORD, "new_password": PASSWORD + "-new"}
    assert client.post("/auth/change-password", headers=customer["headers"],
                       json=change).status_code == 204  # fmt: skip
    run_job(app)
    emails = events_of(app, customer["user"]["id"], channel="email")
    assert emails == ["password_changed"]
    assert sorted(events_of(app, customer["user"]["id"], channel="sms")) == [
        "large_movement", "password_changed",
    ]  # fmt: skip


def test_money_is_written_exactly_from_cents():
    assert money(100_000, "EUR") == "1,000.00 EUR"
    assert money(123_456_789, "USD") == "1,234,567.89 USD"
    assert money(5, "USD") == "0.05 USD"
    assert money(-1_000_001, "USD") == "-10,000.01 USD"


# -- events from the journal ----------------------------------------------------------


def test_an_incoming_transfer_notifies_the_receiver(app, client, customer,
                                                    other_customer):  # fmt: skip
    fund(app, customer["account"]["account_number"], 10_000)
    sent = client.post("/transfers", headers=customer["headers"], json={
        "to_account_number": other_customer["account"]["account_number"],
        "amount": "12.34", "description": "Dinner",
    })  # fmt: skip
    assert sent.status_code == 201
    run_job(app)
    [item] = in_app(client, other_customer)
    assert item["event"] == "incoming_transfer"
    assert item["title"] == "Money received"
    assert item["body"] == (
        f"12.34 USD arrived in your account "
        f"{other_customer['account']['account_number']} from account "
        f"{customer['account']['account_number']}. Reference: Dinner"
    )
    assert item["read_at"] is None and item["created_at"].endswith("Z")
    assert in_app(client, customer) == []  # the sender is not told (small amount)


def test_moving_between_own_accounts_is_no_incoming_transfer(app, client, customer):
    fund(app, customer["account"]["account_number"], 10_000)
    savings = client.post("/accounts", headers=customer["headers"],
                          json={"kind": "savings"}).get_json()  # fmt: skip
    moved = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"to_account_number": savings["account_number"], "amount": "5.00"},
    )
    assert moved.status_code == 201
    run_job(app)
    assert in_app(client, customer) == []


def test_a_large_movement_is_notified_from_the_threshold_up(app, client, customer):
    number = customer["account"]["account_number"]
    fund(app, number, 99_999)  # 999.99: below
    fund(app, number, 100_000)  # 1000.00: at the threshold
    withdrawn = client.post("/withdraw", headers=customer["headers"],
                            json={"amount": "1500.00"})  # fmt: skip
    assert withdrawn.status_code == 201
    run_job(app)
    bodies = [item["body"] for item in in_app(client, customer)]
    assert bodies == [
        f"A withdrawal of 1,500.00 USD was made from your account {number}.",
        f"A deposit of 1,000.00 USD was made into your account {number}.",
    ]


def test_the_threshold_is_a_setting_parsed_as_money(app, client, customer):
    from decimal import Decimal

    app.config["NOTIFY_LARGE_AMOUNT"] = Decimal("10.01")
    number = customer["account"]["account_number"]
    fund(app, number, 1000)
    fund(app, number, 1001)
    run_job(app)
    assert [i["body"] for i in in_app(client, customer)] == [
        f"A deposit of 10.01 USD was made into your account {number}."
    ]


def test_a_re_sweep_queues_nothing_new(app, client, customer, other_customer):
    fund(app, customer["account"]["account_number"], 200_000)
    client.post("/transfers", headers=customer["headers"], json={
        "to_account_number": other_customer["account"]["account_number"],
        "amount": "1000.00"})  # fmt: skip
    first = run_job(app)
    stored = len(outbox_of(app))
    assert stored == 3  # two large movements, one incoming transfer
    assert first.done == stored  # in-app only: nothing else to send
    # Every feed back to the beginning of time: the keys refuse the repeats.
    with app.app_context():
        get_db()["feeds"].update_many(
            {"_id": {"$in": list(FEEDS)}}, {"$set": {"position": EPOCH}}
        )
    again = run_job(app)
    assert again.done == 0
    assert len(outbox_of(app)) == stored


def test_two_sweeps_at_once_queue_each_notification_once(
    app, customer, other_customer, fast_switching
):
    for _ in range(10):
        fund(app, customer["account"]["account_number"], 150_000)
    barrier = threading.Barrier(4)
    errors = []

    def sweep():
        try:
            with app.app_context():
                barrier.wait()
                jobs.run_job("notifications", job_context())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(outbox_of(app, customer["user"]["id"])) == 10


# -- events from the login history --------------------------------------------------


def test_a_login_from_a_new_device_is_notified_but_not_the_first(app, client):
    register(client, "erin")  # the very first login (no notice)
    login_headers(client, "erin", PASSWORD)  # the same device again
    other = {"User-Agent": "Phone/2.0"}
    assert client.post("/auth/login", headers=other,
                       json={"username": "erin", "password": PASSWORD}
                       ).status_code == 200  # fmt: skip
    client.post("/auth/login", headers=other,
                json={"username": "erin", "password": PASSWORD})  # fmt: skip
    client.post("/auth/login", headers={"User-Agent": "Evil/1.0"},
                json={"username": "erin", "password": "wrong-password-1"})  # fmt: skip
    with app.app_context():
        user = get_db()["users"].find_one({"username": "erin"})
    contact(app, user["_id"])
    client.patch("/notifications/preferences", json={"email": False, "sms": False},
                 headers=login_headers(client, "erin", PASSWORD))  # fmt: skip
    run_job(app)
    new = outbox_of(app, user["_id"], event="new_login")
    # Once, on every channel whatever the preferences: a security event.
    assert sorted(m["channel"] for m in new) == ["email", "in_app", "sms"]
    assert "Phone/2.0" in new[0]["body"] and "change your password" in new[0]["body"]
    run_job(app)
    assert len(outbox_of(app, user["_id"], event="new_login")) == 3


def test_a_new_address_counts_as_a_new_device(app, client):
    register(client, "fran")
    client.post("/auth/login", json={"username": "fran", "password": PASSWORD},
                environ_base={"REMOTE_ADDR": "203.0.113.9"})  # fmt: skip
    run_job(app)
    with app.app_context():
        user = get_db()["users"].find_one({"username": "fran"})
    [notice] = outbox_of(app, user["_id"], event="new_login")
    assert "203.0.113.9" in notice["body"]


# -- events from the audit log -------------------------------------------------------


def test_a_password_reset_in_the_audit_log_is_notified(app, client, customer):
    with app.app_context():
        AuditModel().append("password_reset", actor=None,
                            target=customer["user"]["id"])  # fmt: skip
    run_job(app)
    [item] = in_app(client, customer)
    assert item["event"] == "password_reset"
    assert item["title"] == "Your password was reset"


def test_a_loan_decision_is_notified(app, client, customer, banker):
    product = client.post("/banker/loan-products", headers=banker["headers"], json={
        "name": "Personal loan", "annual_rate": "12.00", "min_amount": "500.00",
        "max_amount": "25000.00", "min_term_months": 1, "max_term_months": 360,
    }).get_json()  # fmt: skip
    loans = []
    for _ in range(2):
        applied = client.post(
            "/loans",
            headers=customer["headers"],
            json={"product_id": product["id"], "amount": "1200.00", "term_months": 12},
        )
        loans.append(applied.get_json())
    ok = client.post(f"/banker/loans/{loans[0]['id']}/approve",
                     headers=banker["headers"])  # fmt: skip
    no = client.post(
        f"/banker/loans/{loans[1]['id']}/reject",
        headers=banker["headers"],
        json={"reason": "Income too low"},
    )
    assert ok.status_code == no.status_code == 200
    run_job(app)
    items = {item["event"]: item["body"] for item in in_app(client, customer)}
    assert items == {
        "loan_approved": "Your application for a loan of 1,200.00 USD over 12 "
        "months was approved.",
        "loan_rejected": "Your application for a loan of 1,200.00 USD was "
        "declined: Income too low.",
    }


def test_an_overdue_instalment_is_notified_once(app, client, customer, banker):
    product = client.post("/banker/loan-products", headers=banker["headers"], json={
        "name": "Personal loan", "annual_rate": "12.00", "min_amount": "500.00",
        "max_amount": "25000.00", "min_term_months": 1, "max_term_months": 360,
    }).get_json()  # fmt: skip
    loan = client.post("/loans", headers=customer["headers"], json={
        "product_id": product["id"], "amount": "1000.00", "term_months": 12,
    }).get_json()  # fmt: skip
    for action in ("approve", "disburse"):
        assert (
            client.post(
                f"/banker/loans/{loan['id']}/{action}", headers=banker["headers"]
            ).status_code
            == 200
        )
    rows = client.get(f"/loans/{loan['id']}/schedule",
                      headers=customer["headers"]).get_json()["items"]  # fmt: skip
    first_due = date.fromisoformat(rows[0]["due_date"])
    later = datetime.combine(first_due + timedelta(days=3), datetime.min.time(), UTC)
    with app.app_context():
        jobs.run_job("loan_interest", job_context(later))
    run_job(app, later)
    run_job(app, later + timedelta(hours=1))
    overdue = [i for i in in_app(client, customer)
               if i["event"] == "loan_instalment_overdue"]  # fmt: skip
    assert len(overdue) == 1
    assert overdue[0]["body"].startswith(
        f"Instalment 1 of your loan, due on {rows[0]['due_date']}, is overdue: "
    )


def test_an_approval_decision_is_notified(app, client, customer, other_customer,
                                         banker):  # fmt: skip
    fund(app, customer["account"]["account_number"], 3_000_000)
    target = other_customer["account"]["account_number"]
    asked = [
        client.post("/transfers", headers=customer["headers"],
                    json={"to_account_number": target, "amount": "10000.00"})
        for _ in range(2)
    ]  # fmt: skip
    assert [r.status_code for r in asked] == [202, 202]
    first, second = (r.get_json()["approval"]["id"] for r in asked)
    assert (
        client.post(
            f"/banker/approvals/{first}/approve", headers=banker["headers"]
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/banker/approvals/{second}/reject",
            headers=banker["headers"],
            json={"reason": "Call us first"},
        ).status_code
        == 200
    )
    run_job(app)
    events = [item["event"] for item in in_app(client, customer)]
    assert "approval_approved" in events and "approval_rejected" in events
    rejected = next(i for i in in_app(client, customer)
                    if i["event"] == "approval_rejected")  # fmt: skip
    assert "10,000.00 USD" in rejected["body"] and "Call us first" in rejected["body"]
    # The receiver hears of the money that did arrive.
    assert [i["event"] for i in in_app(client, other_customer)] == ["incoming_transfer"]


# -- goals and standing orders -------------------------------------------------------


def test_a_completed_goal_is_notified(app, client, customer):
    fund(app, customer["account"]["account_number"], 10_000)
    goal = client.post("/goals", headers=customer["headers"],
                       json={"name": "Bike", "target_amount": "50.00"})  # fmt: skip
    assert goal.status_code == 201, goal.get_json()
    into = client.post(
        f"/goals/{goal.get_json()['id']}/deposits",
        headers=customer["headers"],
        json={"amount": "50.00"},
    )
    assert into.status_code == 201, into.get_json()
    assert into.get_json()["goal"]["status"] == "completed"
    run_job(app)
    [item] = in_app(client, customer)
    assert item["event"] == "goal_completed"
    assert (
        item["body"] == "Your savings goal \u201cBike\u201d reached its target of "
        "50.00 USD."
    )


def test_failed_and_suspended_standing_orders_are_notified(app, client, customer,
                                                          other_customer):  # fmt: skip
    with app.app_context():
        owner = UserModel().find_by_id(customer["user"]["id"])
        place(
            owner,
            StandingOrder(cents=700, start_date=date(2027, 2, 1),
                          to_account_number=other_customer["account"]["account_number"],
                          recurrence=Recurrence("monthly", count=6)),
            currency="USD", today=date(2027, 2, 1),
        )  # fmt: skip
        jobs.run_job(
            "scheduled_transfers", job_context(datetime(2027, 5, 15, tzinfo=UTC))
        )
    run_job(app)
    events = [item["event"] for item in reversed(in_app(client, customer))]
    assert events == [
        "scheduled_transfer_failed", "scheduled_transfer_failed",
        "scheduled_transfer_suspended",
    ]  # fmt: skip
    last = in_app(client, customer)[0]
    assert "7.00 USD" in last["body"] and "insufficient funds" in last["body"]
    assert "suspended" in last["body"]


# -- routes ----------------------------------------------------------------------


def queue_many(app, customer, count: int) -> None:
    user = user_doc(app, customer["user"]["id"])
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        for n in range(count):
            outbox.queue(user, "test_event", f"k{n}", f"Title {n}", f"Body {n}",
                         now=base + timedelta(minutes=n))  # fmt: skip


def test_the_list_is_paginated_newest_first(app, client, customer):
    queue_many(app, customer, 5)
    first = client.get("/notifications", headers=customer["headers"],
                       query_string={"limit": 2}).get_json()  # fmt: skip
    assert [i["title"] for i in first["items"]] == ["Title 4", "Title 3"]
    assert set(first["items"][0]) == {
        "id",
        "event",
        "title",
        "body",
        "created_at",
        "read_at",
    }
    second = client.get(
        "/notifications",
        headers=customer["headers"],
        query_string={"limit": 2, "cursor": first["next_cursor"]},
    ).get_json()
    assert [i["title"] for i in second["items"]] == ["Title 2", "Title 1"]
    third = client.get(
        "/notifications",
        headers=customer["headers"],
        query_string={"limit": 2, "cursor": second["next_cursor"]},
    ).get_json()
    assert [i["title"] for i in third["items"]] == ["Title 0"]
    assert third["next_cursor"] is None


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"cursor": "x"},
                                   {"limit": "ten"}])  # fmt: skip
def test_bad_list_queries_are_422(client, customer, query):
    response = client.get("/notifications", headers=customer["headers"],
                          query_string=query)  # fmt: skip
    assert_problem(response, 422, "validation_error")


def test_reading_is_idempotent_and_only_for_the_owner(app, client, customer,
                                                      other_customer):  # fmt: skip
    queue_many(app, customer, 1)
    [item] = in_app(client, customer)
    read = client.post(f"/notifications/{item['id']}/read", headers=customer["headers"])
    assert read.status_code == 200
    body = read.get_json()
    assert body["id"] == item["id"] and body["read_at"].endswith("Z")
    again = client.post(f"/notifications/{item['id']}/read",
                        headers=customer["headers"])  # fmt: skip
    assert again.status_code == 200 and again.get_json() == body
    assert in_app(client, customer)[0]["read_at"] == body["read_at"]
    theirs = client.post(f"/notifications/{item['id']}/read",
                         headers=other_customer["headers"])  # fmt: skip
    assert_problem(theirs, 404, "notification_not_found")
    for bad in ("nope", str(ObjectId())):
        missing = client.post(f"/notifications/{bad}/read", headers=customer["headers"])
        assert_problem(missing, 404, "notification_not_found")


def test_a_message_of_another_channel_is_not_readable_in_app(app, client, customer):
    contact(app, customer["user"]["id"])
    queue_many(app, customer, 1)
    [email] = outbox_of(app, customer["user"]["id"], channel="email")
    response = client.post(f"/notifications/{email['_id']}/read",
                           headers=customer["headers"])  # fmt: skip
    assert_problem(response, 404, "notification_not_found")


def test_preferences_default_on_and_change_one_at_a_time(client, customer):
    got = client.get("/notifications/preferences", headers=customer["headers"])
    assert got.status_code == 200 and got.get_json() == {"email": True, "sms": True}
    sms_off = client.patch("/notifications/preferences", headers=customer["headers"],
                           json={"sms": False})  # fmt: skip
    assert sms_off.get_json() == {"email": True, "sms": False}
    nothing = client.patch("/notifications/preferences",
                           headers=customer["headers"], json={})  # fmt: skip
    assert_problem(nothing, 422, "validation_error")
    unchanged = client.get("/notifications/preferences", headers=customer["headers"])
    assert unchanged.get_json() == {"email": True, "sms": False}


@pytest.mark.parametrize("body, field", [
    ({"email": "false"}, "email"), ({"sms": 0}, "sms"), ({"email": None}, "email"),
    ({"in_app": False}, "in_app"), ({"push": True}, "push"),
])  # fmt: skip
def test_bad_preferences_are_422_and_change_nothing(client, customer, body, field):
    response = client.patch("/notifications/preferences", headers=customer["headers"],
                            json=body)  # fmt: skip
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    got = client.get("/notifications/preferences", headers=customer["headers"])
    assert got.get_json() == {"email": True, "sms": True}


@pytest.mark.parametrize("method, path", [
    ("get", "/notifications"), ("post", "/notifications/65a1b2c3d4e5f60718293a4b/read"),
    ("get", "/notifications/preferences"), ("patch", "/notifications/preferences"),
])  # fmt: skip
def test_staff_get_403_and_anonymous_401(client, banker, auditor, method, path):
    for staff in (banker, auditor):
        response = getattr(client, method)(path, headers=staff["headers"], json={})
        assert_problem(response, 403, "forbidden")
    assert_problem(getattr(client, method)(path, json={}), 401, "token_missing")


# -- the job ----------------------------------------------------------------------


def test_the_job_is_listed_with_the_messages_due(app, client, customer, banker,
                                                 senders):  # fmt: skip
    contact(app, customer["user"]["id"])
    queue_many(app, customer, 2)  # two emails, two sms due (dated in the past)
    listed = client.get("/banker/jobs", headers=banker["headers"]).get_json()["items"]
    [job] = [item for item in listed if item["name"] == "notifications"]
    assert job["due"] == 4
    ran = client.post("/banker/jobs/notifications/run", headers=banker["headers"])
    assert ran.get_json() == {"name": "notifications", "done": 4, "failed": 0}
    assert len(senders["email"].sent) == len(senders["sms"].sent) == 2
    listed = client.get("/banker/jobs", headers=banker["headers"]).get_json()["items"]
    [job] = [item for item in listed if item["name"] == "notifications"]
    assert job["due"] == 0
    assert job["last_outcome"] == {"done": 4, "failed": 0, "error": None}


def test_run_due_runs_the_notifications_job(app, customer, senders):
    contact(app, customer["user"]["id"])
    queue_many(app, customer, 1)
    with app.app_context():
        summaries = jobs_controller.run_due()
    assert summaries["notifications"] == {"done": 2, "failed": 0}


def test_a_request_never_waits_for_a_send(app, client, customer, other_customer):
    """A transfer's request writes the journal only: nothing is queued or sent
    until the job runs, so a mail server that hangs cannot hold it up."""

    class Hanging:
        def send(self, message):  # pragma: no cover - must never be called
            raise AssertionError("a request sent a message")

    app.extensions["notification_senders"] = {"email": Hanging(), "sms": Hanging()}
    contact(app, other_customer["user"]["id"])
    fund(app, customer["account"]["account_number"], 10_000)
    sent = client.post("/transfers", headers=customer["headers"], json={
        "to_account_number": other_customer["account"]["account_number"],
        "amount": "5.00"})  # fmt: skip
    assert sent.status_code == 201
    assert outbox_of(app) == []


def test_a_staff_member_is_notified_of_a_password_change_by_email(app, client):
    user = make_user(app, "boss", PASSWORD, role="banker")
    contact(app, user["_id"], email="boss@example.org")
    headers = auth_headers(app, user)
    change = {"current_password": PASSWORD, "new_password": PASSWORD + "-x"}
    assert client.post("/auth/change-password", headers=headers,
                       json=change).status_code == 204  # fmt: skip
    run_job(app)
    assert [(m["channel"], m["event"]) for m in outbox_of(app, user["_id"])] == [
        ("email", "password_changed"), ("sms", "password_changed"),
    ]  # fmt: skip


def test_a_repeat_that_slips_past_the_read_is_refused_by_the_unique_key(
    app, customer, monkeypatch
):
    """Two runners may both read a key as new; the unique key lets one insert."""
    from app.models.notification import NotificationModel

    user = user_doc(app, customer["user"]["id"])
    with app.app_context():
        assert outbox.queue(user, "test_event", "k", "Title", "Body") == 1
        monkeypatch.setattr(NotificationModel, "keys_among", lambda self, keys: set())
        assert outbox.queue(user, "test_event", "k", "Title", "Body") == 0
    assert len(outbox_of(app, customer["user"]["id"])) == 1


def test_a_sweep_that_stops_does_not_hold_back_the_sends(app, customer, senders,
                                                         monkeypatch):  # fmt: skip
    from app.core import notification_events

    def broken(*args, **kwargs):
        raise RuntimeError("the sweep stopped")

    contact(app, customer["user"]["id"])
    queue_many(app, customer, 1)
    monkeypatch.setattr(notification_events, "derive", broken)
    outcome = run_job(app)
    assert (outcome.done, outcome.failed) == (2, 1)
    assert len(senders["email"].sent) == len(senders["sms"].sent) == 1
