"""Banker administration: staff, customers, accounts, account status, users.

Also the auditor role (reads what a banker reads, changes nothing), freezing and
closing enforced on every money route, and one audit entry per admin action.
"""

import pytest
from bson import ObjectId

from app.controllers.ledger import check_report
from app.db import get_db
from app.models.account import AccountModel
from app.models.audit import AuditModel
from app.models.user import UserModel
from tests.conftest import PASSWORD
from tests.factories import auth_headers, balance_cents, fund, login_headers, make_user
from tests.test_auth import assert_problem

ADMIN_ACTIONS = (
    "staff_created",
    "customer_created",
    "account_opened",
    "account_status_changed",
    "user_disabled",
    "user_enabled",
)
READ_ROUTES = ["/banker/accounts", "/banker/transactions", "/banker/ledger/check"]
USER_KEYS = {"id", "username", "role", "created_at"}
ACCOUNT_KEYS = {
    "account_number",
    "owner",
    "balance",
    "available_balance",
    "currency",
    "status",
    "created_at",
}


def admin_writes(customer_account: str = "1234567897", user_id: str = "0" * 24):
    """One well-formed request per admin write route: (method, path, body)."""
    return [
        ("post", "/banker/staff",
         {"username": "newstaff", "password": PASSWORD, "role": "banker"}),
        ("post", "/banker/customers", {"username": "newcust", "password": PASSWORD}),
        ("post", "/banker/accounts", {"username": "carol", "kind": "savings"}),
        ("patch", f"/banker/accounts/{customer_account}", {"status": "frozen"}),
        ("patch", f"/banker/users/{user_id}", {"active": False}),
    ]  # fmt: skip


@pytest.fixture
def auditor(app):
    """An auditor created through the model layer, with auth headers."""
    user = make_user(app, "audrey", PASSWORD, role="auditor")
    return {"user": user, "headers": auth_headers(app, user)}


def send(client, who, method, path, body):
    return getattr(client, method)(path, headers=who["headers"], json=body)


def set_status(client, banker, number, status):
    return client.patch(
        f"/banker/accounts/{number}", headers=banker["headers"], json={"status": status}
    )


def stored_account(app, number):
    with app.app_context():
        return AccountModel().find_by_number(number)


def stored_user(app, username):
    with app.app_context():
        return UserModel().find_by_username(username)


def admin_entries(app) -> list[dict]:
    """The administrative audit entries, oldest first."""
    with app.app_context():
        entries = AuditModel().collection.find(
            {"action": {"$in": list(ADMIN_ACTIONS)}}, sort=[("seq", 1)]
        )
        return list(entries)


def audit_valid(app) -> bool:
    with app.app_context():
        return AuditModel().verify()["valid"]


def posted(app) -> list:
    """Ids of every posted journal entry: what a refusal must leave alone."""
    with app.app_context():
        docs = get_db()["transactions"].find({"status": "posted"}, {"_id": 1})
        return sorted(doc["_id"] for doc in docs)


# -- roles --------------------------------------------------------------------


@pytest.mark.parametrize("path", READ_ROUTES)
def test_auditor_reads_what_a_banker_reads(client, auditor, customer, path):
    response = client.get(path, headers=auditor["headers"])
    assert response.status_code == 200, response.get_json()
    if path == "/banker/accounts":
        items = response.get_json()["items"]
        assert [i["owner"]["username"] for i in items] == ["carol"]


@pytest.mark.parametrize("method, path, body", admin_writes())
def test_admin_routes_need_a_token(client, method, path, body):
    assert_problem(getattr(client, method)(path, json=body), 401, "token_missing")


@pytest.mark.parametrize("role", ["customer", "auditor"])
@pytest.mark.parametrize("index", range(5))
def test_only_bankers_administer(
    app, client, customer, auditor, banker, db, role, index
):
    number = customer["account"]["account_number"]
    method, path, body = admin_writes(number, customer["user"]["id"])[index]
    who = customer if role == "customer" else auditor
    users_before = db["users"].count_documents({})
    accounts_before = list(db["accounts"].find({}, {"_id": 1, "status": 1}))
    assert_problem(send(client, who, method, path, body), 403, "forbidden")
    assert db["users"].count_documents({}) == users_before
    assert list(db["accounts"].find({}, {"_id": 1, "status": 1})) == accounts_before
    assert stored_user(app, "carol")["active"] is True
    assert admin_entries(app) == []


