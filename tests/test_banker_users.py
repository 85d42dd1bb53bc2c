"""The bankers' directory: GET /banker/users (by username, filtered, paged) and
GET /banker/users/{user_id} with the user's accounts."""

import json
from datetime import timedelta

import pytest

from app.models import utc_now
from app.models.user import UserModel
from tests import query_recorder as qr
from tests.conftest import PASSWORD, register
from tests.factories import auth_headers, fund, make_account, make_user
from tests.helpers import assert_problem, url_quote

SECRETS = ("password", "hash", "scrypt", "ended_sessions", "tokens_valid_after",
           "session_kept", "reset", "notification_preferences")  # fmt: skip


def ok(response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def users(client, headers, **query) -> dict:
    return ok(client.get("/banker/users", headers=headers, query_string=query))


def names(page: dict) -> list[str]:
    return [item["username"] for item in page["items"]]


@pytest.fixture
def bank(app, client, banker, auditor):
    """carol (checking, savings and a goal), dave, the banker and the auditor."""
    carol = register(client, "carol")
    dave = register(client, "dave")
    with app.app_context():
        carol_user = UserModel().find_by_username("carol")
    make_account(app, carol_user, kind="savings")
    fund(app, carol["account"]["account_number"], 5_000)
    ok(client.post("/goals", headers=carol["headers"], json={"name": "Bike"}), 201)
    return {"carol": carol, "dave": dave, "banker": banker, "auditor": auditor}


def test_the_directory_lists_every_user_by_username(client, bank):
    page = users(client, bank["auditor"]["headers"])
    assert names(page) == ["audrey", "bernie", "carol", "dave"]
    assert page["next_cursor"] is None
    carol = page["items"][2]
    assert set(carol) == {
        "id", "username", "role", "full_name", "email", "phone", "active",
        "created_at", "last_login_at", "accounts", "daily_limit",
    }  # fmt: skip
    assert carol["id"] == bank["carol"]["user"]["id"]
    assert carol["role"] == "customer" and carol["active"] is True
    assert carol["accounts"] == 2  # checking and savings; a goal is listed as a goal
    assert carol["last_login_at"].endswith("Z")  # register logs in
    staff = page["items"][0]
    assert staff["accounts"] == 0 and staff["last_login_at"] is None


def test_the_directory_never_shows_a_secret(client, bank):
    text = json.dumps(users(client, bank["banker"]["headers"])).lower()
    detail = client.get(
        f"/banker/users/{bank['carol']['user']['id']}",
        headers=bank["banker"]["headers"],
    ).get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in text and secret not in detail.lower()
    assert PASSWORD.lower() not in text


def test_pages_follow_the_cursor_without_gaps_or_repeats(app, client, banker):
    for n in range(7):
        make_user(app, f"user{n:02d}", PASSWORD)
    seen, query = [], {"limit": 3}
    while True:
        page = users(client, banker["headers"], **query)
        seen += names(page)
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert seen == ["bernie", *(f"user{n:02d}" for n in range(7))]


def test_role_active_and_prefix_filter_the_list(app, client, bank):
    headers = bank["banker"]["headers"]
    with app.app_context():
        UserModel().set_active(UserModel().find_by_username("dave")["_id"], False)
    assert names(users(client, headers, role="customer")) == ["carol", "dave"]
    assert names(users(client, headers, role="auditor")) == ["audrey"]
    assert names(users(client, headers, active="false")) == ["dave"]
    assert names(users(client, headers, active="true", role="customer")) == ["carol"]
    assert names(users(client, headers, q="CA")) == ["carol"]  # any case
    # A prefix: anchored at the start of the username.
    assert names(users(client, headers, q="ar")) == []
    assert names(users(client, headers, q="d", active="false")) == ["dave"]


@pytest.mark.parametrize("q", [".*", "^", "a|b", "(", "[a-z]", "\\", "$ne"])
def test_a_prefix_is_text_never_a_pattern(client, bank, q):
    assert names(users(client, bank["banker"]["headers"], q=q)) == []


def test_a_user_stored_before_the_active_flag_counts_as_active(app, client, banker):
    user = make_user(app, "olduser", PASSWORD)
    with app.app_context():
        UserModel().collection.update_one(
            {"_id": user["_id"]}, {"$unset": {"active": ""}}
        )
    assert "olduser" in names(users(client, banker["headers"], active="true"))
    assert "olduser" not in names(users(client, banker["headers"], active="false"))


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "dXNlcg"}, "cursor"),  # "user" without its username
        ({"role": "king"}, "role"),
        ({"active": "yes"}, "active"),
        ({"active": "1"}, "active"),
        ({"q": ""}, "q"),
        ({"q": "x" * 33}, "q"),
        ({"q": "a\u202eb"}, "q"),
        ({"sort": "username"}, "sort"),
    ],
)
def test_bad_filters_are_422_naming_the_field(client, banker, query, field):
    response = client.get(
        "/banker/users?" + "&".join(f"{k}={url_quote(v)}" for k, v in query.items()),
        headers=banker["headers"],
    )
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == [field]


