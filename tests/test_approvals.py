"""Large movements need a banker (maker-checker): asked over HTTP, decided once.

A withdrawal, or a transfer to someone else's account, of at least
APPROVAL_THRESHOLD answers 202 with an approval and reserves the amount; a
banker approves (it posts, once) or rejects, the customer cancels, the job
expires. Races and crashes are in tests/test_approval_races.py.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId

from app.controllers import approval_rules, spending_rules
from app.core import approvals, scheduled_transfers
from app.core.scheduled_transfers import StandingOrder
from app.db import get_db
from app.models import ledger, utc_now
from app.models.account import AccountModel
from app.models.user import UserModel
from tests.conftest import PASSWORD, register
from tests.factories import auth_headers, balance_cents, fund, make_account, make_user
from tests.helpers import assert_problem

FUNDS = 1_500_000  # 15000.00
ASK = "10000.00"
APPROVAL_KEYS = {
    "id", "status", "kind", "from_account_number", "to_account_number", "amount",
    "currency", "description", "created_at", "expires_at", "decided_by",
    "decided_at", "reason", "transfer_id",
}  # fmt: skip


@pytest.fixture
def auditor(app):
    user = make_user(app, "audrey", PASSWORD, role="auditor")
    return {"user": user, "headers": auth_headers(app, user)}


@pytest.fixture
def funded(app, customer):
    """The customer's account number, holding 15000.00."""
    number = customer["account"]["account_number"]
    fund(app, number, FUNDS)
    return number


def ask_transfer(client, customer, target: str, amount: str = ASK, **extra):
    response = client.post(
        "/transfers",
        headers={**customer["headers"], **extra.pop("headers", {})},
        json={"to_account_number": target, "amount": amount, **extra},
    )
    return response


def asked(client, customer, target: str, **extra) -> dict:
    """Ask for a transfer that needs approval; return the approval."""
    response = ask_transfer(client, customer, target, **extra)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["approval"]


def shown(client, customer, number: str) -> dict:
    response = client.get(f"/accounts/{number}", headers=customer["headers"])
    assert response.status_code == 200
    return response.get_json()


def stored_account(app, number: str) -> dict:
    with app.app_context():
        return AccountModel().find_by_number(number)


def posted(app, number: str, type_: str) -> list[dict]:
    with app.app_context():
        return list(
            get_db()["transactions"].find(
                {"account_number": number, "type": type_, "status": "posted"}
            )
        )


def assert_released(app, number: str) -> None:
    account = stored_account(app, number)
    assert account["reservations"] == []
    assert account["reserved_cents"] == 0


def assert_books_balance(client, banker) -> None:
    check = client.get("/banker/ledger/check", headers=banker["headers"]).get_json()
    assert check["ok"] and check["balanced"], check
    summary = client.get("/banker/ledger/summary", headers=banker["headers"])
    assert summary.get_json()["total"] == "0.00"


def audited(app, approval_id: str) -> list[tuple[str, str | None]]:
    with app.app_context():
        entries = get_db()["audit_log"].find({"target": approval_id})
        return sorted((e["action"], e["actor"]) for e in entries)


def run_job(app, now=None):
    with app.app_context():
        return approvals.run_job(now or utc_now(), spending_rules())


# -- the threshold --------------------------------------------------------------


def test_a_withdrawal_below_the_threshold_moves_at_once(client, customer, funded):
    response = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "9999.99"}
    )
    assert response.status_code == 201
    assert response.get_json()["balance"] == "5000.01"


def test_a_withdrawal_at_the_threshold_waits_and_reserves(
    app, client, customer, funded
):
    response = client.post(
        "/withdraw",
        headers=customer["headers"],
        json={"amount": ASK, "description": "Car"},
    )
    assert response.status_code == 202
    approval = response.get_json()["approval"]
    assert set(approval) == APPROVAL_KEYS
    assert approval["status"] == "pending_approval"
    assert approval["kind"] == "withdrawal"
    assert approval["from_account_number"] == funded
    assert approval["to_account_number"] is None
    assert approval["amount"] == ASK and approval["currency"] == "USD"
    assert approval["description"] == "Car"
    for key in ("decided_by", "decided_at", "reason", "transfer_id"):
        assert approval[key] is None
    created = approval["created_at"]
    assert approval["expires_at"] > created
    account = shown(client, customer, funded)
    assert account["balance"] == "15000.00"
    assert account["available_balance"] == "5000.00"
    assert posted(app, funded, "withdrawal") == []
    assert audited(app, approval["id"]) == [("approval_requested", "carol")]