# -- POST /banker/staff -------------------------------------------------------


@pytest.mark.parametrize("role", ["banker", "auditor"])
def test_create_staff(app, client, banker, role):
    response = client.post(
        "/banker/staff",
        headers=banker["headers"],
        json={"username": "Newstaff", "password": PASSWORD, "role": role},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"user"} and set(body["user"]) == USER_KEYS
    assert body["user"]["username"] == "newstaff" and body["user"]["role"] == role
    stored = stored_user(app, "newstaff")
    assert str(stored["_id"]) == body["user"]["id"]
    assert stored["role"] == role and stored["active"] is True
    assert PASSWORD not in response.get_data(as_text=True)
    # Staff hold no accounts.
    with app.app_context():
        assert AccountModel().count_for_user(stored["_id"]) == 0
    headers = login_headers(client, "newstaff", PASSWORD)
    assert client.get("/banker/accounts", headers=headers).status_code == 200


def test_a_created_auditor_reads_but_cannot_administer(client, banker, customer):
    client.post(
        "/banker/staff",
        headers=banker["headers"],
        json={"username": "audit1", "password": PASSWORD, "role": "auditor"},
    )
    headers = login_headers(client, "audit1", PASSWORD)
    assert client.get("/banker/accounts", headers=headers).status_code == 200
    response = client.patch(
        f"/banker/accounts/{customer['account']['account_number']}",
        headers=headers,
        json={"status": "frozen"},
    )
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "staffer", "password": PASSWORD}, "role"),
        ({"username": "staffer", "password": PASSWORD, "role": "customer"}, "role"),
        ({"username": "staffer", "password": PASSWORD, "role": "admin"}, "role"),
        ({"username": "staffer", "password": PASSWORD, "role": None}, "role"),
        ({"username": "st", "password": PASSWORD, "role": "banker"}, "username"),
        ({"username": "staffer", "password": "short", "role": "banker"}, "password"),
        ({"username": "staffer", "password": "password123", "role": "banker"},
         "password"),
        ({"username": "staffer", "password": "Staffer", "role": "banker"},
         "password"),
        ({"username": "staffer", "password": PASSWORD, "role": "banker",
          "email": "s@example.com"}, "email"),
        ({"username": "staffer", "password": PASSWORD, "role": "banker",
          "active": False}, "active"),
    ],
)  # fmt: skip
def test_create_staff_validation(app, client, banker, body, field):
    response = client.post("/banker/staff", headers=banker["headers"], json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    assert stored_user(app, "staffer") is None
    assert admin_entries(app) == []


def test_create_staff_username_taken(client, banker, customer):
    response = client.post(
        "/banker/staff",
        headers=banker["headers"],
        json={"username": "CAROL", "password": PASSWORD, "role": "auditor"},
    )
    assert_problem(response, 409, "username_taken")


def test_admin_body_must_be_json(client, banker):
    response = client.post(
        "/banker/staff", headers=banker["headers"], data="username=x"
    )
    assert_problem(response, 400, "invalid_json")


# -- POST /banker/customers ---------------------------------------------------


def test_create_customer_answers_like_register(app, client, banker):
    response = client.post(
        "/banker/customers",
        headers=banker["headers"],
        json={
            "username": "Erin",
            "password": PASSWORD,
            "email": "erin@example.com",
            "full_name": "Erin Example",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"user", "account"}
    assert set(body["user"]) == USER_KEYS
    assert body["user"]["username"] == "erin" and body["user"]["role"] == "customer"
    assert set(body["account"]) == {"account_number", "balance", "currency"}
    assert body["account"]["balance"] == "0.00"
    user = stored_user(app, "erin")
    assert user["email"] == "erin@example.com" and user["full_name"] == "Erin Example"
    account = stored_account(app, body["account"]["account_number"])
    assert account["user_id"] == user["_id"] and account["primary"] is True
    # The customer signs in and uses the account like a registered one.
    headers = login_headers(client, "erin", PASSWORD)
    balance = client.get("/balance", headers=headers).get_json()
    assert balance["account_number"] == body["account"]["account_number"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "erin"}, "password"),
        ({"username": "erin", "password": PASSWORD, "role": "banker"}, "role"),
        ({"username": "erin", "password": PASSWORD, "email": "nope"}, "email"),
    ],
)
def test_create_customer_validation(app, client, banker, body, field):
    response = client.post("/banker/customers", headers=banker["headers"], json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    assert stored_user(app, "erin") is None


def test_create_customer_username_taken(client, banker, auditor):
    response = client.post(
        "/banker/customers",
        headers=banker["headers"],
        json={"username": "Audrey", "password": PASSWORD},
    )
    assert_problem(response, 409, "username_taken")


# -- POST /banker/accounts ----------------------------------------------------


def test_banker_opens_an_account_for_a_customer(app, client, banker, customer):
    response = client.post(
        "/banker/accounts",
        headers=banker["headers"],
        json={"username": "CAROL", "kind": "savings"},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == ACCOUNT_KEYS
    assert body["owner"] == {"id": customer["user"]["id"], "username": "carol"}
    assert body["balance"] == "0.00" and body["status"] == "active"
    stored = stored_account(app, body["account_number"])
    assert stored["kind"] == "savings" and stored["primary"] is False
    # The customer sees it among their own accounts.
    mine = client.get("/accounts", headers=customer["headers"]).get_json()
    numbers = {a["account_number"] for a in mine["items"]}
    assert numbers == {customer["account"]["account_number"], body["account_number"]}


def test_open_account_for_unknown_username_is_404(app, client, banker):
    response = client.post(
        "/banker/accounts",
        headers=banker["headers"],
        json={"username": "nobody", "kind": "checking"},
    )
    assert_problem(response, 404, "user_not_found")
    with app.app_context():
        assert get_db()["accounts"].count_documents({}) == 0


@pytest.mark.parametrize("staff", ["bernie", "audrey"])
def test_open_account_for_staff_is_409(app, client, banker, auditor, staff):
    response = client.post(
        "/banker/accounts",
        headers=banker["headers"],
        json={"username": staff, "kind": "checking"},
    )
    assert_problem(response, 409, "not_a_customer")
    with app.app_context():
        assert get_db()["accounts"].count_documents({}) == 0


def test_open_account_respects_the_account_limit(app, client, banker, customer):
    app.config["MAX_ACCOUNTS_PER_CUSTOMER"] = 2
    body = {"username": "carol", "kind": "checking"}
    first = client.post("/banker/accounts", headers=banker["headers"], json=body)
    assert first.status_code == 201
    second = client.post("/banker/accounts", headers=banker["headers"], json=body)
    assert_problem(second, 409, "account_limit_reached")
    with app.app_context():
        owner = ObjectId(customer["user"]["id"])
        assert AccountModel().count_for_user(owner) == 2
    # The customer's own route shares the same limit.
    own = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert_problem(own, 409, "account_limit_reached")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "savings"}, "username"),
        ({"username": "carol"}, "kind"),
        ({"username": "carol", "kind": "loan"}, "kind"),
        ({"username": "", "kind": "savings"}, "username"),
        ({"username": 5, "kind": "savings"}, "username"),
        ({"username": "carol", "kind": "savings", "primary": True}, "primary"),
    ],
)
def test_open_account_validation(client, banker, customer, body, field):
    response = client.post("/banker/accounts", headers=banker["headers"], json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]


