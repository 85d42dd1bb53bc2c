"""Request-body parsing that never lets a float, a 415 or a RecursionError out."""

import json
from decimal import Decimal

from flask import request

from app.errors import InvalidJsonError

_PARSED = "bank.json_body"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_body() -> object:
    """Parse the request body as JSON with exact numbers.

    Numbers become Decimal (never binary floats); NaN/Infinity tokens, a wrong
    Content-Type, an empty or malformed body and nesting too deep to parse are
    all ``400 invalid_json``.

    :raises InvalidJsonError: the body is not a JSON document.
    """
    # Parsed once per request (the idempotency fingerprint reads it too). Kept in
    # the WSGI environ, which belongs to this request alone; ``g`` can outlive
    # a request when an app context is already pushed.
    if _PARSED in request.environ:
        return request.environ[_PARSED]
    if request.mimetype != "application/json":
        raise InvalidJsonError()
    raw = request.get_data(cache=True)
    try:
        body = json.loads(
            raw,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and bad UTF-8 (UnicodeDecodeError).
        raise InvalidJsonError() from exc
    request.environ[_PARSED] = body
    return body


def query_args() -> dict:
    """Return the query string as a plain dict (first value of each name)."""
    return request.args.to_dict(flat=True)
