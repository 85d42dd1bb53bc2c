"""Throughput benchmark of the bank API against a bare Flask + JWT ceiling.

Run from the repository root::

    .venv/bin/python bench/bench.py [--seconds 10] [--rounds 3] [--quick]

Method
------
Four servers run under identical gunicorn settings (1 worker, ``gthread``,
8 threads), bound to 127.0.0.1 on free ports:

* three copies of the API, ``app:create_app()``, each on its own in-memory
  (mongomock) database, with a fixed JWT secret, a cheap scrypt cost (it only
  speeds up the setup's registers and logins), rate limiting off and a
  bootstrap banker (``benchbanker``) for the reconciliation endpoint:

  - ``api`` serves ``GET /balance``, ``POST /deposit`` and ``POST /transfers``;
  - ``api_empty`` and ``api_20k`` serve only ``POST /deposit``. They are set up
    alike (the same customers, the same requests), except that ``api_20k`` is
    first filled through its own API with deposits by a separate customer
    (``benchfiller``) until its journal (``transactions``) holds 20,000 entries;
    ``api_empty`` starts with one entry. The fill goes over keep-alive HTTP
    from 8 client threads and is timed.

* the ceiling, ``bench/ceiling_app.py``: Flask and flask-jwt-extended with the
  same secret and nothing else. Its ``@jwt_required()`` GET and POST are the
  most a JWT-protected Flask endpoint can do on this machine.

Setup goes over HTTP on the loopback. On every API: register ``benchuser``, log
in, deposit 100.00 and read the balance back; log the banker in. On ``api``
also register ``benchpayer`` and ``benchpayee`` and fund the payer with as many
1,000,000.00 deposits (the most one deposit may be) as it takes to cover 20,000
transfers a second for the whole run, far beyond what one worker can serve. The
ceiling's token is minted inside the ceiling app (same secret, same ``role``
claim and identity, so both servers verify a token of the same size).

``wrk`` (``bench/wrk_report.lua``) then drives each target with a Bearer token:

================  =========  ===============================================
target            server     request
================  =========  ===============================================
ceiling_get       ceiling    ``GET /ceiling``
balance           api        ``GET /balance`` (benchuser)
ceiling_post      ceiling    ``POST /ceiling`` ``{"amount": "1.00"}``
deposit           api        ``POST /deposit`` ``{"amount": "1.00"}``
transfer          api        ``POST /transfers`` 1.00 payer -> payee
deposit_empty     api_empty  ``POST /deposit`` ``{"amount": "1.00"}``
deposit_20k       api_20k    ``POST /deposit`` ``{"amount": "1.00"}``
================  =========  ===============================================

After a short warm-up of each, the targets are measured interleaved, round
after round, so that drift on the machine hits every target alike; each
target's figures are the median over the rounds (requests/s, and the per-round
p50 and p99 latencies). Deposits add to the journals they measure, so both
deposit stores grow by about the same number of entries during the run: the
20k store stays 20,000 entries ahead of the one that started empty. The JSON
records the journal sizes before and after.

Around each run the server's CPU time (master and worker, from Linux's /proc)
is read, giving the CPU microseconds one request costs the server: with a
single worker the GIL holds it to about one core, so CPU per request is what
sets the throughput, and it is the figure to profile against.

Every wrk run is checked for responses with status >= 400 ("Non-2xx or 3xx
responses") and socket errors. Any such error is reported loudly, turns the
verdict of the ratios it touches into INVALID and makes the exit status 1,
because throughput of error responses means nothing. Afterwards the money is
reconciled:

* each deposit target's final balance must cover every deposit wrk saw succeed
  (and exceed it by no more than the requests wrk may have cut off in flight);
* the transfers conserve money: payer + payee balance equals what the payer was
  funded with, to the cent, and the payee's balance covers every transfer wrk
  saw succeed (with the same in-flight slack);
* ``GET /banker/ledger/check`` on every API must answer ``"ok": true`` (every
  balance replays from the journal, every transfer has two legs netting to
  zero, nothing left pending), before the rounds and after them; its total
  balance must equal the sum of the bench customers' balances.

Targets
-------
* ``balance / ceiling_get``  >= 0.8: reading a balance costs at most 25% more
  than authenticating the request at all.
* ``deposit / ceiling_post`` >= 0.6: a deposit (validation, four guarded
  writes of the ledger protocol, journal entry) costs at most ~67% more than
  authenticating and parsing the body.
* ``transfer / ceiling_post`` >= 0.5: a transfer (two journal legs, hold,
  debit, credit, two posts, two releases) costs at most twice the ceiling.
* ``deposit_20k / deposit_empty`` >= 0.8: a deposit on a store holding 20,000
  transactions is at most 25% slower than on an empty one (no per-request cost
  that grows with the journal).

``--quick`` is a smoke run (2-second runs, one round, 1-second warm-ups);
``--fill`` changes the size of the pre-filled journal.

Results go to stdout as a table and to ``bench/results/latest.json``; the
servers' logs go to ``bench/results/{api,api_empty,api_20k,ceiling}.log``.
"""

