"""Starting and stopping the servers under test: three APIs and the ceiling.

Every server is a gunicorn master (1 worker, ``gthread``, 8 threads) in a
process group of its own, on a free loopback port, logging to
``bench/results/<name>.log``.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from common import BENCH_DIR, HOST, REPO_ROOT, RESULTS_DIR, BenchError, http

JWT_SECRET = "bench-only-jwt-secret-not-for-production-0123456789abcdef"
BANKER_USERNAME = "benchbanker"
BANKER_PASSWORD = "bench-banker-passphrase-not-common-42"

# gunicorn 27 opens a control socket at one fixed path in $HOME by default; the
# servers would fight over it, and the benchmark has no use for it.
GUNICORN_ARGS = (
    "--workers", "1", "--worker-class", "gthread", "--threads", "8",
    "--no-control-socket",
)  # fmt: skip
GRACEFUL_TIMEOUT_S = 5
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30
API_SERVERS = ("api", "api_empty", "api_20k")


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
        # Transfers to another customer count against the daily limit: high
        # enough that a long run measures transfers, not limit refusals (the
        # reservation's write is paid all the same).
        DAILY_OUT_LIMIT="1000000000.00",
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


def start_servers(stack: ExitStack, env: dict[str, str]) -> dict[str, Server]:
    """Start the three APIs, then the ceiling; closing ``stack`` stops them."""
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
    return servers
