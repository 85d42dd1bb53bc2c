"""Flagged movements: the rules, the sweep that derives reviews, closing one.

Each rule fires at its default and not just below it; a flag never blocks the
movement; a movement several rules flag has one review; the sweep never writes
a review twice; two bankers closing at once reach one outcome; a fraud close
freezes the movement's account; the banker lists show flags at one query a page.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from bson import ObjectId

from app.controllers import flag_rules
from app.controllers.reviews import catch_up
from app.core import jobs, reviews
from app.db import get_db
from app.models import utc_now
from app.models.feed import FeedModel
from tests import faults
from tests.conftest import PASSWORD, PAYER_FUNDS
from tests.factories import auth_headers, balance_cents, fund, make_user
from tests.helpers import assert_problem, call

# What the conftest's ``payer`` holds (20000.00).
FUNDS = PAYER_FUNDS


def withdraw(client, who, amount: str) -> str:
    """Withdraw ``amount``; return the movement id."""
    response = client.post("/withdraw", headers=who["headers"], json={"amount": amount})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["transaction"]["id"]


def transfer(client, who, body: dict) -> str:
    """Send a transfer; return its movement id (the transfer id)."""
    response = client.post("/transfers", headers=who["headers"], json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["transfer"]["id"]


def add_payee(client, who, account_number: str, name: str) -> dict:
    body = {"account_number": account_number, "name": name,
            "acknowledge_name_check": True}  # fmt: skip
    response = client.post("/payees", headers=who["headers"], json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def flags(client, banker, status: str | None = None) -> dict[str, list[str]]:
    """Movement id -> rules, for every review GET /banker/reviews lists."""
    query = {"limit": 100, **({"status": status} if status else {})}
    response = client.get(
        "/banker/reviews", headers=banker["headers"], query_string=query
    )
    assert response.status_code == 200, response.get_json()
    return {
        item["transaction"]["id"]: item["rules"]
        for item in response.get_json()["items"]
    }


def review_of(client, banker, movement_id: str) -> dict:
    response = client.get(
        "/banker/reviews", headers=banker["headers"], query_string={"limit": 100}
    )
    return next(
        item for item in response.get_json()["items"] if item["id"] == movement_id
    )


def close(client, who, review_id: str, outcome: str = "legitimate", **extra):
    return client.post(
        f"/banker/reviews/{review_id}/close",
        headers=who["headers"],
        json={"outcome": outcome, **extra},
    )


def age(app, collection: str, doc_id: str, field: str, by: timedelta) -> None:
    """Move a stored time back by ``by`` (the test's clock)."""
    with app.app_context():
        doc = get_db()[collection].find_one({"_id": ObjectId(doc_id)})
        get_db()[collection].update_one(
            {"_id": doc["_id"]}, {"$set": {field: doc[field] - by}}
        )


def sweep(app, now=None) -> int:
    with app.app_context():
        if now is None:
            return catch_up()
        return reviews.catch_up(timedelta(minutes=3), flag_rules(), now=now)


# -- the rules, each at its default and just below ----------------------------


def test_large_amount_fires_at_flag_amount_and_not_a_cent_below(client, payer, banker):
    below = withdraw(client, payer, "4999.99")
    at = withdraw(client, payer, "5000.00")
    seen = flags(client, banker)
    assert below not in seen
    assert seen[at] == ["large_amount"]


def test_a_large_deposit_and_a_large_transfer_are_flagged_too(
    client, payer, other_customer, banker
):
    response = client.post(
        "/deposit", headers=payer["headers"], json={"amount": "5000.00"}
    )
    deposit = response.get_json()["transaction"]["id"]
    sent = transfer(client, payer, {
        "to_account_number": other_customer["account"]["account_number"],
        "amount": "5000.00",
    })  # fmt: skip
    seen = flags(client, banker)
    assert seen[deposit] == seen[sent] == ["large_amount"]


def test_flag_amount_is_a_setting(app, client, payer, banker):
    app.config["FLAG_AMOUNT"] = app.config["FLAG_AMOUNT"] / 5  # 1000.00
    small = withdraw(client, payer, "999.99")
    large = withdraw(client, payer, "1000.00")
    seen = flags(client, banker)
    assert small not in seen and seen[large] == ["large_amount"]


def test_velocity_fires_on_the_fifth_outgoing_movement_in_ten_minutes(
    client, payer, other_customer, banker
):
    to_dave = {"to_account_number": other_customer["account"]["account_number"],
               "amount": "1.00"}  # fmt: skip
    first_four = [withdraw(client, payer, "1.00") for _ in range(3)]
    first_four.append(transfer(client, payer, to_dave))
    client.post("/deposit", headers=payer["headers"], json={"amount": "1.00"})
    assert not set(first_four) & set(flags(client, banker))  # 4 of 5: no flag
    fifth = withdraw(client, payer, "1.00")
    sixth = transfer(client, payer, to_dave)
    seen = flags(client, banker)
    assert seen[fifth] == ["velocity"]
    assert seen[sixth] == ["velocity"]
    assert not set(first_four) & set(seen)


def test_velocity_counts_only_the_ten_minutes_before_the_movement(
    app, client, payer, banker
):
    oldest = withdraw(client, payer, "1.00")
    age(app, "transactions", oldest, "posted_at", timedelta(minutes=10))
    later = [withdraw(client, payer, "1.00") for _ in range(4)]
    # The oldest is now more than 10 minutes before the fifth: 4 in its window.
    assert not set(later) & set(flags(client, banker))


def test_velocity_count_is_a_setting(app, client, payer, banker):
    app.config["FLAG_VELOCITY_COUNT"] = 2
    first = withdraw(client, payer, "1.00")
    second = withdraw(client, payer, "1.00")
    seen = flags(client, banker)
    assert first not in seen and seen[second] == ["velocity"]


@pytest.mark.parametrize("amount, flagged", [("1000.00", False), ("1000.01", True)])
def test_new_payee_fires_above_1000_to_a_payee_added_today(
    client, payer, other_customer, banker, amount, flagged
):
    payee = add_payee(client, payer, other_customer["account"]["account_number"],
                      "dave")  # fmt: skip
    assert payee["name_check"]["result"] == "match"
    sent = transfer(client, payer, {"payee_id": payee["id"], "amount": amount})
    assert flags(client, banker).get(sent) == (["new_payee"] if flagged else None)


def test_new_payee_is_the_payees_account_however_it_is_named(
    client, payer, other_customer, banker
):
    number = other_customer["account"]["account_number"]
    add_payee(client, payer, number, "dave")
    sent = transfer(client, payer, {"to_account_number": number, "amount": "1000.01"})
    assert flags(client, banker)[sent] == ["new_payee"]


def test_a_payee_older_than_24_hours_is_not_new(
    app, client, payer, other_customer, banker
):
    payee = add_payee(client, payer, other_customer["account"]["account_number"],
                      "dave")  # fmt: skip
    age(app, "payees", payee["id"], "created_at", timedelta(hours=24))
    sent = transfer(client, payer, {"payee_id": payee["id"], "amount": "4999.99"})
    assert sent not in flags(client, banker)


def test_a_payee_added_after_the_transfer_flags_nothing(
    client, payer, other_customer, banker
):
    number = other_customer["account"]["account_number"]
    sent = transfer(client, payer, {"to_account_number": number, "amount": "1000.01"})
    add_payee(client, payer, number, "Someone Else")
    assert sent not in flags(client, banker)


@pytest.mark.parametrize(
    "name, result, flagged",
    [("dave", "match", False), ("davy", "close_match", True),
     ("Zed Quinn", "no_match", True)],
)  # fmt: skip
def test_unconfirmed_payee_fires_on_any_name_check_but_a_match(
    client, payer, other_customer, banker, name, result, flagged
):
    payee = add_payee(client, payer, other_customer["account"]["account_number"], name)
    assert payee["name_check"]["result"] == result
    sent = transfer(client, payer, {"payee_id": payee["id"], "amount": "1.00"})
    assert flags(client, banker).get(sent) == (
        ["unconfirmed_payee"] if flagged else None
    )


# -- never blocked; one review per movement; never doubled --------------------


def test_a_flagged_movement_is_posted_never_blocked(app, client, payer, banker):
    number = payer["account"]["account_number"]
    before = balance_cents(app, number)
    response = client.post(
        "/withdraw", headers=payer["headers"], json={"amount": "6000.00"}
    )
    assert response.status_code == 201
    assert balance_cents(app, number) == before - 600_000
    movement = response.get_json()["transaction"]["id"]
    review = review_of(client, banker, movement)
    assert review["status"] == "open"
    assert review["transaction"]["amount"] == "6000.00"
    assert review["transaction"]["owner"] == {
        "id": payer["user"]["id"], "username": "carol",
    }  # fmt: skip


def test_several_rules_make_one_review_with_all_of_them(
    app, client, payer, other_customer, banker
):
    for _ in range(4):
        withdraw(client, payer, "1.00")
    payee = add_payee(client, payer, other_customer["account"]["account_number"],
                      "Zed Quinn")  # fmt: skip
    sent = transfer(client, payer, {"payee_id": payee["id"], "amount": "5000.00"})
    assert flags(client, banker)[sent] == [
        "large_amount", "velocity", "new_payee", "unconfirmed_payee",
    ]  # fmt: skip
    with app.app_context():
        assert get_db()["reviews"].count_documents({"_id": ObjectId(sent)}) == 1


def test_the_request_writes_no_review_the_sweep_does(app, client, payer, db):
    withdraw(client, payer, "5000.00")
    assert db["reviews"].count_documents({}) == 0
    assert sweep(app) == 1
    assert db["reviews"].count_documents({}) == 1


def test_a_second_sweep_writes_nothing_even_from_the_start(app, client, payer, db):
    for amount in ("5000.00", "7000.00"):
        withdraw(client, payer, amount)
    assert sweep(app) == 2
    stored = list(db["reviews"].find({}))
    assert sweep(app) == 0
    # A sweep that re-reads all the journal (its position lost) doubles nothing.
    db["feeds"].delete_one({"_id": reviews.FEED})
    assert sweep(app) == 0
    assert list(db["reviews"].find({})) == stored


def test_the_sweep_is_a_job_run_on_every_pass(app, client, payer, db):
    withdraw(client, payer, "5000.00")
    assert "flag_movements" in jobs.JOBS
    assert jobs.JOBS["flag_movements"].always
    from app.controllers.jobs import run_due

    with app.app_context():
        assert run_due()["flag_movements"] == {"done": 1, "failed": 0}
        assert run_due()["flag_movements"] == {"done": 0, "failed": 0}
    assert db["reviews"].count_documents({}) == 1


def test_the_sweep_position_never_passes_the_sweep(app, client, payer, db):
    now = utc_now()
    withdraw(client, payer, "5000.00")
    assert sweep(app, now=now - timedelta(hours=1)) == 0  # not posted yet then
    with app.app_context():
        assert FeedModel().position(reviews.FEED) == now - timedelta(hours=1)
    assert sweep(app, now=now + timedelta(minutes=1)) == 1


# -- closing ------------------------------------------------------------------


def test_closing_answers_the_closed_review_and_audits_it(client, payer, banker):
    movement = withdraw(client, payer, "5000.00")
    flags(client, banker)
    response = close(client, banker, movement, note="Known customer, paid a car.")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "closed" and body["outcome"] == "legitimate"
    assert body["closed_by"] == "bernie" and body["closed_at"].endswith("Z")
    assert body["note"] == "Known customer, paid a car."
    assert body["opened_at"].endswith("Z") and body["rules"] == ["large_amount"]
    assert flags(client, banker, "open") == {}
    assert flags(client, banker, "closed") == {movement: ["large_amount"]}
    events = client.get(
        "/audit/events", headers=banker["headers"],
        query_string={"action": "review_closed"},
    ).get_json()["items"]  # fmt: skip
    assert [(e["actor"], e["target"], e["details"]["outcome"]) for e in events] == [
        ("bernie", movement, "legitimate")
    ]
    assert_problem(close(client, banker, movement), 409, "review_not_open")


def test_two_bankers_closing_at_once_reach_one_outcome(
    app, server, payer, banker, fast_switching
):
    other = {"headers": auth_headers(app, make_user(app, "bella", PASSWORD, "banker"))}
    client = app.test_client()
    movements = [withdraw(client, payer, "5000.00") for _ in range(3)]
    assert set(flags(client, banker)) == set(movements)
    for review_id in movements:
        start = threading.Barrier(2)

        def closer(who, outcome, review_id=review_id, start=start):
            start.wait()
            return call(server, "POST", f"/banker/reviews/{review_id}/close",
                        who["headers"], {"outcome": outcome})  # fmt: skip

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(closer, (banker, other), ("legitimate", "fraud")))
        statuses = sorted(status for status, _body in answers)
        assert statuses == [200, 409], answers
        winner = next(body for status, body in answers if status == 200)
        loser = next(body for status, body in answers if status == 409)
        assert loser["code"] == "review_not_open"
        with app.app_context():
            stored = get_db()["reviews"].find_one({"_id": ObjectId(review_id)})
            audited = get_db()["audit_log"].count_documents(
                {"action": "review_closed", "target": review_id}
            )
        assert stored["outcome"] == winner["outcome"]
        assert audited == 1


