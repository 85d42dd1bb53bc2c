"""Shared assertions and small tools for HTTP tests (never a test module's import)."""

import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    """Assert an RFC 9457 problem document of ``status`` and ``code``; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def call(
    server: str, method: str, path: str, headers: dict, body: dict
) -> tuple[int, dict]:
    """Send ``body`` as JSON to a live server (the ``server`` fixture's URL);
    return the status and the JSON answer, error statuses included."""
    request = urllib.request.Request(
        server + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def snapshot(app) -> dict[str, list[Any]]:
    """Every document of every collection, to compare before and after a request."""
    from app.db import get_db

    with app.app_context():
        database = get_db()
        return {
            name: sorted(database[name].find({}), key=lambda doc: str(doc["_id"]))
            for name in sorted(database.list_collection_names())
        }


def url_quote(text: str) -> str:
    """Percent-encode any text for a path or query, lone surrogates included.

    A lone surrogate has no UTF-8 form; ``surrogatepass`` writes the bytes a
    careless client would send (``%ED%A0%80`` for U+D800).
    """
    return quote(text, safe="", errors="surrogatepass")


def make_app(config: type | None = None, client: Any = None):
    """A fresh app on its own in-memory database (or on ``client``)."""
    from app import create_app
    from app.config import TestConfig
    from app.db import memory_client

    return create_app(
        config or TestConfig,
        mongo_client=client or memory_client(),
    )


def sent_reset_code(app, username: str) -> str | None:
    """The code of the newest password reset message queued for ``username``
    (read from the outbox, as the console sender would print it), or None."""
    import re

    # Past any recording or fault-injecting wrapper: a test's look, not the app's.
    database = app.extensions["mongo_db"]
    while hasattr(database, "_database"):
        database = database._database
    user = database["users"].find_one({"username": username})
    if user is None:
        return None
    messages = database["notifications"].find(
        {"user_id": user["_id"], "event": "password_reset_code"},
        sort=[("created_at", -1), ("_id", -1)],
        limit=1,
    )
    found = [re.search(r"\b[0-9]{8}\b", m["body"] or "") for m in messages]
    return found[0].group() if found and found[0] else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(port: int | None = None, **settings: str) -> dict:
    """The environment of a server started as a subprocess: this one's, the
    in-memory database, development mode, quiet logs, ``settings`` on top."""
    env = {
        **os.environ,
        "MONGO_URI": "mongomock://",
        "APP_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    if port is not None:
        env.update({"HOST": "127.0.0.1", "PORT": str(port)})
    return {**env, **settings}
