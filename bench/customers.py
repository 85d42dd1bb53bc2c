"""Who the benchmark acts as: customers, payer and payee, the banker, and the
token the ceiling verifies. All of it over HTTP on the loopback."""

import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from common import BENCH_DIR, BenchError, expect
from servers import BANKER_PASSWORD, BANKER_USERNAME, JWT_SECRET, Server
from targets import POST_BODY, TRANSFER_AMOUNT

USERNAME = "benchuser"
PASSWORD = "a-long-bench-password"
PAYER = "benchpayer"  # the transfers' source: only transfers touch it
PAYEE = "benchpayee"  # the transfers' target
FILLER = "benchfiller"  # fills api_20k's journal; registered on api_empty too
INITIAL_DEPOSIT = Decimal("100.00")
# The most one deposit may be (the API's MAX_TRANSACTION_AMOUNT default).
FUNDING_DEPOSIT = Decimal("1000000.00")
# The payer is funded for this many transfers a second over the whole run,
# about ten times what one worker serves here, so wrk cannot run it dry.
FUNDING_RPS_BOUND = 20_000
LEDGER_CHECK_TIMEOUT_S = 120.0  # a full scan of the journal


@dataclass(frozen=True)
class Customer:
    """A customer the setup registered and logged in."""

    username: str
    user_id: str
    account_number: str
    token: str


def register(server: Server, username: str) -> Customer:
    """Register ``username`` and log in."""
    base = server.base_url
    credentials = {"username": username, "password": PASSWORD}
    registered = expect(
        f"register {username}", "POST", base + "/auth/register", 201,
        body=credentials,
    )  # fmt: skip
    login = expect(
        f"login {username}", "POST", base + "/auth/login", 200, body=credentials
    )
    return Customer(
        username=username,
        user_id=registered["user"]["id"],
        account_number=registered["account"]["account_number"],
        token=login["access_token"],
    )


def deposit(server: Server, customer: Customer, amount: Decimal) -> None:
    expect(
        f"deposit for {customer.username}", "POST", server.base_url + "/deposit",
        201, token=customer.token, body={"amount": f"{amount:.2f}"},
    )  # fmt: skip


def balance_of(server: Server, customer: Customer) -> Decimal:
    payload = expect(
        f"balance of {customer.username}", "GET", server.base_url + "/balance",
        200, token=customer.token,
    )  # fmt: skip
    return Decimal(payload["balance"])


def setup_api(server: Server) -> Customer:
    """Register, log in and fund the bench customer."""
    customer = register(server, USERNAME)
    deposit(server, customer, INITIAL_DEPOSIT)
    balance = balance_of(server, customer)
    if balance != INITIAL_DEPOSIT:
        raise BenchError(f"{server.name}: balance after setup is {balance}")
    return customer


def banker_token(server: Server) -> str:
    login = expect(
        "banker login", "POST", server.base_url + "/auth/login", 200,
        body={"username": BANKER_USERNAME, "password": BANKER_PASSWORD},
    )  # fmt: skip
    return login["access_token"]


def ledger_check(server: Server, token: str) -> dict:
    """``GET /banker/ledger/check``: the API's own reconciliation."""
    started = time.monotonic()
    report = expect(
        f"{server.name} ledger check", "GET",
        server.base_url + "/banker/ledger/check", 200,
        token=token, timeout=LEDGER_CHECK_TIMEOUT_S,
    )  # fmt: skip
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def setup_transfers(api: Server, transfer_seconds: int) -> tuple[dict, Decimal]:
    """Register payer and payee, fund the payer; return them and the funding."""
    payer, payee = register(api, PAYER), register(api, PAYEE)
    needed = transfer_seconds * FUNDING_RPS_BOUND * TRANSFER_AMOUNT
    deposits = max(1, math.ceil(needed / FUNDING_DEPOSIT))
    for _ in range(deposits):
        deposit(api, payer, FUNDING_DEPOSIT)
    funded = deposits * FUNDING_DEPOSIT
    if balance_of(api, payer) != funded:
        raise BenchError(f"payer's balance is not the {funded} it was funded with")
    print(
        f"funded {PAYER} with {deposits} x {FUNDING_DEPOSIT}: "
        f"{int(funded / TRANSFER_AMOUNT)} transfers of {TRANSFER_AMOUNT}, "
        f"enough for {FUNDING_RPS_BOUND} req/s over {transfer_seconds}s"
    )
    return {"payer": payer, "payee": payee}, funded


def ceiling_token(user_id: str, lifetime_s: int) -> str:
    """Mint a token like the API's inside the ceiling app (same secret)."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    from ceiling_app import create_app
    from flask_jwt_extended import create_access_token

    app = create_app(JWT_SECRET)
    with app.app_context():
        return create_access_token(
            user_id,
            additional_claims={"role": "customer"},
            expires_delta=timedelta(seconds=lifetime_s),
        )


def setup_ceiling(ceiling: Server, token: str) -> None:
    """Check that the ceiling accepts the token on both routes."""
    url = ceiling.base_url + "/ceiling"
    expect("ceiling GET", "GET", url, 200, token=token)
    expect("ceiling POST", "POST", url, 201, token=token, body=json.loads(POST_BODY))