def test_fraud_freezes_the_source_and_later_withdrawals_are_refused(
    app, client, payer, other_customer, banker
):
    number = payer["account"]["account_number"]
    sent = transfer(client, payer, {
        "to_account_number": other_customer["account"]["account_number"],
        "amount": "5000.00",
    })  # fmt: skip
    flags(client, banker)
    response = close(client, banker, sent, "fraud")
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "fraud"
    account = client.get(
        "/banker/accounts", headers=banker["headers"], query_string={"q": "carol"}
    ).get_json()["items"][0]
    assert account["account_number"] == number and account["status"] == "frozen"
    # The target of the transfer is not touched.
    target = client.get(
        "/banker/accounts", headers=banker["headers"], query_string={"q": "dave"}
    ).get_json()["items"][0]
    assert target["status"] == "active"
    refused = client.post(
        "/withdraw", headers=payer["headers"], json={"amount": "1.00"}
    )
    assert_problem(refused, 409, "account_frozen")
    events = client.get(
        "/audit/events", headers=banker["headers"],
        query_string={"action": "account_status_changed"},
    ).get_json()["items"]  # fmt: skip
    assert events[0]["actor"] == "bernie" and events[0]["target"] == number
    assert events[0]["details"] == {"from": "active", "to": "frozen",
                                    "review_id": sent}  # fmt: skip


