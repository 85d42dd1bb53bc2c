"""The results: the verdicts, the tables on stdout, the JSON document, and
the loud error banner on stderr."""

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from common import REPO_ROOT
from load import Drive, TargetResult
from servers import GUNICORN_ARGS
from targets import RATIOS, Ratio


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
