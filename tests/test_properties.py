"""Property-based: random money movements against a model of the bank.

A hypothesis state machine drives deposits, withdrawals, transfers and
Idempotency-Key retries through the HTTP API of a fresh app, and keeps its own
model: integer cents per account, and what each customer sent out today
against their daily limit. Every response must carry the status, refusal
code and balance the model predicts, and after every step the stored balances,
the money in the bank (deposits - withdrawals) and the ledger's reconciliation
must agree with the model.
"""

import itertools
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app import create_app
from app.config import TestConfig
from app.controllers.ledger import check_report
from app.db import get_db, memory_client
from tests.conftest import register

MAX_CENTS = 100_000_000  # MAX_TRANSACTION_AMOUNT, 1000000.00
# A daily limit low enough that random movements run into it.
DAILY_LIMIT = 400_000  # DAILY_OUT_LIMIT, 4000.00
CUSTOMERS = ("alice", "bob")
# Accounts by index: alice's primary, alice's savings, bob's primary.
OWNER = (0, 0, 1)
PRIMARY = (True, False, True)
MONEY_PATHS = ("/deposit", "/withdraw", "/transfers")

ACCOUNTS = st.integers(min_value=0, max_value=2)
# ("abs", cents) is that amount; ("near", offset) the source balance + offset and
# ("share", quarters) that many quarters of it (either at least one cent), so
# refusals at and around the balance come up often, and so do successes.
AMOUNTS = st.one_of(
    st.tuples(st.just("abs"), st.integers(min_value=1, max_value=500)),
    st.tuples(st.just("abs"), st.integers(min_value=501, max_value=250_000)),
    st.tuples(st.just("near"), st.integers(min_value=-2, max_value=2)),
    st.tuples(st.just("share"), st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("abs"), st.sampled_from([MAX_CENTS, MAX_CENTS + 1])),
)
# How the amount is written: a string or an exact JSON number (never a float).
STYLES = st.sampled_from(["string", "number", "short_string", "short_number", "exp"])
# No key, a new key, or a key the other customer already used (keys are per user).
KEYS = st.sampled_from(["none", "fresh", "borrowed"])
# Now and then the caller names an account that is not theirs.
FOREIGN = st.sampled_from([False, False, False, True])


def fmt(cents: int) -> str:
    """The model's own rendering of non-negative cents: two decimals."""
    return f"{cents // 100}.{cents % 100:02d}"


def amount_json(cents: int, style: str) -> str:
    """The JSON text of an amount, written in one of several exact forms."""
    whole, part = divmod(cents, 100)
    short = f"{whole}.{part:02d}".rstrip("0").rstrip(".")
    return {
        "string": f'"{fmt(cents)}"',
        "number": fmt(cents),
        "short_string": f'"{short}"',
        "short_number": short,
        "exp": f"{cents}E-2",
    }[style]


def body_text(fields: list[tuple[str, str]], reformat: bool = False) -> str:
    """A JSON object from (name, JSON text) pairs; reformat: same JSON, new text."""
    if reformat:
        items = [f'\n  "{name}" :\t{value}' for name, value in reversed(fields)]
        return "{" + " ,".join(items) + "\n}"
    return "{" + ", ".join(f'"{name}": {value}' for name, value in fields) + "}"