@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_fraud_on_a_frozen_or_closed_account_still_closes(
    app, client, customer, banker, db, status
):
    savings = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    fund(app, savings, 500_000)  # a large deposit: flagged
    client.post("/withdraw", headers=customer["headers"],
                json={"amount": "5000.00", "account_number": savings})  # fmt: skip
    review = next(iter(flags(client, banker)))
    changed = client.patch(
        f"/banker/accounts/{savings}",
        headers=banker["headers"],
        json={"status": status},
    )
    assert changed.status_code == 200
    response = close(client, banker, review, "fraud")
    assert response.status_code == 200
    assert response.get_json()["status"] == "closed"
    assert db["accounts"].find_one({"account_number": savings})["status"] == status


def test_a_fraud_close_cut_short_before_its_freeze_is_finished_by_a_retry(
    app, client, payer, banker, db
):
    movement = withdraw(client, payer, "5000.00")
    flags(client, banker)
    # The close landed, then the process died before the freeze.
    db["reviews"].update_one(
        {"_id": ObjectId(movement)},
        {"$set": {"status": "closed", "outcome": "fraud", "freeze_pending": True}},
    )
    retry = close(client, banker, movement.upper(), "fraud")
    assert_problem(retry, 409, "review_not_open")
    number = payer["account"]["account_number"]
    assert db["accounts"].find_one({"account_number": number})["status"] == "frozen"
    # The freeze it finished is audited; no second close is.
    frozen = db["audit_log"].find_one({"action": "account_status_changed"})
    assert frozen["actor"] == "bernie" and frozen["target"] == number
    assert frozen["details"] == {
        "from": "active",
        "to": "frozen",
        "review_id": movement,
    }
    assert db["audit_log"].count_documents({"action": "review_closed"}) == 0


