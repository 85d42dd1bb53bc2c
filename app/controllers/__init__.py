"""The edge's controllers: validate input, call one use case, render the result.

One module per feature (accounts, movements, transfers, transactions, auth,
banker administration, audit, ledger, ops).
"""

from flask import g, has_request_context, request

from app.core.movements import Caller


def caller(user: dict) -> Caller:
    """The authenticated user with the request's address and id, for the core."""
    if not has_request_context():
        return Caller(user)
    return Caller(user, ip=request.remote_addr, request_id=g.get("request_id"))
