"""Throughput benchmark of the bank API against a bare Flask + JWT ceiling.

Run from the repository root::

    .venv/bin/python bench/bench.py [--seconds 10] [--rounds 3]

Method
------
Two servers run under identical gunicorn settings (1 worker, ``gthread``,
8 threads), bound to 127.0.0.1 on free ports:

* the API, ``app:create_app()``, on the in-memory (mongomock) database, with a
  fixed JWT secret, a cheap scrypt cost (it only speeds up the setup's
  register and login) and rate limiting off;
* the ceiling, ``bench/ceiling_app.py``: Flask and flask-jwt-extended with the
  same secret and nothing else. Its ``@jwt_required()`` GET and POST are the
  most a JWT-protected Flask endpoint can do on this machine.

Setup goes over HTTP on the loopback: register ``benchuser``, log in, deposit
100.00 and read the balance back. The ceiling's token is minted inside the
ceiling app (same secret, same ``role`` claim and identity, so both servers
verify a token of the same size).

``wrk`` (``bench/wrk_report.lua``) then drives each target with a Bearer token:
``GET /ceiling``, ``GET /balance``, ``POST /ceiling`` and ``POST /deposit``
(body ``{"amount": "1.00"}``). After a short warm-up of each, the four targets
are measured interleaved, round after round, so that drift on the machine hits
every target alike; each target's figures are the median over the rounds
(requests/s, and the per-round p50 and p99 latencies).

Around each run the server's CPU time (master and worker, from Linux's /proc)
is read, giving the CPU microseconds one request costs the server: with a
single worker the GIL holds it to about one core, so CPU per request is what
sets the throughput, and it is the figure to profile against.

Every wrk run is checked for responses with status >= 400 ("Non-2xx or 3xx
responses") and socket errors. Any such error is reported loudly, turns the
verdict of the ratios it touches into INVALID and makes the exit status 1,
because throughput of error responses means nothing. The
deposits are also reconciled: the final balance must cover every deposit wrk
saw succeed.

Targets
-------
* ``balance / ceiling_get``  >= 0.8: reading a balance costs at most 25% more
  than authenticating the request at all.
* ``deposit / ceiling_post`` >= 0.6: a deposit (validation, four guarded
  writes of the ledger protocol, journal entry) costs at most ~67% more than
  authenticating and parsing the body.

Results go to stdout as a table and to ``bench/results/latest.json``; the
servers' logs go to ``bench/results/{api,ceiling}.log``.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
INITIAL_DEPOSIT = Decimal("100.00")
POST_AMOUNT = Decimal("1.00")
POST_BODY = json.dumps({"amount": f"{POST_AMOUNT:.2f}"})

# gunicorn 27 opens a control socket at one fixed path in $HOME by default; the
# two servers would fight over it, and the benchmark has no use for it.
GUNICORN_ARGS = (
    "--workers", "1", "--worker-class", "gthread", "--threads", "8",
    "--no-control-socket",
)  # fmt: skip
GRACEFUL_TIMEOUT_S = 5
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class Target:
    """One endpoint wrk drives."""

    name: str
    server: str  # "api" or "ceiling"
    path: str
    post: bool


# The order of one round: each API target right after its ceiling.
TARGETS = (
    Target("ceiling_get", "ceiling", "/ceiling", post=False),
    Target("balance", "api", "/balance", post=False),
    Target("ceiling_post", "ceiling", "/ceiling", post=True),
    Target("deposit", "api", "/deposit", post=True),
)


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
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_S) as response:
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
    """The environment both servers run with."""
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
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


# -------------------------------------------------------------------------- setup


def setup_api(api: Server) -> tuple[str, str]:
    """Register, log in and fund the bench customer; return (user id, token)."""
    base = api.base_url
    credentials = {"username": USERNAME, "password": PASSWORD}
    registered = expect(
        "register", "POST", base + "/auth/register", 201, body=credentials
    )
    login = expect("login", "POST", base + "/auth/login", 200, body=credentials)
    token = login["access_token"]
    expect(
        "initial deposit",
        "POST",
        base + "/deposit",
        201,
        token=token,
        body={"amount": f"{INITIAL_DEPOSIT:.2f}"},
    )
    balance = expect("balance", "GET", base + "/balance", 200, token=token)
    if Decimal(balance["balance"]) != INITIAL_DEPOSIT:
        raise BenchError(f"balance after setup is {balance!r}")
    return registered["user"]["id"], token


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


def run_wrk(
    wrk: str,
    url: str,
    token: str,
    post: bool,
    seconds: int,
    threads: int,
    connections: int,
) -> WrkRun:
    """Drive ``url`` for ``seconds`` and parse wrk's report."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_BODY"}
    if post:
        env["BENCH_BODY"] = POST_BODY
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