@pytest.mark.parametrize(
    "review_id", ["65a1b2c3d4e5f60718293a4b", "not-an-id", "0" * 25]
)
def test_an_unknown_or_malformed_review_is_404(client, banker, review_id):
    assert_problem(close(client, banker, review_id), 404, "review_not_found")


@pytest.mark.parametrize(
    "body, field",
    [({}, "outcome"), ({"outcome": "maybe"}, "outcome"),
     ({"outcome": "fraud", "note": "x" * 501}, "note"),
     ({"outcome": "fraud", "note": "a\u202eb"}, "note"),
     ({"outcome": "fraud", "freeze": False}, "freeze")],
)  # fmt: skip
def test_a_bad_close_body_is_422_naming_the_field(client, payer, banker, body, field):
    movement = withdraw(client, payer, "5000.00")
    flags(client, banker)
    response = client.post(
        f"/banker/reviews/{movement}/close", headers=banker["headers"], json=body
    )
    problem = assert_problem(response, 422, "validation_error")
    assert list(problem["errors"]) == [field]
    assert review_of(client, banker, movement)["status"] == "open"


@pytest.mark.parametrize("query", [{"status": "pending"}, {"status": ""},
                                   {"limit": "0"}, {"cursor": "nope"}])  # fmt: skip
def test_a_bad_list_query_is_422_naming_the_field(client, banker, query):
    response = client.get("/banker/reviews", headers=banker["headers"],
                          query_string=query)  # fmt: skip
    problem = assert_problem(response, 422, "validation_error")
    assert list(problem["errors"]) == list(query)


