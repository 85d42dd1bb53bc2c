"""What every bench module shares: paths, the loopback host, the error, HTTP.

The bench modules are plain modules next to ``bench.py``, imported by their
bare names: running ``bench/bench.py`` puts this directory first on sys.path.
"""

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

HOST = "127.0.0.1"  # loopback only, for every server and every request
HTTP_TIMEOUT_S = 10.0


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server, the setup or wrk failed)."""


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