def test_a_transfer_to_another_customer_waits(
    app, client, customer, other_customer, funded
):
    theirs = other_customer["account"]["account_number"]
    approval = asked(client, customer, theirs, description="Rent")
    assert approval["kind"] == "transfer"
    assert approval["to_account_number"] == theirs
    assert balance_cents(app, theirs) == 0
    assert shown(client, customer, funded)["available_balance"] == "5000.00"


def test_a_transfer_below_the_threshold_to_another_customer_moves_at_once(
    client, customer, other_customer, funded
):
    theirs = other_customer["account"]["account_number"]
    assert ask_transfer(client, customer, theirs, "9999.99").status_code == 201


def test_a_transfer_to_the_customers_own_account_moves_at_once(
    app, client, customer, funded
):
    savings = make_account(app, user_of(app, customer), kind="savings")
    response = ask_transfer(client, customer, savings["account_number"], "12000.00")
    assert response.status_code == 201
    assert balance_cents(app, savings["account_number"]) == 1_200_000


def user_of(app, customer) -> dict:
    with app.app_context():
        return UserModel().find_by_id(customer["user"]["id"])


def test_a_payee_above_the_threshold_waits(
    app, client, customer, other_customer, funded
):
    theirs = other_customer["account"]["account_number"]
    payee = client.post(
        "/payees",
        headers=customer["headers"],
        json={"account_number": theirs, "name": "dave"},
    ).get_json()
    response = client.post(
        "/transfers",
        headers=customer["headers"],
        json={"payee_id": payee["id"], "amount": ASK},
    )
    assert response.status_code == 202
    assert response.get_json()["approval"]["to_account_number"] == theirs


def test_the_threshold_is_a_setting(app, client, customer, other_customer, funded):
    app.config["APPROVAL_THRESHOLD"] = Decimal("100.00")
    theirs = other_customer["account"]["account_number"]
    assert ask_transfer(client, customer, theirs, "99.99").status_code == 201
    assert ask_transfer(client, customer, theirs, "100.00").status_code == 202


@pytest.mark.parametrize(
    "target, status, code",
    [
        ("0000000000", 404, "account_not_found"),  # no such account
        ("frozen", 409, "account_frozen"),  # refused as any transfer is
    ],
)
def test_a_large_transfer_to_an_account_that_cannot_take_it_is_refused_as_usual(
    app, client, customer, other_customer, funded, target, status, code
):
    theirs = other_customer["account"]["account_number"]
    if target == "frozen":
        with app.app_context():
            get_db()["accounts"].update_one(
                {"account_number": theirs}, {"$set": {"status": "frozen"}}
            )
        target = theirs
    assert_problem(ask_transfer(client, customer, target), status, code)
    assert_released(app, funded)
    with app.app_context():
        assert get_db()["approvals"].count_documents({}) == 0


def test_more_than_the_available_balance_is_refused_and_leaves_nothing(
    app, client, customer, other_customer, funded
):
    theirs = other_customer["account"]["account_number"]
    problem = assert_problem(
        ask_transfer(client, customer, theirs, "15000.01"), 409, "insufficient_funds"
    )
    assert "15000.00" in problem["detail"]
    asked(client, customer, theirs)
    # The second one finds only 5000.00 available.
    problem = assert_problem(ask_transfer(client, customer, theirs), 409,
                             "insufficient_funds")  # fmt: skip
    assert "balance 5000.00" in problem["detail"]
    with app.app_context():
        assert get_db()["approvals"].count_documents({}) == 1


