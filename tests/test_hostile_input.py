"""Hostile input is refused with a 4xx problem document, before anything changes.

Lone surrogates, invisible characters, repeated keys, deep nesting, extreme
numbers and dates, digits that are not ASCII and over-long chunked bodies are
each refused where they enter (the body parser, a schema field, the body
stream), never a 500 and never half acted on. The sweep at the end sends all of
them to every route of the URL map.
"""

import base64
import io
import json
import logging
import socket
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from app import create_app
from app.config import TestConfig
from app.db import memory_client
from app.idempotency import canonical_json
from app.schemas.common import UTC_MAX, UTC_MIN, DateBound, plain_text
from tests.conftest import PASSWORD, register
from tests.factories import (
    auth_headers,
    balance_cents,
    flagged_deposit,
    fund,
    make_user,
)
from tests.helpers import PROBLEM, assert_problem, snapshot, url_quote

JSON = "application/json"
OID = "0123456789abcdef01234567"
PW = json.dumps(PASSWORD)


def post_raw(client, path: str, text: str | bytes, headers: dict | None = None):
    return client.post(path, data=text, content_type=JSON, headers=headers or {})


def cursor(text: str) -> str:
    """Encode ``text`` as the app encodes its cursors (unpadded URL-safe base64)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# -- 1. lone surrogates -------------------------------------------------------

# JSON text: ``\ud800`` is the six characters of the escape, as a client sends it.
SURROGATE_BODIES = [
    ("/auth/login", '{"username": "\\ud800", "password": "whatever1"}'),
    ("/auth/login", '{"username": "carol", "password": "\\udfff"}'),
    ("/auth/register",
     '{"username": "newbie", "password": ' + PW + ', "full_name": "Ann \\ud800"}'),
    ("/auth/register",
     '{"username": "newbie", "password": ' + PW + ', "email": "a\\udbff@x.org"}'),
    ("/auth/register", '{"username": "new\\ud800", "password": ' + PW + "}"),
    ("/auth/change-password", '{"current_password": "\\ud800", '
     '"new_password": "another-Passphrase-9"}'),
    ("/deposit", '{"amount": "1.00", "description": "\\ud800"}'),
    ("/deposit", '{"amount": "1.00", "\\ud800": 1}'),
    ("/deposit", '{"amount": "1.00", "x": [{"\\udc00": "a"}]}'),
    ("/deposit", '"\\ud800"'),
    ("/withdraw", '{"amount": "1.00", "description": "a\\ud800b"}'),
    ("/transfers", '{"amount": "1.00", "to_account_number": "1234567890", '
     '"description": "\\udfff"}'),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body"), SURROGATE_BODIES)
def test_lone_surrogate_anywhere_in_a_body_is_400_and_changes_nothing(
    app, client, customer, path, body
):
    before = snapshot(app)
    response = post_raw(client, path, body, customer["headers"])
    problem = assert_problem(response, 400, "invalid_json")
    assert "surrogate" in problem["detail"]
    assert snapshot(app) == before


def test_surrogate_password_guesses_do_not_count_toward_the_lockout(
    app, client, customer
):
    body = '{"username": "carol", "password": "\\ud800"}'
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 1):
        assert_problem(post_raw(client, "/auth/login", body), 400, "invalid_json")
    response = client.post(
        "/auth/login", json={"username": "carol", "password": PASSWORD}
    )
    assert response.status_code == 200


def test_a_surrogate_pair_is_text_and_is_accepted(client, customer):
    body = '{"amount": "1.00", "description": "\\ud83d\\ude00 ok"}'
    response = post_raw(client, "/deposit", body, customer["headers"])
    assert response.status_code == 201
    assert response.get_json()["transaction"]["description"] == "\U0001f600 ok"


@pytest.mark.parametrize(
    "name", ["Idempotency-Key", "X-Request-ID"], ids=["idempotency", "request_id"]
)
@pytest.mark.parametrize("value", ["\ud800", "\xe9t\xe9", "\x00", "a\u202eb"])
def test_non_ascii_headers_are_refused_or_ignored(app, client, customer, name, value):
    before = snapshot(app)
    response = client.post(
        "/deposit",
        json={"amount": "1.00"},
        headers={**customer["headers"], name: value},
    )
    if name == "Idempotency-Key":
        assert_problem(response, 422, "validation_error")
        assert snapshot(app) == before
    else:
        assert response.status_code == 201
        assert response.headers["X-Request-ID"] != value


# -- 2. nesting depth ---------------------------------------------------------


def nested_body(levels: int) -> str:
    """A deposit whose description nests ``levels`` containers, the body's included."""
    inner = "[" * (levels - 1) + "]" * (levels - 1)
    return '{"amount": "1.00", "description": ' + inner + "}"