import argparse
import hashlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.client import HTTPConnection, HTTPException
from importlib import metadata
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LUA_SCRIPT = BENCH_DIR / "wrk_report.lua"

HOST = "127.0.0.1"  # loopback only, for every server and every request
JWT_SECRET = "bench-only-jwt-secret-not-for-production-0123456789abcdef"
USERNAME = "benchuser"
PASSWORD = "a-long-bench-password"
PAYER = "benchpayer"  # the transfers' source: only transfers touch it
PAYEE = "benchpayee"  # the transfers' target
FILLER = "benchfiller"  # fills api_20k's journal; registered on api_empty too
BANKER_USERNAME = "benchbanker"
BANKER_PASSWORD = "bench-banker-passphrase-not-common-42"
INITIAL_DEPOSIT = Decimal("100.00")
POST_AMOUNT = Decimal("1.00")
POST_BODY = json.dumps({"amount": f"{POST_AMOUNT:.2f}"})
TRANSFER_AMOUNT = Decimal("1.00")
# The most one deposit may be (the API's MAX_TRANSACTION_AMOUNT default).
FUNDING_DEPOSIT = Decimal("1000000.00")
# The payer is funded for this many transfers a second over the whole run,
# about ten times what one worker serves here, so wrk cannot run it dry.
FUNDING_RPS_BOUND = 20_000
FILL_ENTRIES = 20_000
FILL_AMOUNT = Decimal("1.00")
FILL_CONNECTIONS = 8

# gunicorn 27 opens a control socket at one fixed path in $HOME by default; the
# servers would fight over it, and the benchmark has no use for it.
GUNICORN_ARGS = (
    "--workers", "1", "--worker-class", "gthread", "--threads", "8",
    "--no-control-socket",
)  # fmt: skip
GRACEFUL_TIMEOUT_S = 5
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 10.0
LEDGER_CHECK_TIMEOUT_S = 120.0  # a full scan of the journal
LOG_TAIL_LINES = 30
API_SERVERS = ("api", "api_empty", "api_20k")


@dataclass(frozen=True)
class Target:
    """One endpoint wrk drives."""

    name: str
    server: str  # "api", "api_empty", "api_20k" or "ceiling"
    path: str
    post: bool


# The order of one round: each API target right after its reference.
TARGETS = (
    Target("ceiling_get", "ceiling", "/ceiling", post=False),
    Target("balance", "api", "/balance", post=False),
    Target("ceiling_post", "ceiling", "/ceiling", post=True),
    Target("deposit", "api", "/deposit", post=True),
    Target("transfer", "api", "/transfers", post=True),
    Target("deposit_empty", "api_empty", "/deposit", post=True),
    Target("deposit_20k", "api_20k", "/deposit", post=True),
)
# Deposit targets: (target name, server) whose benchuser balance is reconciled.
DEPOSIT_TARGETS = ("deposit", "deposit_empty", "deposit_20k")


@dataclass(frozen=True)
class Ratio:
    """A target: ``numerator`` must reach ``minimum`` x ``denominator``."""

    numerator: str
    denominator: str
    minimum: float

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"