def test_reserved_money_cannot_be_spent_but_the_rest_can(
    app, client, customer, other_customer, funded
):
    asked(client, customer, other_customer["account"]["account_number"])
    too_much = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "5000.01"}
    )
    assert_problem(too_much, 409, "insufficient_funds")
    fits = client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "5000.00"}
    )
    assert fits.status_code == 201
    assert fits.get_json()["balance"] == "10000.00"
    account = shown(client, customer, funded)
    assert account["available_balance"] == "0.00"


# -- approve ----------------------------------------------------------------------


def test_approve_posts_the_transfer_once(
    app, client, customer, other_customer, banker, funded
):
    theirs = other_customer["account"]["account_number"]
    approval = asked(client, customer, theirs)
    response = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    )
    assert response.status_code == 200
    done = response.get_json()
    assert done["status"] == "posted"
    assert done["decided_by"] == "bernie" and done["decided_at"]
    assert done["owner"]["username"] == "carol"
    assert balance_cents(app, funded) == FUNDS - 1_000_000
    assert balance_cents(app, theirs) == 1_000_000
    assert_released(app, funded)
    out, = posted(app, funded, "transfer_out")  # fmt: skip
    assert str(out["transfer_id"]) == done["transfer_id"]
    assert len(posted(app, theirs, "transfer_in")) == 1
    again = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    )
    problem = assert_problem(again, 409, "approval_not_pending")
    assert problem["approval_status"] == "posted"
    assert len(posted(app, funded, "transfer_out")) == 1
    assert_books_balance(client, banker)
    # The customer sees it posted, with the transfer in their history.
    mine = client.get("/approvals", headers=customer["headers"]).get_json()
    assert [a["status"] for a in mine["items"]] == ["posted"]
    history = client.get("/transactions", headers=customer["headers"]).get_json()
    assert history["items"][0]["type"] == "transfer_out"
    assert audited(app, approval["id"]) == [
        ("approval_approved", "bernie"), ("approval_requested", "carol"),
    ]  # fmt: skip


def test_approve_posts_a_withdrawal_counted_against_the_daily_limit_then(
    app, client, customer, banker, funded
):
    response = client.post("/withdraw", headers=customer["headers"],
                           json={"amount": ASK})  # fmt: skip
    approval = response.get_json()["approval"]
    limits = client.get("/limits", headers=customer["headers"]).get_json()
    assert limits["used_today"] == "0.00"  # asking counts nothing
    done = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    ).get_json()
    assert done["status"] == "posted"
    withdrawal, = posted(app, funded, "withdrawal")  # fmt: skip
    assert str(withdrawal["_id"]) == done["transfer_id"]
    assert balance_cents(app, funded) == FUNDS - 1_000_000
    limits = client.get("/limits", headers=customer["headers"]).get_json()
    assert limits["used_today"] == ASK
    assert_released(app, funded)
    assert_books_balance(client, banker)


def test_an_approval_over_the_daily_limit_fails_and_releases(
    app, client, customer, other_customer, banker, funded
):
    client.post("/withdraw", headers=customer["headers"], json={"amount": "0.01"})
    approval = asked(client, customer, other_customer["account"]["account_number"])
    done = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    ).get_json()
    assert done["status"] == "failed"
    assert done["reason"] == "daily_limit_exceeded"
    assert balance_cents(app, funded) == FUNDS - 1
    assert_released(app, funded)
    assert ("approval_failed", "bernie") in audited(app, approval["id"])


@pytest.mark.parametrize(
    "side, status, reason",
    [
        ("target", "frozen", "account_frozen"),
        ("target", "closed", "account_closed"),
        ("source", "frozen", "account_frozen"),
    ],
)
def test_a_movement_that_became_impossible_fails_and_releases(
    app, client, customer, other_customer, banker, funded, side, status, reason
):
    theirs = other_customer["account"]["account_number"]
    approval = asked(client, customer, theirs)
    number = theirs if side == "target" else funded
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$set": {"status": status}}
        )
    done = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    ).get_json()
    assert done["status"] == "failed" and done["reason"] == reason
    assert done["transfer_id"] is None
    assert balance_cents(app, funded) == FUNDS
    assert balance_cents(app, theirs) == 0
    assert_released(app, funded)


