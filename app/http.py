"""Reading requests: bodies refused over the limit, JSON parsed strictly, queries;
and answering with JSON or a rendered file.

Body parsing never lets a float, a 415 or a RecursionError out.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import IO

from flask import Flask, Request, Response, request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Map
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from app.errors import InvalidJsonError

_PARSED = "bank.json_body"
# The API's request bodies are flat objects; 32 levels leave room for any honest
# client and keep every later walk of the body (validation, the idempotency
# fingerprint) far from Python's recursion limit.
MAX_JSON_DEPTH = 32
# A UTF-16 surrogate code point cannot be encoded as UTF-8 (nor stored as BSON);
# JSON smuggles one in as a lone "\ud800" escape.
_SURROGATE = re.compile("[\ud800-\udfff]")


class _BoundedStream(LimitedStream):
    """A request body of unknown length that may hold at most ``limit`` bytes.

    werkzeug stops a length-less (chunked) body at ``MAX_CONTENT_LENGTH`` without
    a word when it is exactly full, so the first 64 KiB of a longer body would be
    parsed and acted on. This stream lets one byte more through and answers it
    with 413, so a body over the limit is refused instead of cut.
    """

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream, limit + 1, is_max=True)

    def readinto(self, b: bytearray) -> int | None:  # type: ignore[override]
        size = super().readinto(b)
        if self.tell() >= self.limit:
            raise RequestEntityTooLarge()
        return size


class BankRequest(Request):
    """Flask's request, with a body over the limit refused however it is sent."""

    @cached_property
    def stream(self) -> IO[bytes]:  # type: ignore[override]
        limit = self.max_content_length
        # Only from a server that terminates the stream itself (one that
        # de-chunks) does werkzeug read a body up to the limit rather than up
        # to its Content-Length; that is where it cuts instead of refusing.
        if limit is None or self.shallow or "wsgi.input_terminated" not in self.environ:
            return super().stream
        if self.content_length is not None and self.content_length > limit:
            raise RequestEntityTooLarge()
        return _BoundedStream(self.environ["wsgi.input"], limit)


class _ExactMap(Map):
    """A URL map that matches paths as written.

    werkzeug merges repeated slashes by answering ``/auth//me`` with a 308
    redirect whose body is an HTML page, and Flask returns routing redirects
    without its error handlers. Here such a path is simply not a route: 404,
    a problem document like any other.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("merge_slashes", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class BankFlask(Flask):
    """Flask with the request and URL map above."""

    request_class = BankRequest
    url_map_class = _ExactMap


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _object(pairs: list[tuple[str, object]]) -> dict:
    """Build a JSON object; a key given twice is refused, never last-wins."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidJsonError("The JSON body repeats a key within one object.")
    return obj


def _check_document(body: object) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and strings that are not text.

    Iterative, so a document that the parser accepted cannot exhaust the stack
    here either.

    :raises InvalidJsonError: too deep, or a lone surrogate in a key or string.
    """
    pending: list[tuple[object, int]] = [(body, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE.search(value):
                raise InvalidJsonError(
                    "The JSON body holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                    "which is not Unicode text."
                )
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidJsonError(
                    f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
                )
            # An object's keys are strings to check as well as its values.
            children = [*value, *value.values()] if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def json_body() -> object:
    """Parse the request body as JSON with exact numbers.

    Numbers become Decimal (never binary floats); NaN/Infinity tokens, a wrong
    Content-Type, an empty or malformed body, nesting deeper than
    MAX_JSON_DEPTH, a key repeated within an object and a lone surrogate in any
    string are all ``400 invalid_json``, refused before anything acts on them.

    :raises InvalidJsonError: the body is not a JSON document.
    :raises RequestEntityTooLarge: the body is over MAX_CONTENT_LENGTH.
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
            object_pairs_hook=_object,
        )
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and bad UTF-8 (UnicodeDecodeError).
        raise InvalidJsonError() from exc
    _check_document(body)
    request.environ[_PARSED] = body
    return body


def query_args() -> dict:
    """Return the query string as a plain dict, each name given at most once.

    A repeated name (``?type=deposit&type=withdrawal``) is refused rather than
    read as its first value, which would answer a question the client did not ask.

    :raises ValidationError: a name appears more than once.
    """
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise ValidationError(
            {name: ["Must be given at most once."] for name in repeated}
        )
    return request.args.to_dict(flat=True)


@dataclass(frozen=True)
class File:
    """A rendered file to send as an attachment: its bytes, type and name."""

    body: bytes
    media_type: str
    filename: str


def file_or_json(result: dict | File) -> Response | tuple[dict, int]:
    """Answer a controller's result: a JSON body, or a file as an attachment."""
    if isinstance(result, File):
        return Response(
            result.body,
            status=200,
            mimetype=None,
            content_type=result.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{result.filename}"'
            },
        )
    return result, 200