RATIOS = (
    Ratio("balance", "ceiling_get", 0.8),
    Ratio("deposit", "ceiling_post", 0.6),
    Ratio("transfer", "ceiling_post", 0.5),
    Ratio("deposit_20k", "deposit_empty", 0.8),
)


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server, the setup or wrk failed)."""


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    # CPU the server's processes spent per request (Linux /proc), else None.
    server_cpu_us: float | None = None

    @property
    def ok_requests(self) -> int:
        return self.requests - self.non_2xx

    @property
    def error_count(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


@dataclass
class TargetResult:
    """A target's warm-up and measured rounds, and their medians."""

    target: Target
    warmup: WrkRun | None = None
    rounds: list[WrkRun] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(run.rps for run in self.rounds)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.rounds)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.rounds)

    @property
    def server_cpu_us(self) -> float | None:
        values = [run.server_cpu_us for run in self.rounds]
        if any(value is None for value in values):
            return None
        return statistics.median(value for value in values if value is not None)

    def all_runs(self) -> list[WrkRun]:
        return ([self.warmup] if self.warmup else []) + self.rounds

    @property
    def errors(self) -> int:
        return sum(run.error_count for run in self.all_runs())


# --------------------------------------------------------------------------- HTTP

# No proxy handler: a proxy from the environment must never see these requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str,
    url: str,
    body: dict | None = None,
    token: str | None = None,
    timeout: float = HTTP_TIMEOUT_S,
) -> tuple[int, Any]:
    """Send one request to a loopback server; return (status, parsed JSON body)."""
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing a non-loopback URL: {url}")
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return status, payload


def expect(what: str, method: str, url: str, status: int, **kwargs: Any) -> Any:
    """Send a request and insist on ``status``; return the parsed body."""
    got, payload = http(method, url, **kwargs)
    if got != status:
        raise BenchError(
            f"{what}: {method} {url} answered {got}, not {status}: {payload!r}"
        )
    return payload


# ------------------------------------------------------------------------ servers


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn master (and its worker) in a process group of its own."""

    def __init__(
        self,
        name: str,
        app_spec: str,
        env: dict[str, str],
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = RESULTS_DIR / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            *GUNICORN_ARGS,
            "--bind",
            f"{HOST}:{self.port}",
            "--graceful-timeout",
            str(GRACEFUL_TIMEOUT_S),
            *extra_args,
            app_spec,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, path: str) -> None:
        """Wait until ``path`` answers anything at all over HTTP."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} server exited with status "
                    f"{self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                http("GET", self.base_url + path)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise BenchError(
            f"{self.name} server not ready after {READY_TIMEOUT_S:.0f}s:"
            f"\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the master and its workers so far (Linux only)."""
        master = self.process.pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text()
            total = 0
            for pid in [master, *map(int, children.split())]:
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            return None
        return total / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the master (a graceful stop), SIGKILL the group if it hangs."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    # The master is still alive, so the group id is still ours.
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=STOP_TIMEOUT_S)
        finally:
            self._log.close()


@contextmanager
def running(server: Server, ready_path: str) -> Iterator[Server]:
    """Wait for ``server`` to answer; stop it however the block ends."""
    try:
        server.wait_ready(ready_path)
        yield server
    finally:
        server.stop()


