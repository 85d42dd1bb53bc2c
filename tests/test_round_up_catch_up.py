"""Round-ups a dead request never made are made by the job runner, once."""

from datetime import timedelta

from app.core import jobs, movements, roundups
from app.core.movements import Caller, TransferOrder, Withdrawal
from app.db import get_db
from app.models.user import UserModel
from tests.factories import balance_cents, fund

OVERLAP = timedelta(minutes=3)


def goal_with_round_ups(client, customer) -> dict:
    response = client.post(
        "/goals", headers=customer["headers"], json={"name": "Jar", "round_up": True}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def spend_without_round_up(app, customer, cents: int, to: str | None = None):
    """Post spending through the ledger alone, as a request that died right
    after its movement would leave it: no round-up made."""
    with app.app_context():
        user = UserModel().find_by_id(customer["user"]["id"])
        if to is None:
            return movements.withdraw(Caller(user), Withdrawal(cents), currency="USD")
        order = TransferOrder(to_account_number=to, cents=cents)
        return movements.transfer(Caller(user), order, currency="USD")


def catch_up(app) -> int:
    with app.app_context():
        return roundups.catch_up(OVERLAP, currency="USD", stale_after=timedelta(0))


def test_the_sweep_makes_each_missed_round_up_once(
    app, client, customer, other_customer
):
    fund(app, customer["account"]["account_number"], 10_000)
    goal = goal_with_round_ups(client, customer)
    spend_without_round_up(app, customer, 1_234)  # 0.66 to round up
    spend_without_round_up(
        app, customer, 250, to=other_customer["account"]["account_number"]
    )  # 0.50
    assert balance_cents(app, goal["account_number"]) == 0
    assert catch_up(app) == 2
    assert balance_cents(app, goal["account_number"]) == 66 + 50
    assert catch_up(app) == 0  # already made: the work key is done
    assert balance_cents(app, goal["account_number"]) == 116


def test_a_round_up_made_inline_is_not_made_again(app, client, customer):
    fund(app, customer["account"]["account_number"], 10_000)
    goal = goal_with_round_ups(client, customer)
    assert client.post(
        "/withdraw", headers=customer["headers"], json={"amount": "1.01"}
    ).status_code == 201
    assert balance_cents(app, goal["account_number"]) == 99
    assert catch_up(app) == 0
    assert balance_cents(app, goal["account_number"]) == 99


def test_spending_before_the_round_ups_were_asked_for_is_not_rounded(
    app, client, customer
):
    fund(app, customer["account"]["account_number"], 10_000)
    spend_without_round_up(app, customer, 1_001)
    goal = goal_with_round_ups(client, customer)
    assert catch_up(app) == 0
    assert balance_cents(app, goal["account_number"]) == 0


def test_moves_between_own_accounts_are_not_rounded(app, client, customer):
    fund(app, customer["account"]["account_number"], 10_000)
    goal = goal_with_round_ups(client, customer)
    savings = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    spend_without_round_up(app, customer, 333, to=savings)
    assert catch_up(app) == 0
    assert balance_cents(app, goal["account_number"]) == 0


def test_the_job_runner_runs_the_sweep(app, client, customer):
    fund(app, customer["account"]["account_number"], 10_000)
    goal = goal_with_round_ups(client, customer)
    spend_without_round_up(app, customer, 1_290)
    result = app.test_cli_runner().invoke(args=["jobs", "run-due"])
    assert "round_ups: 1 done, 0 failed" in result.output, result.output
    assert balance_cents(app, goal["account_number"]) == 10
    with app.app_context():
        assert get_db()["feeds"].find_one({"_id": roundups.FEED}) is not None
    assert "round_ups" in jobs.JOBS