class BankMachine(RuleBasedStateMachine):
    """Two customers, three accounts, and a dict of balances in cents."""

    def __init__(self) -> None:
        super().__init__()
        self.app = create_app(
            TestConfig, mongo_client=memory_client()
        )
        self.app.config["DAILY_OUT_LIMIT"] = Decimal(DAILY_LIMIT) / 100
        # The model has no maker-checker: no amount it sends waits for a banker
        # (tests/test_approvals.py covers those).
        self.app.config["APPROVAL_THRESHOLD"] = Decimal(MAX_CENTS + 1) / 100
        self.client = self.app.test_client()
        users = [register(self.client, name) for name in CUSTOMERS]
        self.headers = [user["headers"] for user in users]
        savings = self.client.post(
            "/accounts", json={"kind": "savings"}, headers=self.headers[0]
        )
        assert savings.status_code == 201, savings.get_json()
        self.numbers = [
            users[0]["account"]["account_number"],
            savings.get_json()["account_number"],
            users[1]["account"]["account_number"],
        ]
        self.balances = [0, 0, 0]
        # Cents each customer sent out today (withdrawals, transfers to others).
        self.sent_out = [0, 0]
        # Customers whose balances changed since GET /accounts last showed them.
        self.unlisted: set[int] = set()
        self.deposited = 0
        self.withdrawn = 0
        self.key_counter = itertools.count(1)
        self.keys_used: list[set[str]] = [set(), set()]
        # Keyed requests as first sent: (actor, path, fields, key, response).
        self.sent: list[tuple] = []

    # -- helpers --------------------------------------------------------------

    def _cents(self, amount: tuple[str, int], account: int) -> int:
        kind, value = amount
        balance = self.balances[account]
        if kind == "near":
            return max(1, balance + value)
        if kind == "share":
            return max(1, balance * value // 4)
        return value

    def _key(self, actor: int, mode: str) -> str | None:
        if mode == "none":
            return None
        if mode == "borrowed":
            theirs = sorted(self.keys_used[1 - actor] - self.keys_used[actor])
            if theirs:
                return theirs[0]
        return f"key-{next(self.key_counter)}"

    def _post(self, actor, path, fields, key=None, reformat=False):
        headers = dict(self.headers[actor])
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(
            path,
            data=body_text(fields, reformat),
            content_type="application/json",
            headers=headers,
        )

    def _send(self, actor, path, fields, key_mode):
        key = self._key(actor, key_mode)
        response = self._post(actor, path, fields, key)
        assert "Idempotency-Replayed" not in response.headers, response.get_json()
        if key is not None:
            self.keys_used[actor].add(key)
            self.sent.append((actor, path, fields, key, response))
        return response

    @staticmethod
    def _expect(response, status: int, code: str | None) -> dict:
        body = response.get_json()
        assert response.status_code == status, (status, code, body)
        if code is not None:
            assert response.mimetype == "application/problem+json", body
            assert body["code"] == code, (code, body)
        return body

    def _insufficient(self, body: dict, balance: int, cents: int) -> None:
        # The refusal names the balance that refused and the amount asked for.
        assert f"balance {fmt(balance)}" in body["detail"], body
        assert f"requested {fmt(cents)}" in body["detail"], body

    def _single(self, kind, actor, account, cents, omit_number, style, key_mode):
        """A deposit or withdrawal on ``account`` by ``actor``, checked."""
        fields = [("amount", amount_json(cents, style))]
        if not (omit_number and PRIMARY[account] and OWNER[account] == actor):
            fields.append(("account_number", f'"{self.numbers[account]}"'))
        response = self._send(actor, f"/{kind}", fields, key_mode)
        balance = self.balances[account]
        if cents > MAX_CENTS:
            self._expect(response, 422, "validation_error")
        elif OWNER[account] != actor:
            self._expect(response, 404, "account_not_found")
        elif kind == "withdraw" and cents > balance:
            body = self._expect(response, 409, "insufficient_funds")
            self._insufficient(body, balance, cents)
        elif kind == "withdraw" and self.sent_out[actor] + cents > DAILY_LIMIT:
            self._over_the_limit(response, actor)
        else:
            body = self._expect(response, 201, None)
            self.unlisted.add(OWNER[account])
            if kind == "deposit":
                self.balances[account] += cents
                self.deposited += cents
            else:
                self.balances[account] -= cents
                self.withdrawn += cents
                self.sent_out[actor] += cents
            entry = body["transaction"]
            assert body["balance"] == fmt(self.balances[account]), body
            assert body["currency"] == "USD", body
            assert entry["type"] == ("deposit" if kind == "deposit" else "withdrawal")
            assert entry["account_number"] == self.numbers[account], body
            assert entry["amount"] == fmt(cents), body
            assert entry["balance_after"] == body["balance"], body

    def _over_the_limit(self, response, actor: int) -> None:
        # The refusal gives the figures, and nothing moves (the invariants).
        body = self._expect(response, 409, "daily_limit_exceeded")
        used = self.sent_out[actor]
        assert (body["limit"], body["used"], body["remaining"]) == (
            fmt(DAILY_LIMIT), fmt(used), fmt(DAILY_LIMIT - used)
        ), body

    # -- rules ----------------------------------------------------------------

    @initialize(
        amounts=st.lists(
            st.integers(min_value=0, max_value=250_000), min_size=3, max_size=3
        )
    )
    def fund(self, amounts):
        """Start with some money in each account, deposited like any other."""
        for account, cents in enumerate(amounts):
            if cents:
                self._single(
                    "deposit", OWNER[account], account, cents, False, "string", "none"
                )

    @rule(
        kind=st.sampled_from(["deposit", "withdraw"]),
        account=ACCOUNTS,
        amount=AMOUNTS,
        omit_number=st.booleans(),
        style=STYLES,
        key_mode=KEYS,
    )
    def move(self, kind, account, amount, omit_number, style, key_mode):
        cents = self._cents(amount, account)
        self._single(kind, OWNER[account], account, cents, omit_number, style, key_mode)

    @rule(
        kind=st.sampled_from(["deposit", "withdraw"]),
        account=ACCOUNTS,
        amount=AMOUNTS,
        style=STYLES,
        key_mode=KEYS,
    )
    def move_on_someone_elses_account(self, kind, account, amount, style, key_mode):
        cents = self._cents(amount, account)
        actor = 1 - OWNER[account]
        self._single(kind, actor, account, cents, False, style, key_mode)

    @rule(
        source=ACCOUNTS,
        dest=ACCOUNTS,
        amount=AMOUNTS,
        omit_from=st.booleans(),
        foreign=FOREIGN,
        style=STYLES,
        key_mode=KEYS,
    )
    def transfer(self, source, dest, amount, omit_from, foreign, style, key_mode):
        """From ``source`` (the caller's, unless ``foreign``) to ``dest``, any."""
        actor = 1 - OWNER[source] if foreign else OWNER[source]
        omit_from = omit_from and not foreign and PRIMARY[source]
        cents = self._cents(amount, source)
        fields = [
            ("to_account_number", f'"{self.numbers[dest]}"'),
            ("amount", amount_json(cents, style)),
        ]
        if not omit_from:
            fields.insert(0, ("from_account_number", f'"{self.numbers[source]}"'))
        response = self._send(actor, "/transfers", fields, key_mode)
        balance = self.balances[source]
        external = OWNER[dest] != actor
        if cents > MAX_CENTS or (source == dest and not omit_from):
            self._expect(response, 422, "validation_error")
        elif OWNER[source] != actor:
            self._expect(response, 404, "account_not_found")
        elif source == dest:
            # The source defaulted to the primary account, which is the target.
            self._expect(response, 422, "validation_error")
        elif cents > balance:
            body = self._expect(response, 409, "insufficient_funds")
            self._insufficient(body, balance, cents)
        elif external and self.sent_out[actor] + cents > DAILY_LIMIT:
            self._over_the_limit(response, actor)
        else:
            body = self._expect(response, 201, None)
            if external:
                self.sent_out[actor] += cents
            self.balances[source] -= cents
            self.balances[dest] += cents
            self.unlisted.update((OWNER[source], OWNER[dest]))
            moved = body["transfer"]
            assert body["balance"] == fmt(self.balances[source]), body
            assert body["currency"] == "USD", body
            assert moved["from_account_number"] == self.numbers[source], body
            assert moved["to_account_number"] == self.numbers[dest], body
            assert moved["amount"] == fmt(cents), body

    @precondition(lambda self: self.sent)
    @rule(back=st.integers(min_value=0, max_value=50), reformat=st.booleans())
    def retry(self, back, reformat):
        """Repeat a keyed request (the last one unless ``back``): a pure replay.

        ``reformat`` sends the same JSON written differently (key order, spaces).
        Nothing moves: the model is left alone, so the invariants check that.
        """
        actor, path, fields, key, first = self.sent[-1 - back % len(self.sent)]
        response = self._post(actor, path, fields, key, reformat)
        replayed = response.get_data(as_text=True)
        assert response.headers.get("Idempotency-Replayed") == "true", replayed
        assert response.status_code == first.status_code, replayed
        assert response.mimetype == first.mimetype, replayed
        assert response.get_data() == first.get_data(), replayed

    @precondition(lambda self: self.sent)
    @rule(back=st.integers(min_value=0, max_value=50), change_path=st.booleans())
    def reuse_key_with_another_body(self, back, change_path):
        """The same key on a different body or path is refused; nothing moves."""
        actor, path, fields, key, _first = self.sent[-1 - back % len(self.sent)]
        if change_path:
            path = MONEY_PATHS[(MONEY_PATHS.index(path) + 1) % len(MONEY_PATHS)]
        else:
            fields = [
                (name, '"0.01"' if value != '"0.01"' else '"0.02"')
                if name == "amount"
                else (name, value)
                for name, value in fields
            ]
        response = self._post(actor, path, fields, key)
        assert "Idempotency-Replayed" not in response.headers, response.get_json()
        self._expect(response, 422, "idempotency_key_reused")

    # -- invariants -------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self):
        with self.app.app_context():
            stored = {
                account["account_number"]: account["balance_cents"]
                for account in get_db()["accounts"].find({})
            }
            report = check_report()
        assert stored == dict(zip(self.numbers, self.balances, strict=True)), stored
        total = self.deposited - self.withdrawn
        assert sum(stored.values()) == total, (stored, total)
        assert report["ok"], report["problems"]
        assert report["balanced"]
        assert report["total_balance"] == fmt(total), report

    @invariant()
    def accounts_listing_matches_the_model(self):
        """GET /accounts shows a customer the model's balances, theirs only.

        Asked after a change only (refusals and replays are covered above).
        """
        for actor in sorted(self.unlisted):
            response = self.client.get("/accounts", headers=self.headers[actor])
            assert response.status_code == 200, response.get_json()
            shown = {
                item["account_number"]: item["balance"]
                for item in response.get_json()["items"]
            }
            expected = {
                self.numbers[i]: fmt(self.balances[i])
                for i in range(len(OWNER))
                if OWNER[i] == actor
            }
            assert shown == expected, (actor, shown, expected)
        self.unlisted.clear()


def test_random_movements_match_the_model():
    run_state_machine_as_test(
        BankMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
        ),
    )
