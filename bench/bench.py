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

Modules
-------
``bench.py`` is the entry point (options, setup order, main); next to it, and
imported by their bare names (this directory is first on sys.path when
``bench/bench.py`` runs):

* ``common.py``: paths, the loopback host, ``BenchError``, the HTTP client;
* ``targets.py``: the targets, what they send, the ratio targets;
* ``servers.py``: starting and stopping the gunicorn servers;
* ``customers.py``: customers, payer, payee, banker, ledger check, the
  ceiling's token;
* ``fill.py``: pre-filling api_20k's journal;
* ``load.py``: driving wrk and parsing its report;
* ``checks.py``: reconciling the money, the ledger checks, the logs;
* ``report.py``: the tables, the JSON document, the error banner;
* ``ceiling_app.py`` and ``wrk_report.lua``: the ceiling and wrk's script.
"""

import argparse
import json
import os
import shutil
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from checks import check_ledgers, expected_totals, finish, run_problems, scan_log
from common import RESULTS_DIR, BenchError
from customers import (
    FILLER,
    banker_token,
    ceiling_token,
    ledger_check,
    register,
    setup_api,
    setup_ceiling,
    setup_transfers,
)
from fill import FILL_ENTRIES, fill_journal
from load import Drive, measure
from report import git_state, print_checks, print_table, shout, write_json
from servers import API_SERVERS, Server, server_env, start_servers
from targets import POST_BODY, TARGETS, TRANSFER_AMOUNT


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


def prepare(
    args: argparse.Namespace, servers: dict[str, Server], lifetime_s: int
) -> tuple[dict[str, Drive], dict[str, Any]]:
    """Set every server up, fill api_20k; return the drives and the setup."""
    api = servers["api"]
    customers = {name: setup_api(servers[name]) for name in API_SERVERS}
    bankers = {name: banker_token(servers[name]) for name in API_SERVERS}
    parties, funded = setup_transfers(api, args.warmup + args.rounds * args.seconds)
    fillers = {name: register(servers[name], FILLER) for name in API_SERVERS[1:]}

    filled = fill_journal(
        servers["api_20k"], bankers["api_20k"], fillers["api_20k"], args.fill
    )

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
            servers = start_servers(stack, env)
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

    problems += run_problems(results, logs)

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
