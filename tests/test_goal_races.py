"""Goals under parallel requests through a threaded server: contributions racing a
close, parallel closes, the goal limit and the round-up flag, round-ups of one
movement. Every cent ends in exactly one place."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from bson import ObjectId

from app.controllers.ledger import check_report
from app.core import goals as goal_cases
from app.core import movements, roundups
from app.core.errors import AccountBusy, DomainError
from app.core.goals import GoalRules, NewGoal
from app.core.movements import Caller, TransferOrder, Withdrawal
from app.db import get_db
from app.models.account import AccountModel
from app.models.goal import GoalModel
from app.models.user import UserModel
from tests.factories import balance_cents, fund
from tests.helpers import call

FUNDED = 100_000
SAVED = 10_000
# How often one racing DELETE retries after ledger_busy before the test gives up.
DELETE_TRIES = 200
# How many requests one racing contributor sends at most (it stops when refused).
CONTRIBUTIONS = 8


def check(app) -> dict:
    with app.app_context():
        return check_report()


def open_goal(server, customer, **body) -> dict:
    status, goal = call(server, "POST", "/goals", customer["headers"],
                        {"name": "Race", **body})  # fmt: skip
    assert status == 201, goal
    return goal


def close_until_done(server, customer, goal, start=None) -> list[tuple[int, dict]]:
    """DELETE until it answers 200 (retrying on 503 ledger_busy, as a client
    would); return every answer."""
    if start is not None:
        start.wait(10)
    answers = []
    for _try in range(DELETE_TRIES):
        status, body = call(server, "DELETE", f"/goals/{goal['id']}",
                            customer["headers"], {})  # fmt: skip
        answers.append((status, body))
        if status != 503:
            break
        assert body["code"] == "ledger_busy", body
    return answers


def refunds_of(app, goal) -> list[dict]:
    with app.app_context():
        return list(
            get_db()["transactions"].find(
                {"account_number": goal["account_number"], "type": "transfer_out",
                 "status": "posted", "description": {"$regex": "^Goal closed"}}
            )
        )  # fmt: skip


@pytest.fixture
def saver(app, server, customer):
    """A customer with 900.00 on the primary and 100.00 in a goal."""
    fund(app, customer["account"]["account_number"], FUNDED)
    goal = open_goal(server, customer, round_up=True)
    status, body = call(server, "POST", f"/goals/{goal['id']}/deposits",
                        customer["headers"], {"amount": "100.00"})  # fmt: skip
    assert status == 201, body
    return customer, goal


@pytest.mark.parametrize("run", range(5))
def test_contributions_racing_a_close_end_in_exactly_one_place(
    app, server, saver, fast_switching, run
):
    """24 requests at once: goal deposits, the owner's plain transfers into the
    goal, goal withdrawals, spending that rounds up, and four DELETEs. Each
    contribution either landed and was refunded, or was refused and never left."""
    customer, goal = saver
    primary = customer["account"]["account_number"]
    headers = customer["headers"]
    jobs = (
        [("deposit", 100 + n) for n in range(6)]
        + [("transfer", 200 + n) for n in range(8)]
        + [("withdrawal", 300 + n) for n in range(3)]
        + [("spend", 411 + n) for n in range(3)]
        + [("close", 0)] * 4
    )
    start = threading.Barrier(len(jobs))
    flowing = threading.Event()  # set once money is arriving: then the closes go

    def one(job):
        kind, cents = job
        amount = f"{cents // 100}.{cents % 100:02d}"
        if kind == "close":
            start.wait(10)
            flowing.wait(10)
            return kind, cents, close_until_done(server, customer, goal)
        start.wait(10)
        path, body = {
            "deposit": (f"/goals/{goal['id']}/deposits", {"amount": amount}),
            "transfer": ("/transfers", {"to_account_number": goal["account_number"],
                                        "amount": amount}),
            "withdrawal": (f"/goals/{goal['id']}/withdrawals", {"amount": amount}),
            "spend": ("/withdraw", {"amount": amount}),
        }[kind]  # fmt: skip
        # Each contributor keeps going until it is refused (at most
        # CONTRIBUTIONS times), so money keeps arriving while the closes run.
        answers = []
        for _n in range(CONTRIBUTIONS):
            answers.append(call(server, "POST", path, headers, body))
            flowing.set()
            if answers[-1][0] != 201:
                break
        return kind, cents, answers

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(one, jobs))
    final = close_until_done(server, customer, goal)[-1]
    assert final[0] == 200, final

    into_goal = 0  # what reached the goal from the primary, net
    spent = 0
    for kind, cents, answers in results:
        if kind == "close":
            status, body = answers[-1]
            assert status == 200, answers
            assert body == final[1]  # every close answers the same body
            continue
        for status, body in answers:
            if kind == "spend":
                assert status == 201, body
                spent += cents
            elif status == 201:
                into_goal += -cents if kind == "withdrawal" else cents
            else:
                assert status == 409, body
                allowed = {"account_closed"} | (
                    {"insufficient_funds"} if kind == "withdrawal" else set()
                )
                assert body["code"] in allowed, body
    # Round-ups landed (and came back) or were skipped; either way they are
    # in the refunds and out of the primary, or in neither.
    refunded = sum(entry["amount_cents"] for entry in refunds_of(app, goal))
    with app.app_context():
        round_ups = sum(
            e["amount_cents"] for e in get_db()["transactions"].find(
                {"account_number": goal["account_number"], "type": "transfer_in",
                 "status": "posted", "description": {"$regex": "^Round-up"}})
        )  # fmt: skip
    assert refunded == SAVED + into_goal + round_ups
    assert balance_cents(app, goal["account_number"]) == 0
    assert balance_cents(app, primary) == FUNDED - spent
    with app.app_context():
        account = AccountModel().find_by_number(goal["account_number"])
    assert account["status"] == "closed"
    assert account["holds"] == [] and account["pending_entries"] == []
    assert final[1]["refund"]["amount"] is not None
    report = check(app)
    assert report["ok"] and report["balanced"], report["problems"]


def test_parallel_closes_refund_once_and_answer_alike(
    app, server, saver, fast_switching
):
    customer, goal = saver
    count = 12
    start = threading.Barrier(count)
    with ThreadPoolExecutor(max_workers=count) as pool:
        runs = list(pool.map(
            lambda _n: close_until_done(server, customer, goal, start), range(count)
        ))  # fmt: skip
    finals = [answers[-1] for answers in runs]
    assert [status for status, _ in finals] == [200] * count
    assert len({json.dumps(body, sort_keys=True) for _, body in finals}) == 1
    assert finals[0][1]["refund"]["amount"] == "100.00"
    refunds = refunds_of(app, goal)
    assert [entry["amount_cents"] for entry in refunds] == [SAVED]
    assert balance_cents(app, customer["account"]["account_number"]) == FUNDED
    assert check(app)["ok"]


def test_parallel_openings_never_pass_the_goal_limit(
    app, server, customer, fast_switching
):
    app.config["MAX_GOALS_PER_CUSTOMER"] = 5
    count = 20
    start = threading.Barrier(count)

    def one(n):
        start.wait(10)
        return call(server, "POST", "/goals", customer["headers"], {"name": f"G{n}"})

    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(one, range(count)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 5 + [409] * 15
    assert {b["code"] for s, b in results if s == 409} == {"goal_limit_reached"}
    with app.app_context():
        user_id = ObjectId(customer["user"]["id"])
        assert len(GoalModel().taken_places(user_id)) == 5
        goal_accounts = list(get_db()["accounts"].find({"kind": "goal"}))
    # An account opened for a goal that lost the race is closed, empty.
    open_accounts = [a for a in goal_accounts if a["status"] == "active"]
    assert len(open_accounts) == 5
    assert all(a["balance_cents"] == 0 for a in goal_accounts)


def test_parallel_requests_for_the_round_ups_give_them_to_one_goal(
    app, server, customer, fast_switching
):
    count = 10
    start = threading.Barrier(count)

    def opening(n):
        start.wait(10)
        return call(server, "POST", "/goals", customer["headers"],
                    {"name": f"G{n}", "round_up": True})  # fmt: skip

    with ThreadPoolExecutor(max_workers=count) as pool:
        opened = list(pool.map(opening, range(count)))
    assert sorted(s for s, _ in opened) == [201] + [409] * (count - 1)
    assert {b["code"] for s, b in opened if s == 409} == {"round_up_taken"}
    winner = next(b for s, b in opened if s == 201)
    call(server, "PATCH", f"/goals/{winner['id']}", customer["headers"],
         {"round_up": False})  # fmt: skip
    others = [open_goal(server, customer, name=f"P{n}") for n in range(6)]
    start = threading.Barrier(len(others))

    def patching(goal):
        start.wait(10)
        return call(server, "PATCH", f"/goals/{goal['id']}", customer["headers"],
                    {"round_up": True})  # fmt: skip

    with ThreadPoolExecutor(max_workers=len(others)) as pool:
        patched = list(pool.map(patching, others))
    assert sorted(s for s, _ in patched) == [200] + [409] * (len(others) - 1)
    with app.app_context():
        holders = get_db()["goals"].count_documents({"round_up": True})
    assert holders == 1


def test_parallel_round_ups_of_one_movement_save_once(app, client, customer):
    fund(app, customer["account"]["account_number"], FUNDED)
    goal = client.post(
        "/goals", headers=customer["headers"], json={"name": "Change", "round_up": True}
    ).get_json()
    with app.app_context():
        caller = Caller(UserModel().find_by_id(customer["user"]["id"]))
        movement = movements.withdraw(caller, Withdrawal(1234), currency="USD")
    count = 8
    start = threading.Barrier(count)

    def one(_n):
        with app.app_context():
            start.wait(10)
            roundups.after_spending(
                caller, movement, currency="USD", stale_after=timedelta(seconds=60)
            )

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(one, range(count)))
    assert balance_cents(app, goal["account_number"]) == 66
    assert check(app)["ok"]


STRESS_ROUNDS = 12
PAYERS = 6
CLOSERS = 2


def pay_and_close_at_once(app, caller, goal, rules) -> tuple[list, list[int]]:
    """Run PAYERS payers (plain transfers into the goal until refused) and CLOSERS
    closers (close until done) at once; return the closes' results and the
    amounts that landed."""
    start = threading.Barrier(PAYERS + CLOSERS)
    landed: list[int] = []

    def pay(n):
        with app.app_context():
            start.wait(10)
            for _try in range(40):
                try:
                    movements.transfer(
                        caller, TransferOrder(goal.account_number, 1 + n),
                        currency="USD",
                    )  # fmt: skip
                except DomainError:
                    return
                landed.append(1 + n)

    def close(_n):
        with app.app_context():
            start.wait(10)
            for _try in range(DELETE_TRIES):
                try:
                    return goal_cases.close_goal(caller, str(goal.id), rules=rules)
                except AccountBusy:
                    continue
            raise AssertionError("the close never finished")

    with ThreadPoolExecutor(max_workers=PAYERS + CLOSERS) as pool:
        payers = [pool.submit(pay, n) for n in range(PAYERS)]
        closers = [pool.submit(close, n) for n in range(CLOSERS)]
        closed = [future.result(timeout=60) for future in closers]
        for future in payers:
            future.result(timeout=60)
    return closed, landed


def test_transfers_hammering_closes_never_strand_a_cent(app, customer, fast_switching):
    """Without HTTP in between, so the close's every step meets a payment: six
    payers send the owner's plain transfers into a goal (which no goal rule
    sees) while two closers close it, over and over on fresh goals."""
    number = customer["account"]["account_number"]
    fund(app, number, FUNDED)
    rules = GoalRules("USD", "UTC", 100, timedelta(seconds=60))
    with app.app_context():
        caller = Caller(UserModel().find_by_id(customer["user"]["id"]))
    for round_ in range(STRESS_ROUNDS):
        with app.app_context():
            goal = goal_cases.open_goal(caller.user, NewGoal(f"S{round_}"), rules=rules)
        closed, landed = pay_and_close_at_once(app, caller, goal, rules)
        assert closed[0] == closed[1]
        with app.app_context():
            account = AccountModel().find_by_id(goal.id)
        assert account["status"] == "closed" and account["balance_cents"] == 0, round_
        assert account["holds"] == [] and account["pending_entries"] == [], round_
        refunded = sum(e["amount_cents"] for e in refunds_of(
            app, {"account_number": goal.account_number}))  # fmt: skip
        assert refunded == sum(landed), round_
        assert balance_cents(app, number) == FUNDED, round_
    assert check(app)["ok"]