# -- PATCH /banker/accounts/{account_number} ----------------------------------


def test_freeze_and_unfreeze(app, client, banker, customer):
    number = customer["account"]["account_number"]
    response = set_status(client, banker, number, "frozen")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == ACCOUNT_KEYS
    assert body["account_number"] == number and body["status"] == "frozen"
    assert stored_account(app, number)["status"] == "frozen"
    # The same status again is a no-op: 200, nothing recorded.
    again = set_status(client, banker, number, "frozen")
    assert again.status_code == 200 and again.get_json()["status"] == "frozen"
    back = set_status(client, banker, number, "active")
    assert back.status_code == 200 and back.get_json()["status"] == "active"
    assert stored_account(app, number)["status"] == "active"
    changes = [e["details"] for e in admin_entries(app)]
    assert changes == [
        {"from": "active", "to": "frozen"},
        {"from": "frozen", "to": "active"},
    ]


@pytest.mark.parametrize("start", ["active", "frozen"])
def test_close_an_empty_account(app, client, banker, customer, start):
    number = customer["account"]["account_number"]
    if start == "frozen":
        assert set_status(client, banker, number, "frozen").status_code == 200
    response = set_status(client, banker, number, "closed")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "closed"
    assert stored_account(app, number)["status"] == "closed"