def test_an_approval_whose_reservation_is_gone_fails_without_moving(
    app, client, customer, other_customer, banker, funded
):
    """As after a request that stopped between its two writes and was released."""
    approval = asked(client, customer, other_customer["account"]["account_number"])
    with app.app_context():
        account = AccountModel().find_by_number(funded)
        assert ledger.release(account["_id"], ObjectId(approval["id"]), 1_000_000)
    done = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    ).get_json()
    assert done["status"] == "failed" and done["reason"] == "reservation_missing"
    assert balance_cents(app, funded) == FUNDS


# -- reject, cancel, expire -------------------------------------------------------


def test_reject_releases_with_the_bankers_reason(
    app, client, customer, other_customer, banker, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    response = client.post(
        f"/banker/approvals/{approval['id']}/reject",
        headers=banker["headers"],
        json={"reason": "Not confirmed"},
    )
    assert response.status_code == 200
    done = response.get_json()
    assert done["status"] == "rejected" and done["reason"] == "Not confirmed"
    assert done["decided_by"] == "bernie"
    assert_released(app, funded)
    assert shown(client, customer, funded)["available_balance"] == "15000.00"
    again = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    )
    assert assert_problem(again, 409, "approval_not_pending")["approval_status"] == (
        "rejected"
    )
    assert ("approval_rejected", "bernie") in audited(app, approval["id"])