def reconcile(
    api: Server, token: str, deposits: TargetResult, connections: int
) -> tuple[list[str], dict]:
    """Check the final balance against the deposits wrk saw succeed.

    The server may also have applied a request wrk cut off at the end of a run
    (at most ``connections`` per run), so the balance may exceed the count but
    never fall short of it.
    """
    balance = expect(
        "final balance", "GET", api.base_url + "/balance", 200, token=token
    )
    counted = sum(run.ok_requests for run in deposits.all_runs())
    applied = (Decimal(balance["balance"]) - INITIAL_DEPOSIT) / POST_AMOUNT
    slack = connections * len(deposits.all_runs())
    problems = []
    if applied < counted:
        problems.append(
            f"balance short: {applied} deposits applied, "
            f"wrk counted {counted} successful"
        )
    elif applied - counted > slack:
        problems.append(
            f"balance over: {applied} deposits applied, wrk counted "
            f"{counted} (more than {slack} in flight)"
        )
    details = {
        "final_balance": balance["balance"],
        "deposits_applied": int(applied),
        "deposits_counted_by_wrk": counted,
        "ok": not problems,
    }
    return problems, details


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
        f"{'target':<14}{'req/s (median)':>15}   {'rounds req/s':<22}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU us/req':>12}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results.values():
        rounds = " / ".join(f"{run.rps:.0f}" for run in result.rounds)
        cpu = result.server_cpu_us
        print(
            f"{result.target.name:<14}{result.rps:>15.1f}   {rounds:<22}"
            f"{result.p50_ms:>8.2f}{result.p99_ms:>8.2f}"
            f"{f'{cpu:.0f}' if cpu is not None else '?':>12}{result.errors:>8}"
        )
    print()
    for ratio in RATIOS:
        value, outcome = verdict(ratio, results)
        print(
            f"{ratio.name:<22}{value:>6.2f}   target >= {ratio.minimum:.1f}   {outcome}"
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
            "gunicorn": list(GUNICORN_ARGS),
            "post_body": POST_BODY,
        },
        "targets": {
            name: {
                "server": result.target.server,
                "path": result.target.path,
                "method": "POST" if result.target.post else "GET",
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
        help="interleaved rounds over the four targets (default 3)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="unrecorded warm-up seconds per target, 0 for none (default 2)",
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
    if not 1 <= args.rounds <= 50:
        parser.error("--rounds must be between 1 and 50")
    if not 1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be 1-600 and --warmup 0-60")
    if not 1 <= args.threads <= args.connections <= 1024:
        parser.error("need 1 <= --threads <= --connections <= 1024")
    return args


def measure(
    args: argparse.Namespace,
    wrk: str,
    servers: dict[str, Server],
    tokens: dict[str, str],
) -> dict[str, TargetResult]:
    """Warm every target up, then run the interleaved rounds."""
    results = {target.name: TargetResult(target) for target in TARGETS}

    def once(target: Target, seconds: int) -> WrkRun:
        server = servers[target.server]
        cpu_before = server.cpu_seconds()
        run = run_wrk(
            wrk,
            server.base_url + target.path,
            tokens[target.server],
            target.post,
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
            print(f"warm-up  {target.name:<13}", end=" ", flush=True)
            results[target.name].warmup = run = once(target, args.warmup)
            print(f"{run.rps:8.0f} req/s  errors {run.error_count}")
    for number in range(1, args.rounds + 1):
        for target in TARGETS:
            print(f"round {number}  {target.name:<13}", end=" ", flush=True)
            run = once(target, args.seconds)
            results[target.name].rounds.append(run)
            cpu = f"{run.server_cpu_us:5.0f}" if run.server_cpu_us else "    ?"
            print(
                f"{run.rps:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                f"p99 {run.p99_ms:6.2f} ms  server CPU {cpu} us/req  "
                f"errors {run.error_count}"
            )
    return results


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
    lifetime_s = int(planned_s * 2) + 3600
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
    print(f"planned: ~{planned_s:.0f}s of load; logs in {RESULTS_DIR}/")
    try:
        with ExitStack() as stack:
            api = stack.enter_context(
                running(Server("api", "app:create_app()", env), "/health")
            )
            ceiling = stack.enter_context(
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
            user_id, api_token = setup_api(api)
            tokens = {"api": api_token, "ceiling": ceiling_token(user_id, lifetime_s)}
            setup_ceiling(ceiling, tokens["ceiling"])
            servers = {"api": api, "ceiling": ceiling}
            results = measure(args, wrk, servers, tokens)
            problems, reconciliation = reconcile(
                api, api_token, results["deposit"], args.connections
            )
            logs = {"api": scan_log(api), "ceiling": scan_log(ceiling)}
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

    extra: dict[str, Any] = {"git": code}
    if git_state() != code:
        extra["git_changed_during_run"] = True
        print(
            "\nnote: the code changed during the run; the figures belong to "
            f"{code['commit']}{dirty}, the code the servers started with"
        )
    extra.update(reconciliation=reconciliation, server_logs=logs)

    print()
    print_table(results)
    write_json(args.output, args, results, problems, extra)
    print(f"\nresults written to {args.output}")
    if problems:
        shout(problems)
        return 1
    print("no errors: every response was 2xx and the deposits reconcile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