@pytest.mark.parametrize("status", ["active", "frozen", "closed"])
def test_a_closed_account_never_reopens(app, client, banker, customer, status):
    number = customer["account"]["account_number"]
    assert set_status(client, banker, number, "closed").status_code == 200
    body = assert_problem(
        set_status(client, banker, number, status), 409, "account_closed"
    )
    assert "never reopens" in body["detail"]
    assert stored_account(app, number)["status"] == "closed"
    assert len(admin_entries(app)) == 1


def test_closing_needs_a_zero_balance(app, client, banker, customer):
    number = customer["account"]["account_number"]
    fund(app, number, 1)
    assert_problem(
        set_status(client, banker, number, "closed"), 409, "account_not_empty"
    )
    assert stored_account(app, number)["status"] == "active"
    assert admin_entries(app) == []


@pytest.mark.parametrize("field", ["pending_entries", "holds"])
def test_closing_needs_nothing_in_flight(app, client, banker, customer, db, field):
    number = customer["account"]["account_number"]
    # A movement applied but not posted, or an incoming transfer's hold: the
    # balance reads 0 but money is on its way.
    in_flight = (
        {"id": ObjectId(), "seq": 1, "balance_after": 0}
        if field == "pending_entries"
        else ObjectId()
    )
    db["accounts"].update_one({"account_number": number}, {"$push": {field: in_flight}})
    assert_problem(
        set_status(client, banker, number, "closed"), 409, "account_not_empty"
    )
    assert stored_account(app, number)["status"] == "active"


def test_a_deposit_that_commits_first_keeps_the_account_open(
    app, client, banker, customer, monkeypatch
):
    number = customer["account"]["account_number"]
    original = AccountModel.change_status

    def deposit_lands_first(self, *args):
        # The read said empty; a deposit commits before the guarded update.
        fund(app, number, 500)
        return original(self, *args)

    monkeypatch.setattr(AccountModel, "change_status", deposit_lands_first)
    assert_problem(
        set_status(client, banker, number, "closed"), 409, "account_not_empty"
    )
    stored = stored_account(app, number)
    assert stored["status"] == "active" and stored["balance_cents"] == 500
    assert admin_entries(app) == []


def test_racing_bankers_apply_one_valid_transition(
    app, client, banker, customer, db, monkeypatch
):
    number = customer["account"]["account_number"]
    original = AccountModel.change_status

    def other_banker_first(self, *args):
        # Another banker freezes the account between our read and our update.
        db["accounts"].update_one(
            {"account_number": number}, {"$set": {"status": "frozen"}}
        )
        return original(self, *args)

    monkeypatch.setattr(AccountModel, "change_status", other_banker_first)
    response = set_status(client, banker, number, "frozen")
    # Our active -> frozen missed (the status was no longer active); the new
    # state already is what was asked, so it is the no-op answer.
    assert response.status_code == 200 and response.get_json()["status"] == "frozen"
    assert admin_entries(app) == []


def test_guarded_update_refuses_a_stale_from_status(app, customer):
    number = customer["account"]["account_number"]
    with app.app_context():
        accounts = AccountModel()
        assert accounts.change_status(number, "frozen", "active") is None
        assert accounts.change_status(number, "active", "frozen")["status"] == "frozen"
        assert accounts.change_status(number, "active", "closed") is None
        assert accounts.change_status(number, "frozen", "closed")["status"] == "closed"
        assert accounts.change_status(number, "closed", "active") is None
        assert accounts.find_by_number(number)["status"] == "closed"