@pytest.mark.parametrize("keyed", [False, True], ids=["no_key", "idempotency_key"])
@pytest.mark.parametrize("levels", [33, 600, 25_000])
def test_nesting_deeper_than_32_levels_is_400_and_moves_nothing(
    app, client, customer, levels, keyed
):
    headers = dict(customer["headers"])
    if keyed:
        headers["Idempotency-Key"] = f"deep-{levels}"
    before = snapshot(app)
    response = post_raw(client, "/deposit", nested_body(levels), headers)
    assert_problem(response, 400, "invalid_json")
    after = snapshot(app)
    # The contract replays a keyed 4xx, so the key's record is the one change.
    for state in (before, after):
        state.pop("idempotency_keys", None)
    assert after == before
    assert balance_cents(app, customer["account"]["account_number"]) == 0


def test_nesting_of_32_levels_still_parses(client, customer):
    response = post_raw(client, "/deposit", nested_body(32), customer["headers"])
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == ["description"]


def _tagged(value: Any) -> Any:
    """The fingerprint's form before it was made iterative: the reference."""
    if isinstance(value, dict):
        return {"o": {key: _tagged(item) for key, item in value.items()}}
    if isinstance(value, list):
        return {"a": [_tagged(item) for item in value]}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


@pytest.mark.parametrize(
    "document",
    [
        {"amount": Decimal("1.50"), "description": 'caf\xe9 \U0001f600 "q" \\'},
        {"b": [Decimal("1E+5"), None, True, False, [], {}], "a": {"z": "", "": []}},
        [{"k": [Decimal("-0")]}, "x"],
        Decimal("12"),
        "text",
        None,
    ],
)
def test_the_fingerprint_text_is_what_stored_keys_were_hashed_from(document):
    # A key claimed before an upgrade must still match its retry after it.
    reference = json.dumps(_tagged(document), sort_keys=True, separators=(",", ":"))
    assert canonical_json(document) == reference


def test_the_fingerprint_walks_any_depth_without_recursion():
    document: Any = [Decimal(1)]
    for _ in range(100_000):
        document = {"a": [document]}
    text = canonical_json(document)
    assert text.startswith('{"o":{"a":{"a":[{"o":') and text.count("[") == 100_001


# -- 3. extreme date bounds ---------------------------------------------------

LISTS = [
    ("/transactions", "customer"),
    ("/banker/transactions", "banker"),
    ("/audit/events", "banker"),
]
# Beyond the range once in UTC: clamped, so each still selects everything.
EVERYTHING = [
    {"to": "9999-12-31"},
    {"to": "9999-12-31T23:59:59-10:00"},
    {"to": "9999-12-31T23:59:59.999999+00:00"},
    {"from": "0001-01-01T00:00:00+14:00"},
    {"from": "0001-01-01", "to": "9999-12-31"},
]


@pytest.mark.parametrize(("path", "who"), LISTS, ids=[p for p, _ in LISTS])
@pytest.mark.parametrize("query", EVERYTHING, ids=lambda q: "&".join(q.values()))
def test_extreme_date_bounds_are_clamped_to_the_range(
    client, customer, banker, path, who, query
):
    assert client.post(
        "/deposit", json={"amount": "1.00"}, headers=customer["headers"]
    ).status_code == 201  # fmt: skip
    headers = customer["headers"] if who == "customer" else banker["headers"]
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["items"]