@pytest.mark.parametrize(
    "body, field", [({}, "reason"), ({"reason": ""}, "reason"),
                    ({"reason": "x" * 501}, "reason"),
                    ({"reason": "ok", "extra": 1}, "extra")],
)  # fmt: skip
def test_reject_needs_a_reason(
    client, customer, other_customer, banker, funded, body, field
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    response = client.post(
        f"/banker/approvals/{approval['id']}/reject",
        headers=banker["headers"],
        json=body,
    )
    assert field in assert_problem(response, 422, "validation_error")["errors"]


def test_cancel_releases_and_only_the_owner_may(
    app, client, customer, other_customer, banker, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    path = f"/approvals/{approval['id']}/cancel"
    assert_problem(client.post(path, headers=other_customer["headers"]), 404,
                   "approval_not_found")  # fmt: skip
    response = client.post(path, headers=customer["headers"])
    assert response.status_code == 200
    done = response.get_json()
    assert done["status"] == "cancelled" and done["decided_by"] == "carol"
    assert_released(app, funded)
    assert_problem(client.post(path, headers=customer["headers"]), 409,
                   "approval_not_pending")  # fmt: skip
    assert ("approval_cancelled", "carol") in audited(app, approval["id"])


def test_the_job_expires_what_nobody_decided_and_releases(
    app, client, customer, other_customer, banker, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    assert run_job(app).done == 0  # not yet expired
    later = utc_now() + timedelta(seconds=app.config["APPROVAL_TTL_SECONDS"] + 1)
    assert run_job(app, later).done == 1  # expired, its reservation released
    mine = client.get("/approvals", headers=customer["headers"]).get_json()
    assert mine["items"][0]["status"] == "expired"
    assert mine["items"][0]["decided_by"] is None
    assert_released(app, funded)
    assert ("approval_expired", None) in audited(app, approval["id"])
    again = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    )
    assert assert_problem(again, 409, "approval_not_pending")["approval_status"] == (
        "expired"
    )


def test_flask_jobs_run_due_at_a_later_time_expires_it(
    app, client, customer, other_customer, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    later = (utc_now() + timedelta(days=2)).isoformat()
    result = app.test_cli_runner().invoke(args=["jobs", "run-due", "--at", later])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert get_db()["approvals"].find_one()["status"] == "expired"
    assert_released(app, funded)
    assert approval["id"]


def test_approving_one_past_its_expiry_expires_it_instead(
    app, client, customer, other_customer, banker, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    with app.app_context():
        get_db()["approvals"].update_one(
            {}, {"$set": {"expires_at": utc_now() - timedelta(seconds=1)}}
        )
    response = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    )
    assert assert_problem(response, 409, "approval_not_pending")[
        "approval_status"
    ] == "expired"  # fmt: skip
    assert_released(app, funded)
    assert balance_cents(app, funded) == FUNDS


def test_the_ttl_is_a_setting(app, client, customer, other_customer, funded):
    app.config["APPROVAL_TTL_SECONDS"] = 60
    approval = asked(client, customer, other_customer["account"]["account_number"])
    with app.app_context():
        stored = get_db()["approvals"].find_one()
    assert stored["expires_at"] - stored["created_at"] == timedelta(seconds=60)
    assert run_job(app, utc_now() + timedelta(seconds=61)).done == 1
    assert approval["status"] == "pending_approval"


# -- who sees what ----------------------------------------------------------------


def test_customers_see_only_their_own(
    app, client, customer, other_customer, banker, funded
):
    theirs = other_customer["account"]["account_number"]
    fund(app, theirs, FUNDS)
    mine = asked(client, customer, theirs)
    other = asked(client, other_customer, funded)
    listed = client.get("/approvals", headers=customer["headers"]).get_json()
    assert [a["id"] for a in listed["items"]] == [mine["id"]]
    assert "owner" not in listed["items"][0]
    assert_problem(
        client.post(f"/approvals/{other['id']}/cancel", headers=customer["headers"]),
        404, "approval_not_found",
    )  # fmt: skip


@pytest.mark.parametrize("approval_id", ["nope", "0123456789abcdef01234567"])
def test_an_unknown_or_malformed_id_is_404(client, customer, banker, approval_id):
    for path, who in [
        (f"/approvals/{approval_id}/cancel", customer),
        (f"/banker/approvals/{approval_id}/approve", banker),
    ]:
        assert_problem(client.post(path, headers=who["headers"]), 404,
                       "approval_not_found")  # fmt: skip
    response = client.post(
        f"/banker/approvals/{approval_id}/reject",
        headers=banker["headers"],
        json={"reason": "No"},
    )
    assert_problem(response, 404, "approval_not_found")


def test_an_auditor_reads_but_cannot_decide(
    app, client, customer, other_customer, auditor, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    listed = client.get("/banker/approvals", headers=auditor["headers"])
    assert listed.status_code == 200
    item, = listed.get_json()["items"]  # fmt: skip
    assert item["owner"] == {"id": customer["user"]["id"], "username": "carol"}
    for action, body in (("approve", None), ("reject", {"reason": "No"})):
        response = client.post(f"/banker/approvals/{approval['id']}/{action}",
                               headers=auditor["headers"], json=body)  # fmt: skip
        assert_problem(response, 403, "forbidden")
    assert_problem(client.get("/banker/approvals", headers=customer["headers"]),
                   403, "forbidden")  # fmt: skip
    assert_problem(client.get("/approvals", headers=auditor["headers"]), 403,
                   "forbidden")  # fmt: skip
    with app.app_context():
        assert get_db()["approvals"].find_one()["status"] == "pending_approval"


def test_the_banker_list_filters_by_status_and_pages(
    app, client, customer, other_customer, banker, funded
):
    fund(app, funded, 2 * FUNDS)
    theirs = other_customer["account"]["account_number"]
    first, second, third = (asked(client, customer, theirs) for _ in range(3))
    client.post(f"/approvals/{first['id']}/cancel", headers=customer["headers"])
    listed = client.get(
        "/banker/approvals", headers=banker["headers"],
        query_string={"status": "pending_approval"},
    ).get_json()  # fmt: skip
    assert [a["id"] for a in listed["items"]] == [third["id"], second["id"]]
    cancelled = client.get(
        "/banker/approvals", headers=banker["headers"],
        query_string={"status": "cancelled"},
    ).get_json()  # fmt: skip
    assert [a["id"] for a in cancelled["items"]] == [first["id"]]
    page = client.get("/banker/approvals", headers=banker["headers"],
                      query_string={"limit": 2}).get_json()  # fmt: skip
    assert page["next_cursor"]
    rest = client.get(
        "/banker/approvals", headers=banker["headers"],
        query_string={"limit": 2, "cursor": page["next_cursor"]},
    ).get_json()  # fmt: skip
    assert [a["id"] for a in rest["items"]] == [first["id"]]
    bad = client.get("/banker/approvals", headers=banker["headers"],
                     query_string={"status": "approving"})  # fmt: skip
    assert_problem(bad, 422, "validation_error")


def test_an_approval_being_posted_shows_as_pending(
    app, client, customer, other_customer, banker, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    with app.app_context():
        get_db()["approvals"].update_one({}, {"$set": {"status": "approving"}})
    listed = client.get(
        "/banker/approvals", headers=banker["headers"],
        query_string={"status": "pending_approval"},
    ).get_json()  # fmt: skip
    assert [a["status"] for a in listed["items"]] == ["pending_approval"]
    response = client.post(f"/approvals/{approval['id']}/cancel",
                           headers=customer["headers"])  # fmt: skip
    problem = assert_problem(response, 409, "approval_not_pending")
    assert problem["detail"] == "The approval was approved and is being posted."


# -- Idempotency-Key --------------------------------------------------------------


def test_a_keyed_retry_replays_the_202_and_asks_once(
    app, client, customer, other_customer, funded
):
    theirs = other_customer["account"]["account_number"]
    key = {"Idempotency-Key": "large-1"}
    first = ask_transfer(client, customer, theirs, headers=key)
    again = ask_transfer(client, customer, theirs, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotency-Replayed"] == "true"
    with app.app_context():
        assert get_db()["approvals"].count_documents({}) == 1
    assert stored_account(app, funded)["reserved_cents"] == 1_000_000
    other = ask_transfer(client, customer, theirs, "10000.01", headers=key)
    assert_problem(other, 422, "idempotency_key_reused")


# -- what needs no approval -------------------------------------------------------


def test_a_scheduled_transfer_at_the_threshold_waits_for_a_banker_too(
    app, customer, other_customer, funded
):
    """A standing order is the customer's transfer: paid by the job runner, its
    large occurrence asks for approval as the same transfer by hand does (the
    whole story in test_scheduled_approvals)."""
    theirs = other_customer["account"]["account_number"]
    today = utc_now().date()
    with app.app_context():
        owner = UserModel().find_by_id(customer["user"]["id"])
        scheduled_transfers.place(
            owner,
            StandingOrder(cents=1_000_000, start_date=today, to_account_number=theirs),
            currency="USD",
            today=today,
        )
        paid = scheduled_transfers.pay_due(utc_now(), "UTC", approval_rules())
    assert paid.done == 1
    assert balance_cents(app, theirs) == 0
    with app.app_context():
        asked = list(get_db()["approvals"].find({}))
    assert [(a["status"], a["amount_cents"]) for a in asked] == [
        ("pending_approval", 1_000_000)
    ]


def test_a_goal_deposit_above_the_threshold_needs_no_approval(
    app, client, customer, funded
):
    goal = client.post("/goals", headers=customer["headers"],
                       json={"name": "House"}).get_json()  # fmt: skip
    saved = client.post(f"/goals/{goal['id']}/deposits", headers=customer["headers"],
                        json={"amount": "12000.00"})  # fmt: skip
    assert saved.status_code == 201


def test_a_customer_disabled_meanwhile_fails_the_approval(
    app, client, customer, other_customer, banker, funded
):
    approval = asked(client, customer, other_customer["account"]["account_number"])
    with app.app_context():
        get_db()["users"].update_one({"username": "carol"}, {"$set": {"active": False}})
    done = client.post(
        f"/banker/approvals/{approval['id']}/approve", headers=banker["headers"]
    ).get_json()
    assert done["status"] == "failed" and done["reason"] == "customer_disabled"
    assert_released(app, funded)


def test_a_new_customer_has_no_approvals(client):
    """A fresh customer has nothing to approve."""
    fresh = register(client, "erin")
    assert client.get("/approvals", headers=fresh["headers"]).get_json() == {
        "items": [], "next_cursor": None,
    }  # fmt: skip