def test_one_user_is_shown_with_their_accounts(client, bank):
    carol = bank["carol"]
    body = ok(
        client.get(
            f"/banker/users/{carol['user']['id']}", headers=bank["auditor"]["headers"]
        )
    )
    assert body["username"] == "carol"
    kinds = sorted(account["kind"] for account in body["accounts"])
    assert kinds == ["checking", "savings"]
    checking = next(a for a in body["accounts"] if a["kind"] == "checking")
    assert checking["account_number"] == carol["account"]["account_number"]
    assert checking["balance"] == checking["available_balance"] == "50.00"
    assert set(checking) == {
        "account_number", "balance", "available_balance", "currency", "kind",
        "primary", "status", "created_at",
    }  # fmt: skip


def test_a_staff_member_holds_no_accounts(client, bank):
    auditor = bank["auditor"]["user"]
    body = ok(
        client.get(f"/banker/users/{auditor['_id']}", headers=bank["banker"]["headers"])
    )
    assert body["role"] == "auditor" and body["accounts"] == []


@pytest.mark.parametrize(
    "user_id", ["0" * 24, "nope", "6b10636ebb601d090e38da2", "%00"]
)
def test_an_unknown_or_malformed_user_is_404(client, banker, user_id):
    response = client.get(f"/banker/users/{user_id}", headers=banker["headers"])
    assert_problem(response, 404, "user_not_found")


def test_customers_are_refused_and_anonymous_callers_need_a_token(client, customer):
    for path in ("/banker/users", f"/banker/users/{customer['user']['id']}"):
        assert_problem(client.get(path, headers=customer["headers"]), 403, "forbidden")
        assert_problem(client.get(path), 401, "token_missing")


def test_last_login_is_kept_at_login_and_never_moves_back(app, client, customer):
    user_id = customer["user"]["id"]
    with app.app_context():
        first = UserModel().find_by_id(user_id)["last_login_at"]
        assert first is not None
        UserModel().note_login(
            UserModel().find_by_id(user_id)["_id"], first - timedelta(days=1)
        )
        assert UserModel().find_by_id(user_id)["last_login_at"] == first
    later = utc_now()
    client.post("/auth/login", json={"username": "carol", "password": PASSWORD})
    with app.app_context():
        signed_in = UserModel().find_by_id(user_id)["last_login_at"]
    assert signed_in >= later
    # A failed login is not a login.
    client.post("/auth/login", json={"username": "carol", "password": "wrong-1"})
    with app.app_context():
        kept = UserModel().find_by_id(user_id)["last_login_at"]
    assert kept == signed_in
    banker = auth_headers(app, make_user(app, "bernie", PASSWORD, role="banker"))
    shown = ok(client.get(f"/banker/users/{user_id}", headers=banker))
    assert shown["last_login_at"] == kept.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def test_a_page_costs_the_same_round_trips_however_many_users_it_holds(
    app, client, banker
):
    def trips(limit: int) -> list[str]:
        recording = qr.install(app)
        users(client, banker["headers"], limit=limit)
        return [query.describe() for query in recording.queries]

    for n in range(12):
        customer = make_user(app, f"cust{n:02d}", PASSWORD)
        make_account(app, customer, kind="savings")
    one, twelve = trips(1), trips(13)
    # The caller, the page of users, one aggregation counting their accounts.
    assert len(one) == len(twelve) == 3, twelve
    assert one == twelve