@pytest.mark.parametrize(("path", "who"), LISTS, ids=[p for p, _ in LISTS])
def test_a_from_beyond_the_range_selects_nothing(client, customer, banker, path, who):
    headers = customer["headers"] if who == "customer" else banker["headers"]
    query = {"from": "9999-12-31T23:59:59-10:00"}
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["items"] == []
    # Both clamp to the same instant, yet they are judged where they fall:
    # 10000-01-01T00:00Z ends before 10000-01-01T09:59:59Z begins.
    query["to"] = "9999-12-31"
    body = assert_problem(
        client.get(path, query_string=query, headers=headers), 422, "validation_error"
    )
    assert list(body["errors"]) == ["to"]
    query["to"] = "9999-12-31T23:59:59-11:00"  # an hour after "from"
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["items"] == []


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("9999-12-31", True, UTC_MAX),
        ("9999-12-31", False, datetime(9999, 12, 31, tzinfo=UTC)),
        ("9999-12-31T23:59:59-10:00", False, UTC_MAX),
        ("9999-12-31T23:59:59.999+00:00", True, UTC_MAX),
        ("0001-01-01T00:00:00+14:00", False, UTC_MIN),
        ("0001-01-01T00:00:00+14:00", True, UTC_MIN),
        ("2026-11-21", True, datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11-21T09:30:00.1239+01:00", False,
         datetime(2026, 11, 21, 8, 30, 0, 123000, tzinfo=UTC)),
        ("2026-11-21T09:30:00", True,
         datetime(2026, 11, 21, 9, 30, 0, 1000, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_date_bound_converts_to_utc_and_clamps_at_the_ends(text, end, expected):
    assert DateBound(end=end).deserialize(text) == expected


# -- 4. cursors with digits that are not ASCII --------------------------------

KEYSET_LISTS = [
    ("/transactions", "customer"),
    ("/accounts", "customer"),
    ("/auth/logins", "customer"),
    ("/banker/accounts", "banker"),
    ("/banker/transactions", "banker"),
]
# str.isdigit() is true for each; int() refuses the first and reads the others.
ODD_DIGITS = ["\xb2", "\u0663", "\uff11", "1\u0663"]


@pytest.mark.parametrize("digits", ODD_DIGITS, ids=ascii)
def test_audit_cursor_with_non_ascii_digits_is_422(client, banker, digits):
    query = {"cursor": cursor(f"seq:{digits}")}
    response = client.get(
        "/audit/events", query_string=query, headers=banker["headers"]
    )
    assert assert_problem(response, 422, "validation_error")["errors"] == {
        "cursor": ["Invalid cursor."]
    }


@pytest.mark.parametrize("digits", ODD_DIGITS, ids=ascii)
@pytest.mark.parametrize(
    ("path", "who"), KEYSET_LISTS, ids=[p for p, _ in KEYSET_LISTS]
)
def test_keyset_cursor_with_non_ascii_digits_is_422(
    client, customer, banker, path, who, digits
):
    headers = customer["headers"] if who == "customer" else banker["headers"]
    query = {"cursor": cursor(f"{digits}:{OID}")}
    response = client.get(path, query_string=query, headers=headers)
    assert assert_problem(response, 422, "validation_error")["errors"] == {
        "cursor": ["Invalid cursor."]
    }


def test_ascii_digit_cursors_still_work(client, banker):
    response = client.get(
        "/audit/events",
        # The audit log's cursor is the keyset one (at, id), like every list's.
        query_string={"cursor": cursor(f"99:{OID}")},
        headers=banker["headers"],
    )
    assert response.status_code == 200


# -- 5. a chunked body over MAX_CONTENT_LENGTH --------------------------------


def chunked(client, path: str, body: bytes, headers: dict, environ: dict | None = None):
    """POST ``body`` as a server hands on a chunked body, with no Content-Length.

    werkzeug's server and gunicorn both de-chunk and set wsgi.input_terminated.
    """
    return client.post(
        path,
        headers={"Content-Type": JSON, "Transfer-Encoding": "chunked", **headers},
        environ_overrides={
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            **(environ or {}),
        },
    )


def over_limit_deposit(limit: int) -> bytes:
    """A deposit of 1.00 padded to exactly ``limit`` bytes, then more."""
    return b'{"amount": "1.00"}'.ljust(limit) + b'{"amount": "500.00"}'


@pytest.mark.parametrize(
    ("extra", "environ"),
    [
        ({}, {}),
        ({"Idempotency-Key": "chunked-over"}, {}),
        ({}, {"CONTENT_LENGTH": "18"}),
    ],
    ids=["plain", "idempotency_key", "with_a_small_content_length"],
)
def test_chunked_body_over_limit_is_413_and_moves_nothing(
    app, client, customer, extra, environ
):
    # A Content-Length beside Transfer-Encoding: chunked is ignored (RFC 9112);
    # werkzeug's server passes both on, and the limit must still hold.
    before = snapshot(app)
    body = over_limit_deposit(app.config["MAX_CONTENT_LENGTH"])
    response = chunked(
        client, "/deposit", body, {**customer["headers"], **extra}, environ
    )
    assert_problem(response, 413, "payload_too_large")
    assert snapshot(app) == before


@pytest.mark.parametrize("short", [0, 1, 60_000])
def test_chunked_body_within_limit_is_read_whole(app, client, customer, short):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"amount": "1.00"}'.ljust(limit - short)
    response = chunked(client, "/deposit", body, customer["headers"])
    assert response.status_code == 201, response.get_json()
    assert balance_cents(app, customer["account"]["account_number"]) == 100


def raw_chunked_post(base_url: str, path: str, headers: dict, body: bytes):
    """Send ``body`` chunked over a raw socket; return (status, headers, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
             "Transfer-Encoding: chunked", f"Content-Type: {JSON}",
             "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for start in range(0, len(body), 8192):
            piece = body[start : start + 8192]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        # The dev server drains what is left of a refused body until the end
        # of the stream before it closes: say where that is.
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while data := sock.recv(65536):
            received += data
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), found, content


def test_chunked_body_over_limit_is_413_from_a_real_server(app, customer, server):
    body = over_limit_deposit(app.config["MAX_CONTENT_LENGTH"])
    status, headers, content = raw_chunked_post(
        server, "/deposit", customer["headers"], body
    )
    assert status == 413
    assert headers["Content-Type"] == PROBLEM
    assert json.loads(content)["code"] == "payload_too_large"
    assert balance_cents(app, customer["account"]["account_number"]) == 0
    small = b'{"amount": "2.00"}'
    status, _headers, _content = raw_chunked_post(
        server, "/deposit", customer["headers"], small
    )
    assert status == 201
    assert balance_cents(app, customer["account"]["account_number"]) == 200


# -- 6. invisible characters in text ------------------------------------------

INVISIBLE = [
    "\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u061c",
    "\u200b", "\u200e", "\u2060", "\ufeff", "\u00ad", "\U000e0001",  # Cf
    "\u0085", "\u009b", "\x00", "\x1b", "\x7f",  # Cc
    "\u2028", "\u2029",  # Zl, Zp
]  # fmt: skip
# (path, role, field, the rest of a valid body)
TEXT_FIELDS = [
    ("/deposit", "customer", "description", {"amount": "1.00"}),
    ("/withdraw", "customer", "description", {"amount": "1.00"}),
    ("/transfers", "customer", "description",
     {"amount": "1.00", "to_account_number": "1234567890"}),
    ("/auth/register", None, "full_name", {"username": "newbie", "password": PASSWORD}),
    ("/auth/register", None, "email", {"username": "newbie", "password": PASSWORD}),
    ("/banker/customers", "banker", "full_name",
     {"username": "newbie", "password": PASSWORD}),
    ("/banker/customers", "banker", "email",
     {"username": "newbie", "password": PASSWORD}),
    ("/auth/login", None, "username", {"password": PASSWORD}),
    ("/banker/accounts", "banker", "username", {"kind": "savings"}),
    ("/banker/loan-products", "banker", "name",
     {"annual_rate": "5.00", "min_amount": "100.00", "max_amount": "200.00",
      "min_term_months": 1, "max_term_months": 2}),
    ("/loans", "customer", "purpose",
     {"product_id": "0" * 24, "amount": "100.00", "term_months": 1}),
    (f"/banker/approvals/{OID}/reject", "banker", "reason", {}),
]  # fmt: skip
QUERY_TEXT_FIELDS = [
    ("/banker/accounts", "q"),
    ("/banker/transactions", "username"),
    ("/audit/events", "actor"),
]


def test_a_reject_without_a_reason_is_422_naming_it(client, banker):
    """Judged before the approval is looked up: the same for any id."""
    for body in ({}, {"reason": None}, {"reason": ""}):
        response = client.post(
            f"/banker/approvals/{OID}/reject", json=body, headers=banker["headers"]
        )
        problem = assert_problem(response, 422, "validation_error")
        assert list(problem["errors"]) == ["reason"], problem


def text_value(field: str, char: str) -> str:
    if field == "email":
        # In the domain: marshmallow's Email refuses most of them in the local part.
        return f"newbie@exam{char}ple.com"
    return f"car{char}ol"


@pytest.mark.parametrize(
    ("path", "who", "field", "rest"),
    TEXT_FIELDS,
    ids=[f"{path}-{field}" for path, _who, field, _rest in TEXT_FIELDS],
)
def test_invisible_characters_in_text_fields_are_422_and_change_nothing(
    app, client, customer, banker, path, who, field, rest
):
    headers = {"customer": customer, "banker": banker}.get(who, {}).get("headers", {})
    before = snapshot(app)
    for char in INVISIBLE:
        body = {**rest, field: text_value(field, char)}
        response = client.post(path, json=body, headers=headers)
        problem = assert_problem(response, 422, "validation_error")
        assert field in problem["errors"], (ascii(char), problem)
    assert snapshot(app) == before


@pytest.mark.parametrize(("path", "name"), QUERY_TEXT_FIELDS)
def test_invisible_characters_in_text_queries_are_422(client, banker, path, name):
    for char in INVISIBLE:
        query = f"{name}={url_quote('car' + char + 'ol')}"
        response = client.get(path, query_string=query, headers=banker["headers"])
        assert name in assert_problem(response, 422, "validation_error")["errors"]


def test_visible_unicode_text_is_accepted(client, customer):
    description = "Caf\xe9 \u2013 \u65e5\u672c\u8a9e \u05e2\u05d1 \U0001f600\ufe0f x"
    response = client.post(
        "/deposit",
        json={"amount": "1.00", "description": description},
        headers=customer["headers"],
    )
    assert response.status_code == 201
    assert response.get_json()["transaction"]["description"] == description
    response = client.post(
        "/auth/register",
        json={"username": "zoe", "password": PASSWORD,
              "full_name": "Zo\xeb \u0141ukasz O'Brien-Smith"},
    )  # fmt: skip
    assert response.status_code == 201


def test_plain_text_names_what_it_refuses():
    for char in INVISIBLE:
        with pytest.raises(ValidationError, match="Must not contain control"):
            plain_text(f"a{char}b")
    plain_text("tab-less, visible text \u00e9\u4e2d \U0001f600")


# -- 7. repeated keys and parameters ------------------------------------------

DUPLICATE_BODIES = [
    ("/deposit", '{"amount": 1, "amount": 2}'),
    ("/deposit", '{"amount": "1.00", "description": "a", "description": "b"}'),
    ("/deposit", '{"amount": "1.00", "description": {"a": 1, "a": 2}}'),
    ("/deposit", '{"amount": "1.00", "x": [1, {"k": 1, "k": 1}]}'),
    ("/auth/login", '{"username": "carol", "username": "dave", "password": "x"}'),
    ("/auth/register",
     '{"username": "newbie", "username": "other", "password": ' + PW + "}"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body"), DUPLICATE_BODIES)
def test_a_key_repeated_in_an_object_is_400_and_changes_nothing(
    app, client, customer, path, body
):
    before = snapshot(app)
    response = post_raw(client, path, body, customer["headers"])
    assert "repeats a key" in assert_problem(response, 400, "invalid_json")["detail"]
    assert snapshot(app) == before


def test_the_same_key_in_different_objects_is_not_a_repeat(client, customer):
    body = '{"amount": "1.00", "description": null}'
    response = post_raw(client, "/deposit", body, customer["headers"])
    assert response.status_code == 201


@pytest.mark.parametrize(
    "query", ["type=deposit&type=withdrawal", "limit=1&limit=100", "limit=5&limit=5"]
)
def test_a_repeated_query_parameter_is_422(client, customer, query):
    response = client.get(
        "/transactions", query_string=query, headers=customer["headers"]
    )
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == [query.split("=")[0]]


# -- sibling: text that reaches the access log --------------------------------


def test_the_access_log_escapes_control_characters_in_the_path(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/no/such%0Amethod=GET path=/forged%E2%80%AE")
    lines = [r.getMessage() for r in caplog.records if r.name == "app.access"]
    assert len(lines) == 1
    assert "\n" not in lines[0] and "\u202e" not in lines[0]
    assert "path=/no/such\\nmethod=GET path=/forged\\u202e status=404" in lines[0]


def test_a_strangers_user_agent_reaches_the_login_history_escaped(client, customer):
    # Anyone may try a login under carol's name; she sees their User-Agent.
    agent = "Mozilla/5.0 \u202eexe.eciovni\x85"
    response = client.post(
        "/auth/login",
        json={"username": "carol", "password": "not-her-password"},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 401
    items = client.get("/auth/logins", headers=customer["headers"]).get_json()["items"]
    assert items[0]["user_agent"] == "Mozilla/5.0 \\u202eexe.eciovni\\x85"


# -- the sweep: every route, every kind of hostile input ----------------------

PUBLIC = {"/health", "/openapi.json", "/docs", "/redoc", "/docs/assets/<path:filename>",
          "/static/<path:filename>", "/auth/register", "/auth/login",
          "/auth/password-reset", "/auth/password-reset/confirm",
          # The web front end's page and files take no token.
          "/app", "/app/", "/app/<path:path>", "/app/assets/<path:filename>",
          # Probes take no token; /metrics takes METRICS_TOKEN, not a JWT
          # (and is off, a 404, by default).
          "/health/live", "/health/ready", "/metrics"}  # fmt: skip
# Strings, each sent in every body field, query parameter and path parameter.
HOSTILE_STRINGS = [
    "\ud800", "\udfff", "a\udbffb",  # lone surrogates
    "\u202e", "\u2066x\u2069", "\u200b", "\ufeff", "\u0085", "\u009b", "\u2028",
    "\x00", "\x1b[31m",  # invisible and control characters
    "1e999999", "-1e999999", "1e-999999", "-0", "9" * 5000, "0." + "0" * 400 + "1",
    "\xb2", "\u0663\u0663", "\uff11",  # digits that are not ASCII
    "9999-12-31", "0001-01-01", "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-10:00", "9999-12-31T23:59:59.999999+00:00",
    "", " ", "x" * 300, "../../etc/passwd", "%00", "$gt", "a.b",
]  # fmt: skip
# JSON values written as text, for body fields: numbers no float can hold.
HOSTILE_JSON = [
    "1e999999", "-1e999999", "1e-999999", str(10**400), "-" + str(10**400),
    "-0", "-0.0", "0e999999", "9" * 5000, "1E+999999999999999999", "0.1",
    "true", "null", "[]", "{}", '{"$gt": ""}',
]  # fmt: skip
# Whole bodies, sent to every POST and PATCH: a route that reads a body must
# answer 400 to the first kind and 422 to the second (JSON of the wrong shape).
UNPARSEABLE_BODIES: list[str | bytes] = [
    nested_body(33), nested_body(600), nested_body(25_000),
    '"\\ud800"', '{"\\ud800": 1}', '{"a": 1, "a": 1}',
    '{"a": {"b": [{"c": 1, "c": 2}]}}', b'{"a": "\xff"}', b'{"a": "\xed\xa0\x80"}',
]  # fmt: skip
MISSHAPEN_BODIES: list[str | bytes] = [
    "1e999999", str(10**400), "-0", "[]", "null", '"x"', b"\xef\xbb\xbf{}",
]  # fmt: skip
HOSTILE_CURSORS = [
    cursor(text)
    for text in (
        "seq:\xb2", "seq:\u0663", "seq:" + "9" * 20, "seq:-1", "seq:",
        f"\xb2:{OID}", f"\u0663:{OID}", f"{'9' * 40}:{OID}", f"-1:{OID}",
        f"1:{OID}:x", "\ud7ff:x",
    )
]  # fmt: skip
HOSTILE_HEADERS = [
    {"X-Request-ID": "\ud800"}, {"X-Request-ID": "a\u202eb"},
    {"Idempotency-Key": "\x00"}, {"Idempotency-Key": "\xe9"},
    {"Idempotency-Key": "x" * 256}, {"Authorization": "Bearer \xe9.\x00.x"},
    {"Authorization": "Bearer " + "a" * 5000},
]  # fmt: skip


class Sweep:
    """One app with a funded customer and a banker, and a counter of requests."""

    def __init__(self) -> None:
        self.app = create_app(
            TestConfig, mongo_client=memory_client()
        )
        self.client = self.app.test_client()
        customer = register(self.client, "carol")
        dave = register(self.client, "dave")
        fund(self.app, customer["account"]["account_number"], 10**9)
        self.objects = {
            "<account_number>": customer["account"]["account_number"],
            "<user_id>": customer["user"]["id"],
            "<path:filename>": "redoc/VERSION.md",
            # Dave's large deposit, flagged: its review is open until closed
            # (a fraud close freezes dave's account, which nothing else uses).
            "<review_id>": flagged_deposit(
                self.app, dave["account"]["account_number"]
            ),
        }
        # Carol's withdrawal of 10000.00, waiting for a banker until decided.
        self.objects["<approval_id>"] = self.client.post(
            "/withdraw", json={"amount": "10000.00"}, headers=customer["headers"]
        ).get_json()["approval"]["id"]
        banker = make_user(self.app, "bernie", PASSWORD, role="banker")
        refresh = self.client.post(
            "/auth/login", json={"username": "carol", "password": PASSWORD}
        ).get_json()["refresh_token"]
        self.headers = {
            "customer": customer["headers"],
            "banker": auth_headers(self.app, banker),
            "refresh": {"Authorization": f"Bearer {refresh}"},
        }
        self.spec = self.client.get("/openapi.json").get_json()
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.token_refusals = 0
        self.failures: list[str] = []

    def headers_for(self, rule: str) -> dict:
        if rule == "/auth/logout":
            # Logging out ends the session: each request ends a fresh one.
            with self.app.app_context():
                from app.models.user import UserModel

                user = UserModel().find_by_username("carol")
            return auth_headers(self.app, user)
        if rule == "/auth/refresh":
            return dict(self.headers["refresh"])
        if rule.startswith(("/banker/", "/audit/")):
            return dict(self.headers["banker"])
        return dict(self.headers["customer"])

    def send(
        self, method: str, path: str, what: str, expect: int = 0, **kwargs: Any
    ) -> None:
        """Send one request; note a 5xx, an error that is no problem document, or
        (given ``expect``) any other status than the one expected."""
        self.sent += 1
        response = self.client.open(path, method=method, **kwargs)
        status = response.status_code
        self.statuses[status] += 1
        if status == 401 and response.get_json()["code"].startswith("token_"):
            self.token_refusals += 1
        if (
            status >= 500
            or (status >= 400 and response.mimetype != PROBLEM)
            or (expect and status != expect)
        ):
            self.failures.append(
                f"{method} {path} [{what}]: {status} {response.mimetype}"
            )

    def operation(self, method: str, rule: str) -> dict:
        path = rule.replace("<", "{").replace(">", "}").replace("{path:", "{")
        return self.spec["paths"].get(path, {}).get(method.lower(), {})

    def body_fields(self, operation: dict) -> tuple[dict, list[str]]:
        """The documented example body and every property of the body's schema."""
        content = operation.get("requestBody", {}).get("content", {}).get(JSON, {})
        ref = content.get("schema", {}).get("$ref", "")
        schema = self.spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        return content.get("example", {}), sorted(schema.get("properties", {}))


def concrete(rule: str, sweep: Sweep, keep: str = "") -> str:
    """The rule with real path parameters (the customer's own objects)."""
    if rule.startswith("/docs/assets/") and keep != "<path:filename>":
        rule = rule.replace("<path:filename>", "swagger-ui.css")
    for placeholder, value in sweep.objects.items():
        if placeholder != keep:
            rule = rule.replace(placeholder, value)
    return rule


def sweep_route(sweep: Sweep, method: str, rule: str) -> None:
    operation = sweep.operation(method, rule)
    example, fields = sweep.body_fields(operation)
    path = concrete(rule, sweep)
    # Path parameters, with the documented body so the look-up is reached.
    for placeholder in [p for p in sweep.objects if p in rule]:
        body = {} if method == "GET" else {"json": example}
        for value in HOSTILE_STRINGS:
            hostile = concrete(rule, sweep, keep=placeholder)
            hostile = hostile.replace(placeholder, url_quote(value) or "%20")
            sweep.send(
                method, hostile, f"path {placeholder}",
                headers=sweep.headers_for(rule), **body,
            )  # fmt: skip
    # Query parameters: the documented ones, a repeated one and an unknown one.
    params = [
        p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
    ]
    for name in params:
        values = [url_quote(v) for v in HOSTILE_STRINGS]
        if name == "cursor":
            values += HOSTILE_CURSORS
        for value in values:
            sweep.send(
                method, path, f"query {name}",
                query_string=f"{name}={value}", headers=sweep.headers_for(rule),
            )  # fmt: skip
        sweep.send(
            method, path, f"repeated {name}",
            query_string=f"{name}=1&{name}=2", headers=sweep.headers_for(rule),
        )  # fmt: skip
    sweep.send(
        method, path, "unknown query",
        query_string=f"{url_quote(chr(0xD800))}=1", headers=sweep.headers_for(rule),
    )  # fmt: skip
    # Headers.
    for extra in HOSTILE_HEADERS:
        sweep.send(method, path, f"header {sorted(extra)[0]}",
                   headers={**sweep.headers_for(rule), **extra})  # fmt: skip
    if method not in ("POST", "PATCH", "PUT"):
        return
    # Bodies: each field of the documented body, then whole hostile bodies.
    for field in fields:
        values = [json.dumps(v) for v in HOSTILE_STRINGS] + HOSTILE_JSON
        for value in values:
            rest = ", ".join(
                f"{json.dumps(k)}: {json.dumps(v)}"
                for k, v in example.items()
                if k != field
            )
            text = "{" + ", ".join(filter(None, [rest, f'"{field}": {value}'])) + "}"
            sweep.send(method, path, f"body {field}", data=text, content_type=JSON,
                       headers=sweep.headers_for(rule))  # fmt: skip
    reads_body = bool(fields)
    for expected, bodies in ((400, UNPARSEABLE_BODIES), (422, MISSHAPEN_BODIES)):
        for index, body in enumerate(bodies):
            for keyed in (False, True):
                headers = sweep.headers_for(rule)
                if keyed:
                    headers["Idempotency-Key"] = f"sweep-{sweep.sent}"
                sweep.send(
                    method, path, f"body {expected}#{index} keyed={keyed}",
                    expect=expected if reads_body else 0,
                    data=body, content_type=JSON, headers=headers,
                )  # fmt: skip
    # A chunked body one byte over the limit, its first 64 KiB a valid request.
    limit = sweep.app.config["MAX_CONTENT_LENGTH"]
    text = json.dumps(example).encode().ljust(limit) + b"x"
    stream = {"wsgi.input": io.BytesIO(text), "wsgi.input_terminated": True}
    sweep.send(
        method, path, "chunked over the limit", expect=413 if reads_body else 0,
        headers={**sweep.headers_for(rule), "Transfer-Encoding": "chunked"},
        content_type=JSON, environ_overrides=stream,
    )  # fmt: skip


def test_hostile_input_sweep_finds_no_5xx_and_only_problem_documents(capsys):
    started = time.perf_counter()
    sweep = Sweep()
    routes = sorted(
        (method, rule.rule)
        for rule in sweep.app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )
    assert len(routes) >= 31  # every route of the access matrix
    for method, rule in routes:
        sweep_route(sweep, method, rule)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nhostile-input sweep: {sweep.sent} requests in {elapsed:.1f} s, "
            f"statuses {dict(sorted(sweep.statuses.items()))}"
        )
    assert sweep.failures == []
    assert sweep.sent >= 3000
    # The callers stayed signed in, so the input reached the validation it
    # targets: the only tokens refused are the two hostile Authorization headers.
    authenticated = [rule for _method, rule in routes if rule not in PUBLIC]
    assert sweep.token_refusals == 2 * len(authenticated)
    assert sweep.statuses[422] + sweep.statuses[400] > sweep.sent // 2