def test_an_account_that_keeps_changing_is_503(
    app, client, banker, customer, monkeypatch
):
    number = customer["account"]["account_number"]
    monkeypatch.setattr(AccountModel, "change_status", lambda self, *args: None)
    assert_problem(set_status(client, banker, number, "frozen"), 503, "ledger_busy")
    assert stored_account(app, number)["status"] == "active"


@pytest.mark.parametrize("number", ["0000000000", "not-a-number", "1" * 40])
def test_status_of_unknown_account_is_404(client, banker, number):
    assert_problem(
        set_status(client, banker, number, "frozen"), 404, "account_not_found"
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "status"),
        ({"status": "open"}, "status"),
        ({"status": "FROZEN"}, "status"),
        ({"status": None}, "status"),
        ({"status": 1}, "status"),
        ({"status": "frozen", "reason": "fraud"}, "reason"),
    ],
)
def test_status_validation(app, client, banker, customer, body, field):
    number = customer["account"]["account_number"]
    response = client.patch(
        f"/banker/accounts/{number}", headers=banker["headers"], json=body
    )
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    assert stored_account(app, number)["status"] == "active"


# -- frozen and closed accounts refuse every movement --------------------------


@pytest.fixture
def subject(app, client, banker, customer, other_customer):
    """Carol's second account, opened by the banker; Dave's account is funded."""
    response = client.post(
        "/banker/accounts",
        headers=banker["headers"],
        json={"username": "carol", "kind": "savings"},
    )
    number = response.get_json()["account_number"]
    dave = other_customer["account"]["account_number"]
    fund(app, dave, 1000)
    return {"number": number, "dave": dave}


def movement(client, customer, other_customer, subject, kind):
    """Send one 1.00 movement touching the subject account."""
    number, dave = subject["number"], subject["dave"]
    if kind == "transfer_in":
        return client.post(
            "/transfers",
            headers=other_customer["headers"],
            json={"amount": "1.00", "to_account_number": number},
        )
    if kind == "transfer_out":
        path = "/transfers"
        body = {"amount": "1.00", "from_account_number": number,
                "to_account_number": dave}  # fmt: skip
    else:
        path = f"/{kind}"
        body = {"amount": "1.00", "account_number": number}
    return client.post(path, headers=customer["headers"], json=body)


MOVEMENTS = ["deposit", "withdraw", "transfer_out", "transfer_in"]
# What each movement does to (subject, dave), in cents.
EFFECT = {
    "deposit": (100, 0),
    "withdraw": (-100, 0),
    "transfer_out": (-100, 100),
    "transfer_in": (100, -100),
}


def assert_nothing_moved(app, subject, before):
    balances, journal = before
    assert (
        balance_cents(app, subject["number"]),
        balance_cents(app, subject["dave"]),
    ) == balances
    assert posted(app) == journal
    account = stored_account(app, subject["number"])
    assert account["pending_entries"] == [] and account["holds"] == []
    with app.app_context():
        assert check_report()["ok"] is True


def snapshot(app, subject):
    balances = (
        balance_cents(app, subject["number"]),
        balance_cents(app, subject["dave"]),
    )
    return balances, posted(app)


@pytest.mark.parametrize("kind", MOVEMENTS)
def test_a_frozen_account_refuses_every_movement_until_unfrozen(
    app, client, banker, customer, other_customer, subject, kind
):
    fund(app, subject["number"], 1000)
    assert set_status(client, banker, subject["number"], "frozen").status_code == 200
    before = snapshot(app, subject)
    response = movement(client, customer, other_customer, subject, kind)
    body = assert_problem(response, 409, "account_frozen")
    assert "frozen" in body["detail"]
    assert_nothing_moved(app, subject, before)
    # Unfreezing restores movements.
    assert set_status(client, banker, subject["number"], "active").status_code == 200
    response = movement(client, customer, other_customer, subject, kind)
    assert response.status_code == 201, response.get_json()
    (mine, dave), _journal = before
    delta_mine, delta_dave = EFFECT[kind]
    assert balance_cents(app, subject["number"]) == mine + delta_mine
    assert balance_cents(app, subject["dave"]) == dave + delta_dave