def server_env(token_lifetime_s: int) -> dict[str, str]:
    """The environment every server runs with."""
    env = dict(os.environ)
    env.update(
        JWT_SECRET_KEY=JWT_SECRET,
        PASSWORD_HASH_METHOD="scrypt:16384:8:1",  # speeds up the setup only
        RATELIMIT_ENABLED="false",
        JWT_ACCESS_TOKEN_EXPIRES=str(token_lifetime_s),
        # Pinned rather than merely unset, so a developer's .env (which the
        # app's config loads for unset variables) cannot point the benchmark
        # at a real database, switch to production or change the log volume.
        MONGO_URI="mongomock://",
        APP_ENV="development",
        LOG_LEVEL="INFO",
        BOOTSTRAP_BANKER_USERNAME=BANKER_USERNAME,
        BOOTSTRAP_BANKER_PASSWORD=BANKER_PASSWORD,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


# -------------------------------------------------------------------------- setup


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


def fill(server: Server, customer: Customer, count: int) -> dict:
    """Make ``count`` deposits over keep-alive connections; time them."""
    body = json.dumps({"amount": f"{FILL_AMOUNT:.2f}"})
    headers = {
        "Authorization": f"Bearer {customer.token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    tickets = itertools.count()
    lock = threading.Lock()

    def worker() -> int:
        done = 0
        connection = HTTPConnection(HOST, server.port, timeout=HTTP_TIMEOUT_S)
        try:
            while True:
                with lock:
                    if next(tickets) >= count:
                        return done
                connection.request("POST", "/deposit", body, headers)
                response = connection.getresponse()
                raw = response.read()
                if response.status != 201:
                    raise BenchError(
                        f"fill deposit answered {response.status}: {raw[:300]!r}"
                    )
                done += 1
        finally:
            connection.close()

    started = time.monotonic()
    with ThreadPoolExecutor(FILL_CONNECTIONS) as pool:
        futures = [pool.submit(worker) for _ in range(FILL_CONNECTIONS)]
        try:
            made = sum(future.result() for future in futures)
        except (OSError, HTTPException) as exc:
            raise BenchError(f"fill failed: {exc!r}") from exc
    seconds = time.monotonic() - started
    return {
        "deposits": made,
        "seconds": round(seconds, 2),
        "rps": round(made / seconds, 1) if seconds else None,
    }


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


# ---------------------------------------------------------------------------- wrk

_RESULT_LINE = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)
_NON_2XX_LINE = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")


@dataclass(frozen=True)
class Drive:
    """How wrk drives one target: where, with which token and body."""

    target: Target
    server: Server
    token: str
    body: str | None  # JSON of a POST, None for a GET


def run_wrk(
    wrk: str,
    url: str,
    token: str,
    body: str | None,
    seconds: int,
    threads: int,
    connections: int,
) -> WrkRun:
    """Drive ``url`` for ``seconds`` and parse wrk's report."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_BODY"}
    if body is not None:
        env["BENCH_BODY"] = body
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + 60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {url}") from exc
    match = _RESULT_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise BenchError(
            f"wrk failed on {url} (status {done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}"
        )
    report = json.loads(match.group(1))
    non_2xx = report["errors"].pop("status")
    printed = _NON_2XX_LINE.search(done.stdout)
    if printed and int(printed.group(1)) != non_2xx:
        raise BenchError(f"wrk's non-2xx counts disagree:\n{done.stdout}")
    latency = report["latency_us"]
    duration_s = report["duration_us"] / 1e6
    return WrkRun(
        requests=report["requests"],
        duration_s=duration_s,
        rps=report["requests"] / duration_s if duration_s else 0.0,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        non_2xx=non_2xx,
        socket_errors=report["errors"],
    )


# ------------------------------------------------------------------------ reports


def _applied_problems(
    what: str, applied: Decimal, counted: int, slack: int
) -> list[str]:
    """Compare movements the server applied with those wrk saw succeed.

    The server may also have applied a request wrk cut off at the end of a run
    (at most ``connections`` per run), so ``applied`` may exceed the count by
    ``slack`` but never fall short of it.
    """
    if applied != int(applied):
        return [f"{what}: {applied} applied is not a whole number of requests"]
    if applied < counted:
        return [f"{what} short: {applied} applied, wrk counted {counted} successful"]
    if applied - counted > slack:
        return [
            f"{what} over: {applied} applied, wrk counted {counted} "
            f"(more than {slack} in flight)"
        ]
    return []


def reconcile_deposits(
    server: Server, customer: Customer, deposits: TargetResult, connections: int
) -> tuple[list[str], dict]:
    """Check a final balance against the deposits wrk saw succeed."""
    balance = balance_of(server, customer)
    counted = sum(run.ok_requests for run in deposits.all_runs())
    applied = (balance - INITIAL_DEPOSIT) / POST_AMOUNT
    slack = connections * len(deposits.all_runs())
    problems = _applied_problems(
        f"{deposits.target.name} deposits", applied, counted, slack
    )
    details = {
        "final_balance": f"{balance:.2f}",
        "deposits_applied": int(applied),
        "deposits_counted_by_wrk": counted,
        "ok": not problems,
    }
    return problems, details


def reconcile_transfers(
    api: Server,
    parties: dict[str, Customer],
    funded: Decimal,
    transfers: TargetResult,
    connections: int,
) -> tuple[list[str], dict]:
    """Money is conserved, and the payee got every transfer wrk counted."""
    payer = balance_of(api, parties["payer"])
    payee = balance_of(api, parties["payee"])
    problems = []
    if payer + payee != funded:
        problems.append(
            f"transfers do not conserve money: payer {payer} + payee {payee} "
            f"!= {funded} funded"
        )
    counted = sum(run.ok_requests for run in transfers.all_runs())
    applied = payee / TRANSFER_AMOUNT
    slack = connections * len(transfers.all_runs())
    problems += _applied_problems("transfers", applied, counted, slack)
    details = {
        "funded": f"{funded:.2f}",
        "payer_balance": f"{payer:.2f}",
        "payee_balance": f"{payee:.2f}",
        "money_conserved": payer + payee == funded,
        "transfers_applied": int(applied),
        "transfers_counted_by_wrk": counted,
        "ok": not problems,
    }
    return problems, details


def check_ledgers(
    reports: dict[str, dict], balances: dict[str, Decimal], when: str
) -> list[str]:
    """Every ledger check must be ok, and its total the bench customers' sum."""
    problems = []
    for name, report in reports.items():
        if report.get("ok") is not True:
            shown = report.get("problems", [])[:5]
            problems.append(f"{name} ledger check {when} not ok: {shown}")
        if name in balances and Decimal(report["total_balance"]) != balances[name]:
            problems.append(
                f"{name} ledger total {report['total_balance']} != "
                f"{balances[name]}, the bench customers' balances"
            )
    return problems


def scan_log(server: Server) -> dict[str, int]:
    """Count server-side trouble in a server's log."""
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    return {
        "tracebacks": text.count("Traceback (most recent call last)"),
        "status_5xx": len(re.findall(r"status=5\d\d", text)),
        "worker_timeouts": text.count("WORKER TIMEOUT"),
    }


def verdict(ratio: Ratio, results: dict[str, TargetResult]) -> tuple[float, str]:
    """The ratio and PASS, MISS, or INVALID when either side had errors."""
    numerator, denominator = results[ratio.numerator], results[ratio.denominator]
    value = numerator.rps / denominator.rps
    if numerator.errors or denominator.errors:
        return value, "INVALID"
    return value, "PASS" if value >= ratio.minimum else "MISS"


def print_table(results: dict[str, TargetResult]) -> None:
    header = (
        f"{'target':<15}{'req/s (median)':>15}   {'rounds req/s':<22}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU us/req':>12}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results.values():
        rounds = " / ".join(f"{run.rps:.0f}" for run in result.rounds)
        cpu = result.server_cpu_us
        print(
            f"{result.target.name:<15}{result.rps:>15.1f}   {rounds:<22}"
            f"{result.p50_ms:>8.2f}{result.p99_ms:>8.2f}"
            f"{f'{cpu:.0f}' if cpu is not None else '?':>12}{result.errors:>8}"
        )
    print()
    for ratio in RATIOS:
        value, outcome = verdict(ratio, results)
        print(
            f"{ratio.name:<28}{value:>6.2f}   target >= {ratio.minimum:.1f}   {outcome}"
        )


def print_checks(extra: dict[str, Any]) -> None:
    """One line each for the fill, the reconciliations and the ledger checks."""
    filled = extra["fill"]
    print(
        f"\nfill of api_20k: {filled['deposits']} deposits in "
        f"{filled['seconds']:.1f}s ({filled['rps']:.0f} req/s); journal "
        f"{extra['journal_entries_before']['api_20k']} entries before the rounds "
        f"(api_empty {extra['journal_entries_before']['api_empty']}), "
        f"{extra['journal_entries_after']['api_20k']} after "
        f"(api_empty {extra['journal_entries_after']['api_empty']})"
    )
    moved = extra["transfer_reconciliation"]
    print(
        f"transfers: {moved['transfers_applied']} applied, "
        f"{moved['transfers_counted_by_wrk']} counted by wrk; payer "
        f"{moved['payer_balance']} + payee {moved['payee_balance']} = "
        f"{moved['funded']} funded: "
        f"{'conserved' if moved['money_conserved'] else 'NOT CONSERVED'}"
    )
    for name, details in extra["deposit_reconciliation"].items():
        print(
            f"{name}: {details['deposits_applied']} applied, "
            f"{details['deposits_counted_by_wrk']} counted by wrk: "
            f"{'ok' if details['ok'] else 'MISMATCH'}"
        )
    for name, report in extra["ledger_check_after"].items():
        print(
            f"ledger check {name:<9} ok={str(report['ok']).lower():<5} "
            f"accounts {report['accounts']}, entries {report['entries']}, "
            f"transfers {report['transfers']}, total {report['total_balance']} "
            f"{report['currency']}, problems {len(report['problems'])} "
            f"({report['seconds']:.2f}s)"
        )


def shout(problems: list[str]) -> None:
    bar = "!" * 78
    print(
        f"\n{bar}\n!! BENCHMARK HAD ERRORS: these figures are not trustworthy\n{bar}",
        file=sys.stderr,
    )
    for problem in problems:
        print(f"!! {problem}", file=sys.stderr)
    print(bar, file=sys.stderr)


def git_state() -> dict[str, Any]:
    """The commit and the uncommitted changes outside bench/ the servers load."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    outside_bench = ("--", ".", ":(exclude)bench")
    changes = git("status", "--porcelain", *outside_bench)
    diff = git("diff", "HEAD", *outside_bench)
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(changes),
        "changes": changes.splitlines(),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }


def write_json(
    path: Path,
    args: argparse.Namespace,
    drives: dict[str, Drive],
    results: dict[str, TargetResult],
    problems: list[str],
    extra: dict[str, Any],
) -> None:
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "gunicorn": metadata.version("gunicorn"),
        },
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "warmup_seconds": args.warmup,
            "wrk_threads": args.threads,
            "wrk_connections": args.connections,
            "fill_entries": args.fill,
            "gunicorn": list(GUNICORN_ARGS),
        },
        "targets": {
            name: {
                "server": result.target.server,
                "path": result.target.path,
                "method": "POST" if result.target.post else "GET",
                "body": drives[name].body,
                "rps_median": round(result.rps, 1),
                "p50_ms_median": round(result.p50_ms, 3),
                "p99_ms_median": round(result.p99_ms, 3),
                "server_cpu_us_per_request_median": (
                    None
                    if result.server_cpu_us is None
                    else round(result.server_cpu_us)
                ),
                "errors": result.errors,
                "warmup": asdict(result.warmup) if result.warmup else None,
                "rounds": [asdict(run) for run in result.rounds],
            }
            for name, result in results.items()
        },
        "ratios": {
            ratio.name: {
                "value": round(value, 3),
                "minimum": ratio.minimum,
                "verdict": outcome,
                "pass": outcome == "PASS",
            }
            for ratio in RATIOS
            for value, outcome in [verdict(ratio, results)]
        },
        "errors": problems,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=int,
        default=10,
        help="whole seconds of each measured wrk run (default 10)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds over the targets (default 3)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="unrecorded warm-up seconds per target, 0 for none (default 2)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: --seconds 2 --rounds 1 --warmup 1",
    )
    parser.add_argument(
        "--fill",
        type=int,
        default=FILL_ENTRIES,
        help=f"journal entries of api_20k before the rounds (default {FILL_ENTRIES})",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--connections", type=int, default=16, help="wrk connections (default 16)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "latest.json",
        help="where to write the JSON results",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.warmup = 2, 1, 1
    if not 1 <= args.rounds <= 50:
        parser.error("--rounds must be between 1 and 50")
    if not 1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be 1-600 and --warmup 0-60")
    if not 1 <= args.threads <= args.connections <= 1024:
        parser.error("need 1 <= --threads <= --connections <= 1024")
    if not 1 <= args.fill <= 1_000_000:
        parser.error("--fill must be between 1 and 1000000")
    return args


def measure(
    args: argparse.Namespace, wrk: str, drives: dict[str, Drive]
) -> dict[str, TargetResult]:
    """Warm every target up, then run the interleaved rounds."""
    results = {target.name: TargetResult(target) for target in TARGETS}

    def once(drive: Drive, seconds: int) -> WrkRun:
        server = drive.server
        cpu_before = server.cpu_seconds()
        run = run_wrk(
            wrk,
            server.base_url + drive.target.path,
            drive.token,
            drive.body,
            seconds,
            args.threads,
            args.connections,
        )
        cpu_after = server.cpu_seconds()
        if cpu_before is None or cpu_after is None or not run.requests:
            return run
        cpu_us = (cpu_after - cpu_before) / run.requests * 1e6
        return replace(run, server_cpu_us=cpu_us)

    if args.warmup > 0:
        for target in TARGETS:
            print(f"warm-up  {target.name:<14}", end=" ", flush=True)
            results[target.name].warmup = run = once(drives[target.name], args.warmup)
            print(f"{run.rps:8.0f} req/s  errors {run.error_count}")
    for number in range(1, args.rounds + 1):
        for target in TARGETS:
            print(f"round {number}  {target.name:<14}", end=" ", flush=True)
            run = once(drives[target.name], args.seconds)
            results[target.name].rounds.append(run)
            cpu = f"{run.server_cpu_us:5.0f}" if run.server_cpu_us else "    ?"
            print(
                f"{run.rps:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                f"p99 {run.p99_ms:6.2f} ms  server CPU {cpu} us/req  "
                f"errors {run.error_count}"
            )
    return results


def prepare(
    args: argparse.Namespace, servers: dict[str, Server], lifetime_s: int
) -> tuple[dict[str, Drive], dict[str, Any]]:
    """Set every server up, fill api_20k; return the drives and the setup."""
    api = servers["api"]
    customers = {name: setup_api(servers[name]) for name in API_SERVERS}
    bankers = {name: banker_token(servers[name]) for name in API_SERVERS}
    parties, funded = setup_transfers(api, args.warmup + args.rounds * args.seconds)
    fillers = {name: register(servers[name], FILLER) for name in API_SERVERS[1:]}

    # Bring api_20k's journal to exactly --fill entries (setup made some).
    present = ledger_check(servers["api_20k"], bankers["api_20k"])["entries"]
    if present > args.fill:
        raise BenchError(f"api_20k holds {present} entries before the fill")
    count = args.fill - present
    print(f"filling api_20k: {count} deposits by {FILLER} ...", end=" ", flush=True)
    filled = fill(servers["api_20k"], fillers["api_20k"], count)
    print(f"{filled['seconds']:.1f}s ({filled['rps']:.0f} req/s)")
    if filled["seconds"] > 180:
        print("note: the fill took longer than 3 minutes")

    before = {name: ledger_check(servers[name], bankers[name]) for name in API_SERVERS}
    if before["api_20k"]["entries"] != args.fill:
        raise BenchError(
            f"api_20k journal holds {before['api_20k']['entries']} entries "
            f"after the fill, not {args.fill}"
        )
    balances = expected_totals(servers, customers, parties, fillers)
    problems = check_ledgers(before, balances, "before the rounds")
    if problems:
        raise BenchError("; ".join(problems))

    ceiling = ceiling_token(customers["api"].user_id, lifetime_s)
    setup_ceiling(servers["ceiling"], ceiling)
    transfer_body = json.dumps(
        {
            "to_account_number": parties["payee"].account_number,
            "amount": f"{TRANSFER_AMOUNT:.2f}",
        }
    )
    tokens = {
        "ceiling_get": ceiling,
        "balance": customers["api"].token,
        "ceiling_post": ceiling,
        "deposit": customers["api"].token,
        "transfer": parties["payer"].token,
        "deposit_empty": customers["api_empty"].token,
        "deposit_20k": customers["api_20k"].token,
    }
    bodies = {"transfer": transfer_body}
    drives = {
        target.name: Drive(
            target=target,
            server=servers[target.server],
            token=tokens[target.name],
            body=bodies.get(target.name, POST_BODY) if target.post else None,
        )
        for target in TARGETS
    }
    setup = {
        "customers": customers,
        "bankers": bankers,
        "parties": parties,
        "fillers": fillers,
        "funded": funded,
        "fill": filled,
        "ledger_check_before": before,
    }
    return drives, setup


def expected_totals(
    servers: dict[str, Server],
    customers: dict[str, Customer],
    parties: dict[str, Customer],
    fillers: dict[str, Customer],
) -> dict[str, Decimal]:
    """Each API's sum of the bench customers' balances (bankers hold nothing)."""
    holders = {
        "api": [customers["api"], parties["payer"], parties["payee"]],
        "api_empty": [customers["api_empty"], fillers["api_empty"]],
        "api_20k": [customers["api_20k"], fillers["api_20k"]],
    }
    return {
        name: sum((balance_of(servers[name], who) for who in people), Decimal(0))
        for name, people in holders.items()
    }


def finish(
    args: argparse.Namespace,
    servers: dict[str, Server],
    setup: dict[str, Any],
    results: dict[str, TargetResult],
) -> tuple[list[str], dict[str, Any]]:
    """Reconcile the money and run the ledger checks after the rounds."""
    problems: list[str] = []
    deposits = {}
    for name in DEPOSIT_TARGETS:
        server = results[name].target.server
        found, deposits[name] = reconcile_deposits(
            servers[server], setup["customers"][server], results[name],
            args.connections,
        )  # fmt: skip
        problems += found
    found, transfers = reconcile_transfers(
        servers["api"], setup["parties"], setup["funded"], results["transfer"],
        args.connections,
    )  # fmt: skip
    problems += found
    after = {
        name: ledger_check(servers[name], setup["bankers"][name])
        for name in API_SERVERS
    }
    balances = expected_totals(
        servers, setup["customers"], setup["parties"], setup["fillers"]
    )
    problems += check_ledgers(after, balances, "after the rounds")
    extra = {
        "fill": setup["fill"],
        "journal_entries_before": {
            name: report["entries"]
            for name, report in setup["ledger_check_before"].items()
        },
        "journal_entries_after": {
            name: report["entries"] for name, report in after.items()
        },
        "deposit_reconciliation": deposits,
        "transfer_reconciliation": transfers,
        "ledger_check_before": setup["ledger_check_before"],
        "ledger_check_after": after,
    }
    return problems, extra


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    # A SIGTERM to the benchmark must still stop the servers (via finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    planned_s = (args.rounds * args.seconds + args.warmup) * len(TARGETS)
    # Tokens must outlive the fill too (about a minute for 20,000 deposits).
    lifetime_s = int(planned_s * 2) + 3600 + args.fill // 100
    env = server_env(lifetime_s)

    if (os.cpu_count() or 1) <= 2:
        print(
            f"note: only {os.cpu_count()} CPU(s), shared by wrk and the server "
            "under test; compare the ratios, not the absolute figures"
        )
    # The servers load the code as it is now; later edits do not reach them.
    code = git_state()
    dirty = " + uncommitted changes" if code["dirty"] else ""
    print(f"code: {code['commit']}{dirty}")
    print(f"planned: ~{planned_s:.0f}s of load plus the fill; logs in {RESULTS_DIR}/")
    try:
        with ExitStack() as stack:
            servers: dict[str, Server] = {}
            for name in API_SERVERS:
                servers[name] = stack.enter_context(
                    running(Server(name, "app:create_app()", env), "/health")
                )
            servers["ceiling"] = stack.enter_context(
                running(
                    Server(
                        "ceiling",
                        "ceiling_app:create_app()",
                        env,
                        ("--pythonpath", str(BENCH_DIR)),
                    ),
                    "/ceiling",
                )
            )
            drives, setup = prepare(args, servers, lifetime_s)
            results = measure(args, wrk, drives)
            problems, extra = finish(args, servers, setup, results)
            logs = {name: scan_log(server) for name, server in servers.items()}
    except BenchError as exc:
        shout([str(exc)])
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130

    for result in results.values():
        if result.errors:
            counts = [
                f"non-2xx {run.non_2xx}, socket {run.socket_errors}"
                for run in result.all_runs()
                if run.error_count
            ]
            problems.append(
                f"{result.target.name}: {result.errors} errors ({'; '.join(counts)})"
            )
    for name, counts in logs.items():
        if any(counts.values()):
            problems.append(f"{name} log: {counts}")

    extra = {"git": code, **extra}
    if git_state() != code:
        extra["git_changed_during_run"] = True
        print(
            "\nnote: the code changed during the run; the figures belong to "
            f"{code['commit']}{dirty}, the code the servers started with"
        )
    extra["server_logs"] = logs

    print()
    print_table(results)
    print_checks(extra)
    write_json(args.output, args, drives, results, problems, extra)
    print(f"\nresults written to {args.output}")
    if problems:
        shout(problems)
        return 1
    print(
        "no errors: every response was 2xx, the money reconciles and every "
        "ledger check is ok"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
