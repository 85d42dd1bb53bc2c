"""After the rounds: reconciling the money, the ledger checks, the logs.

Every problem found is a line of text; any of them makes the run's figures
untrustworthy and its exit status 1.
"""

import argparse
import re
from decimal import Decimal
from typing import Any

from customers import INITIAL_DEPOSIT, Customer, balance_of, ledger_check
from load import TargetResult
from servers import API_SERVERS, Server
from targets import DEPOSIT_TARGETS, POST_AMOUNT, TRANSFER_AMOUNT


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


def scan_log(server: Server) -> dict[str, int]:
    """Count server-side trouble in a server's log."""
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    return {
        "tracebacks": text.count("Traceback (most recent call last)"),
        "status_5xx": len(re.findall(r"status=5\d\d", text)),
        "worker_timeouts": text.count("WORKER TIMEOUT"),
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


def run_problems(
    results: dict[str, TargetResult], logs: dict[str, dict[str, int]]
) -> list[str]:
    """Error responses and socket errors wrk saw, and trouble in the logs."""
    problems = []
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
    return problems
