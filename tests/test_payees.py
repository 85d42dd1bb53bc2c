"""Payees: the model's places, the use case, and /payees and /transfers over HTTP."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import ObjectId

from app import create_app
from app.config import TestConfig
from app.core import payees
from app.core.errors import (
    AccountNotFound,
    InvalidRequest,
    NameCheckFailed,
    PayeeExists,
    PayeeLimitReached,
    PayeeNotFound,
)
from app.core.payees import NewPayee
from app.db import get_db, memory_client
from app.models.account import AccountModel
from app.models.payee import PayeeModel
from tests import query_recorder as qr
from tests.conftest import PASSWORD, register
from tests.factories import balance_cents, fund, login_headers, make_account, make_user
from tests.helpers import assert_problem

PAYEE_KEYS = {
    "id",
    "account_number",
    "name",
    "nickname",
    "reference",
    "name_check",
    "created_at",
}
NAME_CHECK = "payee_name_check"


def register_named(client, username: str, full_name: str) -> dict:
    """Register a customer with a full name over HTTP and log them in."""
    body = client.post(
        "/auth/register",
        json={"username": username, "password": PASSWORD, "full_name": full_name},
    ).get_json()
    return {**body, "headers": login_headers(client, username, PASSWORD)}


def add(client, headers, number, name, **extra):
    return client.post(
        "/payees", json={"account_number": number, "name": name, **extra},
        headers=headers,
    )  # fmt: skip


def added(client, headers, number, name, **extra) -> dict:
    response = add(client, headers, number, name, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def number_of(someone: dict) -> str:
    return someone["account"]["account_number"]


def stored_payees(app) -> list[dict]:
    with app.app_context():
        return list(get_db()["payees"].find({}))


def name_checks(app) -> list[dict]:
    with app.app_context():
        return list(get_db()["audit_log"].find({"action": NAME_CHECK}))


@pytest.fixture
def dave_jones(client):
    """A customer whose full name is Dave Jones."""
    return register_named(client, "dave", "Dave Jones")


# -- the model's places --------------------------------------------------------


def payee_doc(user_id, number):
    return {"_id": ObjectId(), "user_id": user_id, "account_number": number}


def test_insert_within_takes_free_places_and_refuses_past_the_limit(app):
    owner = ObjectId()
    with app.app_context():
        model = PayeeModel()
        first = model.insert_within(payee_doc(owner, "1111111111"), 2)
        second = model.insert_within(payee_doc(owner, "2222222222"), 2)
        assert (first["slot"], second["slot"]) == (0, 1)
        assert model.insert_within(payee_doc(owner, "3333333333"), 2) is None
        # Another user's places are their own.
        assert model.insert_within(payee_doc(ObjectId(), "3333333333"), 2)["slot"] == 0
        # A deleted payee's place comes free again.
        assert model.delete_owned(owner, first["_id"]) is not None
        assert model.insert_within(payee_doc(owner, "3333333333"), 2)["slot"] == 0
        assert model.taken_places(owner) == {0, 1}


def test_insert_within_refuses_the_same_account_twice(app):
    from app.models import AlreadyTaken

    owner = ObjectId()
    with app.app_context():
        model = PayeeModel()
        model.insert_within(payee_doc(owner, "1111111111"), 5)
        with pytest.raises(AlreadyTaken):
            model.insert_within(payee_doc(owner, "1111111111"), 5)
        assert model.taken_places(owner) == {0}


def test_a_malformed_id_finds_nothing(app):
    with app.app_context():
        model = PayeeModel()
        assert model.find_owned(ObjectId(), "not-an-id") is None
        assert model.update_owned(ObjectId(), "x", {"nickname": "a"}) is None
        assert model.delete_owned(ObjectId(), "") is None


# -- the use case (no HTTP) ----------------------------------------------------


@pytest.fixture
def people(app):
    """Two customers with primary accounts, made through the models."""
    with app.app_context():
        carol = make_user(app, "carol", PASSWORD)
        dave = make_user(app, "dave", PASSWORD)
        get_db()["users"].update_one(
            {"_id": dave["_id"]}, {"$set": {"full_name": "Dave Jones"}}
        )
        for user in (carol, dave):
            AccountModel().ensure_primary(user, "USD")
    return carol, dave


def test_add_payee_stores_it_and_reports_the_check(app, people):
    carol, dave = people
    heard = []
    with app.app_context():
        number = AccountModel().find_by_id(dave["_id"])["account_number"]
        payee = payees.add_payee(
            carol,
            NewPayee(number, "D Jones", nickname="Dave"),
            limit=10,
            on_name_check=lambda check, created: heard.append((check, created)),
        )
        assert payee["name_check"] == {
            "result": "close_match",
            "matched_name": "Dave Jones",
        }
        assert payees.get_payee(carol, str(payee["_id"]))["nickname"] == "Dave"
        assert payees.payee_account(carol, str(payee["_id"])) == number
    assert [(check.result, created) for check, created in heard] == [
        ("close_match", True)
    ]


def test_an_unacknowledged_no_match_is_refused_and_reported(app, people):
    carol, dave = people
    heard = []
    with app.app_context():
        number = AccountModel().find_by_id(dave["_id"])["account_number"]
        with pytest.raises(NameCheckFailed):
            payees.add_payee(
                carol,
                NewPayee(number, "Someone Else"),
                limit=10,
                on_name_check=lambda check, created: heard.append((check, created)),
            )
        assert get_db()["payees"].count_documents({}) == 0
    assert [(c.result, c.matched_name, made) for c, made in heard] == [
        ("no_match", None, False)
    ]


def test_refusals_before_the_check_check_no_name(app, people):
    carol, dave = people
    heard = []

    def listen(check, created):
        heard.append(check)

    with app.app_context():
        own = AccountModel().find_by_id(carol["_id"])["account_number"]
        number = AccountModel().find_by_id(dave["_id"])["account_number"]
        with pytest.raises(InvalidRequest) as refused:
            payees.add_payee(carol, NewPayee(own, "carol"), limit=10,
                             on_name_check=listen)  # fmt: skip
        assert refused.value.field == "account_number"
        with pytest.raises(AccountNotFound):
            payees.add_payee(carol, NewPayee("0000000000", "x"), limit=10,
                             on_name_check=listen)  # fmt: skip
        with pytest.raises(PayeeLimitReached):
            payees.add_payee(carol, NewPayee(number, "Dave Jones"), limit=0,
                             on_name_check=listen)  # fmt: skip
        payees.add_payee(carol, NewPayee(number, "Dave Jones"), limit=10)
        with pytest.raises(PayeeExists):
            payees.add_payee(carol, NewPayee(number, "Dave Jones"), limit=10,
                             on_name_check=listen)  # fmt: skip
    assert heard == []


def test_payee_account_refuses_another_owners_payee(app, people):
    carol, dave = people
    with app.app_context():
        number = AccountModel().find_by_id(carol["_id"])["account_number"]
        payee = payees.add_payee(dave, NewPayee(number, "carol"), limit=10)
        with pytest.raises(PayeeNotFound):
            payees.payee_account(carol, str(payee["_id"]))
        with pytest.raises(PayeeNotFound):
            payees.payee_account(dave, "zzz")
        assert payees.payee_account(dave, str(payee["_id"])) == number


def test_update_payee_changes_only_nickname_and_reference(app, people):
    carol, dave = people
    with app.app_context():
        number = AccountModel().find_by_id(dave["_id"])["account_number"]
        payee = payees.add_payee(carol, NewPayee(number, "Dave Jones"), limit=10)
        after = payees.update_payee(
            carol,
            str(payee["_id"]),
            {"nickname": "DJ", "name": "Mallory", "account_number": "1234567897"},
        )
    assert after["nickname"] == "DJ"
    assert (after["name"], after["account_number"]) == ("Dave Jones", number)


# -- POST /payees ----------------------------------------------------------------


def test_add_payee_returns_201_with_the_payee(app, client, customer, dave_jones):
    number = number_of(dave_jones)
    response = add(client, customer["headers"], number, "dave jones",
                   nickname="Dave", reference="Rent")  # fmt: skip
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == PAYEE_KEYS
    assert body["account_number"] == number
    assert (body["name"], body["nickname"], body["reference"]) == (
        "dave jones",
        "Dave",
        "Rent",
    )
    assert body["name_check"] == {"result": "match", "matched_name": None}
    assert body["created_at"].endswith("Z")
    (stored,) = stored_payees(app)
    assert str(stored["_id"]) == body["id"]
    assert str(stored["user_id"]) == customer["user"]["id"]


def test_optional_fields_are_null(client, customer, other_customer):
    body = added(client, customer["headers"], number_of(other_customer), "dave")
    assert (body["nickname"], body["reference"]) == (None, None)
    # dave has no full name: the check is against the username.
    assert body["name_check"] == {"result": "match", "matched_name": None}


def test_a_close_match_shows_the_holders_name(client, customer):
    holder = register_named(client, "obrien", "Dávid O'Brien")
    body = added(client, customer["headers"], number_of(holder), "D. OBrien")
    assert body["name_check"] == {
        "result": "close_match",
        "matched_name": "Dávid O'Brien",
    }


def test_the_full_name_wins_over_the_username(client, customer, dave_jones):
    response = add(client, customer["headers"], number_of(dave_jones), "dave")
    assert_problem(response, 409, "name_check_failed")


def test_a_no_match_is_refused_changes_nothing_and_is_audited(
    app, client, customer, dave_jones
):
    number = number_of(dave_jones)
    response = add(client, customer["headers"], number, "Mallory Smith")
    body = assert_problem(response, 409, "name_check_failed")
    assert "Jones" not in str(body)
    assert stored_payees(app) == []
    (entry,) = name_checks(app)
    assert (entry["actor"], entry["target"]) == ("carol", number)
    assert entry["details"] == {"result": "no_match", "created": False}
    # The holder's real name is nowhere in the entry.
    assert "Jones" not in str(entry) and "Dave" not in str(entry)


def test_an_acknowledged_no_match_is_kept_as_no_match(
    app, client, customer, dave_jones
):
    body = added(client, customer["headers"], number_of(dave_jones),
                 "Mallory Smith", acknowledge_name_check=True)  # fmt: skip
    assert body["name_check"] == {"result": "no_match", "matched_name": None}
    (stored,) = stored_payees(app)
    assert stored["name_check"]["result"] == "no_match"
    (entry,) = name_checks(app)
    assert entry["details"] == {"result": "no_match", "created": True}


def test_a_successful_check_is_audited(app, client, customer, dave_jones):
    added(client, customer["headers"], number_of(dave_jones), "D Jones")
    (entry,) = name_checks(app)
    assert entry["actor"] == "carol"
    assert entry["target"] == number_of(dave_jones)
    assert entry["details"] == {"result": "close_match", "created": True}


def test_an_unknown_account_is_404(app, client, customer):
    response = add(client, customer["headers"], "1234567897", "anyone")
    assert_problem(response, 404, "account_not_found")
    assert name_checks(app) == []


def test_a_closed_account_is_404(app, client, customer, other_customer):
    number = number_of(other_customer)
    with app.app_context():
        AccountModel().change_status(number, "active", "closed")
    response = add(client, customer["headers"], number, "dave")
    assert_problem(response, 404, "account_not_found")
    assert stored_payees(app) == [] and name_checks(app) == []


def test_a_goal_account_is_404(app, client, customer, other_customer):
    with app.app_context():
        owner = get_db()["users"].find_one({"username": "dave"})
        goal = AccountModel().create(owner, "USD", kind="goal")
    response = add(client, customer["headers"], goal["account_number"], "dave")
    assert_problem(response, 404, "account_not_found")
    assert stored_payees(app) == []


def test_a_frozen_account_can_be_a_payee(app, client, customer, other_customer):
    number = number_of(other_customer)
    with app.app_context():
        AccountModel().change_status(number, "active", "frozen")
    assert added(client, customer["headers"], number, "dave")["account_number"]


def get_db_user(app, username):
    with app.app_context():
        return get_db()["users"].find_one({"username": username})


def test_the_callers_own_account_is_422(app, client, customer):
    savings = make_account(app, get_db_user(app, "carol"), kind="savings")
    for number in (number_of(customer), savings["account_number"]):
        response = add(client, customer["headers"], number, "carol")
        body = assert_problem(response, 422, "validation_error")
        assert list(body["errors"]) == ["account_number"]
    assert stored_payees(app) == []


MISSING = object()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"account_number": MISSING}, "account_number"),
        ({"account_number": "12345"}, "account_number"),
        ({"account_number": 1234567897}, "account_number"),
        ({"name": MISSING}, "name"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "123"}, "name"),
        ({"name": "- . -"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "dave\u202e"}, "name"),
        ({"name": 7}, "name"),
        ({"nickname": ""}, "nickname"),
        ({"nickname": "n" * 61}, "nickname"),
        ({"reference": "r" * 141}, "reference"),
        ({"acknowledge_name_check": "true"}, "acknowledge_name_check"),
        ({"acknowledge_name_check": 1}, "acknowledge_name_check"),
        ({"role": "banker"}, "role"),
    ],
)
def test_invalid_payees_are_422(app, client, customer, other_customer, body, field):
    payload = {"account_number": number_of(other_customer), "name": "dave", **body}
    payload = {key: value for key, value in payload.items() if value is not MISSING}
    response = client.post("/payees", json=payload, headers=customer["headers"])
    problem = assert_problem(response, 422, "validation_error")
    assert list(problem["errors"]) == [field]
    assert stored_payees(app) == [] and name_checks(app) == []


def test_a_body_that_is_not_json_is_400(client, customer):
    response = client.post(
        "/payees", data="name=dave", headers=customer["headers"],
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert_problem(response, 400, "invalid_json")


def test_an_account_already_a_payee_is_409(app, client, customer, other_customer):
    number = number_of(other_customer)
    added(client, customer["headers"], number, "dave")
    response = add(client, customer["headers"], number, "Dave again",
                   acknowledge_name_check=True)  # fmt: skip
    assert_problem(response, 409, "payee_exists")
    assert len(stored_payees(app)) == 1
    # The refusal made no second name check.
    assert len(name_checks(app)) == 1


def test_two_customers_may_keep_the_same_payee(app, client, customer, dave_jones):
    erin = register(client, "erin")
    added(client, customer["headers"], number_of(dave_jones), "Dave Jones")
    added(client, erin["headers"], number_of(dave_jones), "Dave Jones")
    assert len(stored_payees(app)) == 2


def in_step(monkeypatch, count: int) -> None:
    """Hold every name check until ``count`` requests reach it, so they all
    pass the checks before it (exists, limit) before any of them inserts."""
    barrier = threading.Barrier(count)
    check = payees.check_name

    def held(given, holder):
        barrier.wait(10)
        return check(given, holder)

    monkeypatch.setattr(payees, "check_name", held)


def parallel(app, requests: list[tuple[dict, dict]]) -> list:
    """POST each (headers, body) to /payees from its own thread at once."""

    def one(request):
        headers, body = request
        return app.test_client().post("/payees", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(one, requests))


def test_two_parallel_adds_of_one_account_give_one_payee(
    app, customer, other_customer, monkeypatch, fast_switching
):
    in_step(monkeypatch, 2)
    body = {"account_number": number_of(other_customer), "name": "dave"}
    responses = parallel(app, [(customer["headers"], body)] * 2)
    assert sorted(r.status_code for r in responses) == [201, 409]
    (refused,) = [r for r in responses if r.status_code == 409]
    assert_problem(refused, 409, "payee_exists")
    assert len(stored_payees(app)) == 1
    # Both checks were made, and both audited: only one stored a payee.
    created = sorted(e["details"]["created"] for e in name_checks(app))
    assert created == [False, True]


def test_the_payee_limit_holds_under_parallel_adds(
    app, customer, monkeypatch, fast_switching
):
    app.config["MAX_PAYEES"] = 3
    owner = make_user(app, "erin", PASSWORD)
    numbers = [make_account(app, owner)["account_number"] for _ in range(8)]
    in_step(monkeypatch, len(numbers))
    requests = [
        (customer["headers"], {"account_number": number, "name": "erin"})
        for number in numbers
    ]
    responses = parallel(app, requests)
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 3
    assert statuses.count(409) == 5
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "payee_limit_reached")
    assert len(stored_payees(app)) == 3


def test_the_payee_limit_is_max_payees(app, client, customer):
    app.config["MAX_PAYEES"] = 2
    owner = make_user(app, "erin", PASSWORD)
    numbers = [make_account(app, owner)["account_number"] for _ in range(3)]
    first = added(client, customer["headers"], numbers[0], "erin")
    added(client, customer["headers"], numbers[1], "erin")
    response = add(client, customer["headers"], numbers[2], "erin")
    assert_problem(response, 409, "payee_limit_reached")
    assert len(stored_payees(app)) == 2
    # Deleting one makes room again.
    delete = client.delete(f"/payees/{first['id']}", headers=customer["headers"])
    assert delete.status_code == 204
    added(client, customer["headers"], numbers[2], "erin")


# -- GET /payees ---------------------------------------------------------------


def test_list_payees_is_own_newest_first_and_paginated(app, client, customer):
    owner = make_user(app, "erin", PASSWORD)
    numbers = [make_account(app, owner)["account_number"] for _ in range(3)]
    for number in numbers:
        added(client, customer["headers"], number, "erin")
    dave = register(client, "dave")
    added(client, dave["headers"], numbers[0], "erin")
    first = client.get("/payees?limit=2", headers=customer["headers"])
    assert first.status_code == 200
    page = first.get_json()
    assert [p["account_number"] for p in page["items"]] == numbers[:0:-1]
    assert set(page["items"][0]) == PAYEE_KEYS
    assert page["next_cursor"]
    rest = client.get(
        f"/payees?limit=2&cursor={page['next_cursor']}", headers=customer["headers"]
    ).get_json()
    assert [p["account_number"] for p in rest["items"]] == numbers[:1]
    assert rest["next_cursor"] is None


def test_a_new_customer_has_no_payees(client, customer):
    response = client.get("/payees", headers=customer["headers"])
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=%%%"])
def test_bad_list_queries_are_422(client, customer, query):
    response = client.get(f"/payees?{query}", headers=customer["headers"])
    assert_problem(response, 422, "validation_error")


# -- GET / PATCH / DELETE /payees/{payee_id} -------------------------------------


@pytest.fixture
def carols_payee(client, customer, other_customer) -> dict:
    return added(client, customer["headers"], number_of(other_customer), "dave",
                 nickname="Dave")  # fmt: skip


def test_get_payee_returns_it(client, customer, carols_payee):
    response = client.get(f"/payees/{carols_payee['id']}", headers=customer["headers"])
    assert response.status_code == 200
    assert response.get_json() == carols_payee


@pytest.mark.parametrize("payee_id", ["nope", "0" * 24, "zz" * 12, "%E2%80%AE"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_or_malformed_ids_are_404(client, customer, payee_id, method):
    response = getattr(client, method)(
        f"/payees/{payee_id}", headers=customer["headers"], json={"nickname": "x"}
    )
    assert_problem(response, 404, "payee_not_found")


def test_another_customers_payee_is_404_and_untouched(
    app, client, customer, other_customer, carols_payee
):
    path = f"/payees/{carols_payee['id']}"
    headers = other_customer["headers"]
    assert_problem(client.get(path, headers=headers), 404, "payee_not_found")
    response = client.patch(path, headers=headers, json={"nickname": "Mine"})
    assert_problem(response, 404, "payee_not_found")
    assert_problem(client.delete(path, headers=headers), 404, "payee_not_found")
    assert client.get(path, headers=customer["headers"]).get_json() == carols_payee


def test_patch_changes_nickname_and_reference(app, client, customer, carols_payee):
    path = f"/payees/{carols_payee['id']}"
    response = client.patch(
        path, headers=customer["headers"], json={"reference": "Invoice 7"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["nickname"], body["reference"]) == ("Dave", "Invoice 7")
    assert {k: v for k, v in body.items() if k != "reference"} == {
        k: v for k, v in carols_payee.items() if k != "reference"
    }
    response = client.patch(path, headers=customer["headers"], json={"nickname": None})
    assert response.get_json()["nickname"] is None
    assert client.get(path, headers=customer["headers"]).get_json()["nickname"] is None


def test_an_empty_patch_is_422(client, customer, carols_payee):
    path = f"/payees/{carols_payee['id']}"
    response = client.patch(path, headers=customer["headers"], json={})
    problem = assert_problem(response, 422, "validation_error")
    assert list(problem["errors"]) == ["_schema"]
    assert client.get(path, headers=customer["headers"]).get_json() == carols_payee


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "Mallory"}, "name"),
        ({"account_number": "1234567897"}, "account_number"),
        ({"name_check": {"result": "match"}}, "name_check"),
        ({"acknowledge_name_check": True}, "acknowledge_name_check"),
        ({"nickname": ""}, "nickname"),
        ({"reference": 5}, "reference"),
    ],
)
def test_patch_refuses_other_fields_and_bad_values(
    app, client, customer, carols_payee, body, field
):
    path = f"/payees/{carols_payee['id']}"
    response = client.patch(path, headers=customer["headers"], json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    assert client.get(path, headers=customer["headers"]).get_json() == carols_payee


def test_delete_is_204_then_the_payee_is_gone(app, client, customer, carols_payee):
    path = f"/payees/{carols_payee['id']}"
    response = client.delete(path, headers=customer["headers"])
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get(path, headers=customer["headers"]), 404,
                   "payee_not_found")  # fmt: skip
    assert_problem(client.delete(path, headers=customer["headers"]), 404,
                   "payee_not_found")  # fmt: skip
    assert stored_payees(app) == []
    with app.app_context():
        (entry,) = get_db()["audit_log"].find({"action": "payee_deleted"})
    assert entry["actor"] == "carol"
    assert entry["target"] == carols_payee["account_number"]
    # The account can be added again.
    added(client, customer["headers"], carols_payee["account_number"], "dave")


# -- POST /transfers with payee_id --------------------------------------------------


def test_a_transfer_to_a_payee_moves_money_to_its_account(
    app, client, customer, other_customer, carols_payee
):
    fund(app, number_of(customer), 5_000)
    response = client.post(
        "/transfers",
        json={"payee_id": carols_payee["id"], "amount": "12.50"},
        headers=customer["headers"],
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["transfer"]["to_account_number"] == number_of(other_customer)
    assert body["balance"] == "37.50"
    assert balance_cents(app, number_of(customer)) == 3_750
    assert balance_cents(app, number_of(other_customer)) == 1_250


@pytest.mark.parametrize(
    "target",
    [
        "both",
        "neither",
        "nulls",
    ],
)
def test_a_transfer_needs_exactly_one_target(
    app, client, customer, other_customer, carols_payee, target
):
    fund(app, number_of(customer), 5_000)
    body = {"amount": "1.00"}
    if target == "both":
        body.update(
            payee_id=carols_payee["id"], to_account_number=number_of(other_customer)
        )
    elif target == "nulls":
        body.update(payee_id=None, to_account_number=None)
    response = client.post("/transfers", json=body, headers=customer["headers"])
    problem = assert_problem(response, 422, "validation_error")
    assert set(problem["errors"]) == {"payee_id", "to_account_number"}
    assert balance_cents(app, number_of(customer)) == 5_000


def test_a_transfer_to_another_customers_payee_is_404(
    app, client, customer, other_customer
):
    daves = added(client, other_customer["headers"], number_of(customer), "carol")
    fund(app, number_of(other_customer), 5_000)
    fund(app, number_of(customer), 5_000)
    response = client.post(
        "/transfers",
        json={"payee_id": daves["id"], "amount": "1.00"},
        headers=customer["headers"],
    )
    assert_problem(response, 404, "payee_not_found")
    assert balance_cents(app, number_of(customer)) == 5_000
    assert balance_cents(app, number_of(other_customer)) == 5_000


def test_a_transfer_to_a_deleted_payee_is_404(app, client, customer, carols_payee):
    fund(app, number_of(customer), 5_000)
    client.delete(f"/payees/{carols_payee['id']}", headers=customer["headers"])
    response = client.post(
        "/transfers",
        json={"payee_id": carols_payee["id"], "amount": "1.00"},
        headers=customer["headers"],
    )
    assert_problem(response, 404, "payee_not_found")
    assert balance_cents(app, number_of(customer)) == 5_000


@pytest.mark.parametrize("payee_id", ["nope", "A" * 24, 7, ""])
def test_a_malformed_payee_id_is_422(client, customer, payee_id):
    response = client.post(
        "/transfers",
        json={"payee_id": payee_id, "amount": "1.00"},
        headers=customer["headers"],
    )
    problem = assert_problem(response, 422, "validation_error")
    assert "payee_id" in problem["errors"]


def test_a_transfer_by_number_still_works(app, client, customer, other_customer):
    fund(app, number_of(customer), 1_000)
    response = client.post(
        "/transfers",
        json={"to_account_number": number_of(other_customer), "amount": "1.00"},
        headers=customer["headers"],
    )
    assert response.status_code == 201
    assert balance_cents(app, number_of(other_customer)) == 100


# -- the name-check rate limit --------------------------------------------------


class LimitedConfig(TestConfig):
    RATELIMIT_ENABLED = True
    RATELIMIT_PAYEES = "3 per hour"


@pytest.fixture
def limited_app():
    return create_app(LimitedConfig, mongo_client=memory_client())


def test_name_checks_have_a_budget_per_user(limited_app):
    client = limited_app.test_client()
    carol, dave, erin = (register(client, name) for name in ("carol", "dave", "erin"))
    # Every attempt spends the budget, whatever it answers.
    assert add(client, carol["headers"], number_of(dave), "dave").status_code == 201
    assert add(client, carol["headers"], "1234567897", "x").status_code == 404
    assert add(client, carol["headers"], number_of(dave), "dave").status_code == 409
    response = add(client, carol["headers"], number_of(erin), "erin")
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    with limited_app.app_context():
        assert get_db()["payees"].count_documents({}) == 1
    # Another user has a budget of their own; reading payees spends none.
    assert add(client, erin["headers"], number_of(dave), "dave").status_code == 201
    assert client.get("/payees", headers=carol["headers"]).status_code == 200
    # Nor is it the money budget.
    deposit = {"amount": "1.00"}
    response = client.post("/deposit", json=deposit, headers=carol["headers"])
    assert response.status_code == 201


def test_the_limit_is_off_in_the_default_test_config(client, customer, other_customer):
    for _ in range(25):
        response = add(client, customer["headers"], "1234567897", "x")
        assert response.status_code == 404


# -- indexes -------------------------------------------------------------------


def test_every_payee_query_is_served_by_a_declared_index(app):
    """tests/test_indexes.py's judge, on the payee flows (its run has none)."""
    recording = qr.install(app)
    client = app.test_client()
    carol, dave = register(client, "carol"), register(client, "dave")
    payee = added(client, carol["headers"], number_of(dave), "dave")
    add(client, carol["headers"], number_of(dave), "dave")  # 409 payee_exists
    path = f"/payees/{payee['id']}"
    client.get("/payees?limit=1", headers=carol["headers"])
    client.get(path, headers=carol["headers"])
    client.patch(path, json={"nickname": "D"}, headers=carol["headers"])
    fund(app, number_of(carol), 100)
    transfer = {"payee_id": payee["id"], "amount": "1.00"}
    assert client.post("/transfers", json=transfer,
                       headers=carol["headers"]).status_code == 201  # fmt: skip
    client.delete(path, headers=carol["headers"])
    indexes = qr.declared_indexes(app.extensions["mongo_db"]._database["payees"])
    queries = [q for q in recording.distinct() if q.collection == "payees"]
    assert len({q.caller for q in queries}) >= 5
    unserved = [q.describe() for q in queries if qr.serving_index(q, indexes) is None]
    assert unserved == []
    # The judge can tell: without the listing index, the list is unserved.
    pruned = [index for index in indexes if index.name != "payees_newest_first"]
    assert any(qr.serving_index(q, pruned) is None for q in queries)
