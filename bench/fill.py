"""Pre-filling api_20k's journal through its own API, timed.

Deposits by a separate customer go over keep-alive HTTP connections from
FILL_CONNECTIONS client threads until the journal holds ``--fill`` entries.
"""

import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.client import HTTPConnection, HTTPException

from common import HOST, HTTP_TIMEOUT_S, BenchError
from customers import FILLER, Customer, ledger_check
from servers import Server

FILL_ENTRIES = 20_000
FILL_AMOUNT = Decimal("1.00")
FILL_CONNECTIONS = 8


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


def fill_journal(server: Server, banker: str, filler: Customer, entries: int) -> dict:
    """Bring ``server``'s journal to exactly ``entries`` (setup made some)."""
    present = ledger_check(server, banker)["entries"]
    if present > entries:
        raise BenchError(f"{server.name} holds {present} entries before the fill")
    count = entries - present
    print(
        f"filling {server.name}: {count} deposits by {FILLER} ...", end=" ", flush=True
    )
    filled = fill(server, filler, count)
    print(f"{filled['seconds']:.1f}s ({filled['rps']:.0f} req/s)")
    if filled["seconds"] > 180:
        print("note: the fill took longer than 3 minutes")
    return filled