@pytest.mark.parametrize("kind", MOVEMENTS)
def test_a_closed_account_refuses_every_movement(
    app, client, banker, customer, other_customer, subject, kind
):
    assert set_status(client, banker, subject["number"], "closed").status_code == 200
    before = snapshot(app, subject)
    response = movement(client, customer, other_customer, subject, kind)
    body = assert_problem(response, 409, "account_closed")
    assert "closed" in body["detail"]
    assert_nothing_moved(app, subject, before)


# -- PATCH /banker/users/{user_id} --------------------------------------------


def set_active(client, banker, user_id, active):
    return client.patch(
        f"/banker/users/{user_id}", headers=banker["headers"], json={"active": active}
    )


def test_disabling_a_user_ends_their_sessions(app, client, banker, customer):
    user_id = customer["user"]["id"]
    response = set_active(client, banker, user_id, False)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == USER_KEYS | {"active", "daily_limit"}
    assert body["id"] == user_id and body["active"] is False
    stored = stored_user(app, "carol")
    assert stored["active"] is False
    assert stored["tokens_valid_after"] is not None and stored["session_kept"] is None
    # The live token stops working at once, and so does logging in.
    live = client.get("/balance", headers=customer["headers"])
    assert live.status_code in (401, 403), live.get_json()
    login = client.post("/auth/login", json={"username": "carol", "password": PASSWORD})
    assert_problem(login, 403, "account_disabled")


def test_enabling_a_user_lets_them_in_again_but_not_old_tokens(
    app, client, banker, customer
):
    user_id = customer["user"]["id"]
    assert set_active(client, banker, user_id, False).status_code == 200
    response = set_active(client, banker, user_id, True)
    assert response.status_code == 200 and response.get_json()["active"] is True
    assert stored_user(app, "carol")["active"] is True
    headers = login_headers(client, "carol", PASSWORD)
    assert client.get("/balance", headers=headers).status_code == 200
    # A token from before the disable stays dead after the re-enable.
    old = client.get("/balance", headers=customer["headers"])
    assert old.status_code == 401, old.get_json()
    actions = [(e["action"], e["target"]) for e in admin_entries(app)]
    assert actions == [("user_disabled", user_id), ("user_enabled", user_id)]


def test_disabling_twice_is_a_no_op(app, client, banker, customer):
    user_id = customer["user"]["id"]
    assert set_active(client, banker, user_id, False).status_code == 200
    cutoff = stored_user(app, "carol")["tokens_valid_after"]
    again = set_active(client, banker, user_id, False)
    assert again.status_code == 200 and again.get_json()["active"] is False
    assert stored_user(app, "carol")["tokens_valid_after"] == cutoff
    assert len(admin_entries(app)) == 1


def test_a_banker_cannot_disable_themselves(app, client, banker):
    user_id = str(banker["user"]["_id"])
    assert_problem(
        set_active(client, banker, user_id, False), 409, "cannot_disable_self"
    )
    assert stored_user(app, "bernie")["active"] is True
    # Enabling oneself is harmless: already active, nothing changes.
    response = set_active(client, banker, user_id, True)
    assert response.status_code == 200 and response.get_json()["active"] is True
    assert admin_entries(app) == []


def test_a_banker_can_disable_another_banker(app, client, banker):
    other = make_user(app, "bella", PASSWORD, role="banker")
    headers = auth_headers(app, other)
    response = set_active(client, banker, str(other["_id"]), False)
    assert response.status_code == 200 and response.get_json()["role"] == "banker"
    denied = client.get("/banker/accounts", headers=headers)
    assert denied.status_code in (401, 403)


def test_a_user_gone_before_the_update_is_404(
    app, client, banker, customer, monkeypatch
):
    monkeypatch.setattr(UserModel, "set_active", lambda self, *args: None)
    response = set_active(client, banker, customer["user"]["id"], False)
    assert_problem(response, 404, "user_not_found")
    assert admin_entries(app) == []


def test_set_active_ignores_malformed_and_unknown_ids(app):
    with app.app_context():
        assert UserModel().set_active("nope", False) is None
        assert UserModel().set_active(ObjectId(), False) is None


