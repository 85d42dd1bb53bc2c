"""Driving the targets with wrk and parsing what it measured.

``wrk`` runs ``bench/wrk_report.lua``, which prints one ``BENCH_RESULT {json}``
line; the server's CPU time is read from /proc around each run.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
from dataclasses import dataclass, field, replace

from common import BENCH_DIR, BenchError
from servers import Server
from targets import TARGETS, Target

LUA_SCRIPT = BENCH_DIR / "wrk_report.lua"

_RESULT_LINE = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)
_NON_2XX_LINE = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")


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