def test_the_list_pages_through_every_review_once(client, payer, banker):
    movements = [withdraw(client, payer, f"{5000 + n}.00") for n in range(3)]
    seen, cursor = [], None
    while True:
        query = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = client.get("/banker/reviews", headers=banker["headers"],
                          query_string=query).get_json()  # fmt: skip
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # One sweep opened all three at one time: newest first is by id then.
    assert seen == sorted(movements, reverse=True)


# -- who may ------------------------------------------------------------------


def test_an_auditor_reads_reviews_and_cannot_close_them(client, payer, banker, auditor):
    movement = withdraw(client, payer, "5000.00")
    assert flags(client, auditor) == {movement: ["large_amount"]}
    assert_problem(close(client, auditor, movement), 403, "forbidden")
    assert review_of(client, banker, movement)["status"] == "open"


def test_customers_may_neither_read_nor_close(client, payer):
    movement = withdraw(client, payer, "5000.00")
    listed = client.get("/banker/reviews", headers=payer["headers"])
    assert_problem(listed, 403, "forbidden")
    assert_problem(close(client, payer, movement), 403, "forbidden")
    assert_problem(client.get("/banker/reviews"), 401, "token_missing")


# -- the banker's transaction list --------------------------------------------


def test_the_banker_transaction_list_shows_flags_on_both_legs(
    client, payer, other_customer, banker
):
    sent = transfer(client, payer, {
        "to_account_number": other_customer["account"]["account_number"],
        "amount": "5000.00",
    })  # fmt: skip
    small = withdraw(client, payer, "1.00")
    flags(client, banker)
    items = client.get(
        "/banker/transactions", headers=banker["headers"], query_string={"limit": 100}
    ).get_json()["items"]
    by_leg = {(item["transfer_id"] or item["id"], item["type"]): item["flags"]
              for item in items}  # fmt: skip
    assert by_leg[(sent, "transfer_out")] == ["large_amount"]
    assert by_leg[(sent, "transfer_in")] == ["large_amount"]
    assert by_leg[(small, "withdrawal")] == []
    # Customers see no flags on their own list.
    own = client.get("/transactions", headers=payer["headers"]).get_json()["items"]
    assert all("flags" not in item for item in own)


def test_flags_cost_one_query_a_page_however_many_items(
    app, client, payer, other_customer, banker
):
    to_dave = {"to_account_number": other_customer["account"]["account_number"]}
    for amount in ("5000.00", "6000.00", "1.00"):
        transfer(client, payer, {**to_dave, "amount": amount})
    flags(client, banker)

    def trips(limit: int) -> list:
        counted = faults.schedule(app, audit=True)
        try:
            response = client.get("/banker/transactions", headers=banker["headers"],
                                  query_string={"limit": limit})  # fmt: skip
        finally:
            app.extensions["mongo_db"] = counted._database
        assert response.status_code == 200
        return counted.ops

    small, large = trips(2), trips(100)
    assert len(small) == len(large) == 3, large  # user, the page, its flags
    assert [op for op in large if op[0] == "reviews"] == [("reviews", "find")]


def test_a_fraud_close_stopped_before_its_freeze_is_finished_by_the_job(
    app, client, customer, banker
):
    """The close landed, the process died before the freeze: the job freezes."""
    from app.controllers.jobs import context as job_context
    from app.core import jobs
    from app.db import get_db

    number = customer["account"]["account_number"]
    client.post("/deposit", headers=customer["headers"], json={"amount": "6000.00"})
    review = client.get("/banker/reviews?status=open",
                        headers=banker["headers"]).get_json()["items"][0]  # fmt: skip
    with app.app_context():
        get_db()["reviews"].update_one(
            {"status": "open"},
            {"$set": {"status": "closed", "outcome": "fraud", "freeze_pending": True,
                      "closed_by": "bernie"}},
        )  # fmt: skip
    assert review["transaction"]["account_number"] == number
    with app.app_context():
        assert get_db()["accounts"].find_one({"account_number": number})["status"] == (
            "active"
        )
        jobs.run_job("flag_movements", job_context())
        account = get_db()["accounts"].find_one({"account_number": number})
        audited = get_db()["audit_log"].find_one(
            {"action": "account_status_changed", "target": number}
        )
    assert account["status"] == "frozen"
    assert audited["actor"] == "bernie" and audited["details"]["to"] == "frozen"