@pytest.mark.parametrize("user_id", ["65a1b2c3d4e5f60718293a4b", "nope", "0" * 25])
def test_unknown_or_malformed_user_is_404(client, banker, user_id):
    assert_problem(set_active(client, banker, user_id, False), 404, "user_not_found")


@pytest.mark.parametrize(
    "body", [{}, {"active": "false"}, {"active": "true"}, {"active": 0},
             {"active": 1}, {"active": None}, {"active": [False]},
             {"active": False, "role": "banker"}],
)  # fmt: skip
def test_active_must_be_a_json_boolean(app, client, banker, customer, body):
    response = client.patch(
        f"/banker/users/{customer['user']['id']}", headers=banker["headers"], json=body
    )
    assert_problem(response, 422, "validation_error")
    stored = stored_user(app, "carol")
    assert stored["active"] is True and stored["role"] == "customer"
    assert "tokens_valid_after" not in stored


# -- audit ---------------------------------------------------------------------


def test_every_admin_action_leaves_one_audit_entry(app, client, banker, customer):
    carol_id = customer["user"]["id"]
    number = customer["account"]["account_number"]
    steps = [
        (("post", "/banker/staff",
          {"username": "audit2", "password": PASSWORD, "role": "auditor"}),
         "staff_created", lambda body: body["user"]["id"],
         lambda body: {"username": "audit2", "role": "auditor"}),
        (("post", "/banker/customers", {"username": "frank", "password": PASSWORD}),
         "customer_created", lambda body: body["user"]["id"],
         lambda body: {"username": "frank",
                       "account_number": body["account"]["account_number"]}),
        (("post", "/banker/accounts", {"username": "carol", "kind": "savings"}),
         "account_opened", lambda body: body["account_number"],
         lambda body: {"username": "carol", "kind": "savings"}),
        (("patch", f"/banker/accounts/{number}", {"status": "frozen"}),
         "account_status_changed", lambda body: number,
         lambda body: {"from": "active", "to": "frozen"}),
        (("patch", f"/banker/users/{carol_id}", {"active": False}),
         "user_disabled", lambda body: carol_id,
         lambda body: {"username": "carol"}),
        (("patch", f"/banker/users/{carol_id}", {"active": True}),
         "user_enabled", lambda body: carol_id,
         lambda body: {"username": "carol"}),
    ]  # fmt: skip
    for (method, path, payload), action, target, details in steps:
        before = len(admin_entries(app))
        response = send(client, banker, method, path, payload)
        assert response.status_code in (200, 201), response.get_json()
        body = response.get_json()
        entries = admin_entries(app)
        assert len(entries) == before + 1, action
        entry = entries[-1]
        assert entry["action"] == action
        assert entry["actor"] == "bernie"
        assert entry["target"] == target(body)
        assert entry["details"] == details(body)
        assert entry["request_id"] == response.headers["X-Request-ID"]
    assert audit_valid(app)


def test_refused_admin_actions_leave_no_audit_entry(app, client, banker, customer):
    number = customer["account"]["account_number"]
    fund(app, number, 100)
    set_status(client, banker, number, "closed")  # not empty: refused
    set_active(client, banker, str(banker["user"]["_id"]), False)  # self: refused
    client.post(
        "/banker/accounts",
        headers=banker["headers"],
        json={"username": "bernie", "kind": "savings"},
    )  # staff: refused
    assert admin_entries(app) == []


def test_openapi_documents_the_admin_errors(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths["/banker/accounts"]) == {"get", "post"}
    patch_account = paths["/banker/accounts/{account_number}"]["patch"]
    assert {"200", "403", "404", "409", "422"} <= set(patch_account["responses"])
    patch_user = paths["/banker/users/{user_id}"]["patch"]
    assert {"200", "404", "409", "422"} <= set(patch_user["responses"])
    active = client.get("/openapi.json").get_json()["components"]["schemas"][
        "SetUserActive"
    ]["properties"]["active"]
    assert active["type"] == "boolean"
    staff = paths["/banker/staff"]["post"]["requestBody"]["content"]
    role = client.get("/openapi.json").get_json()["components"]["schemas"][
        "CreateStaff"
    ]["properties"]["role"]
    assert (
        role["enum"] == ["banker", "auditor"] and "example" in staff["application/json"]
    )
