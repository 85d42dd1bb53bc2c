"""Verified access tokens, remembered for the rest of their life.

A client sends the same token with every request until it expires, and
flask-jwt-extended verifies it from scratch each time: PyJWT decodes the header
and the claims twice (once unverified, to find the key; once verified) and
checks every base64 character in Python -- about half the time of a GET
/balance. What that verification establishes does not change while the token
lives: the signature, the issuer, the audience, ``nbf`` (already passed) all
hold until ``exp``. So a token that verified is kept here, with its claims,
until its ``exp``; a hit returns a copy of the claims.

What is *not* remembered: everything that can change while a token lives. The
session check, the user look-up (disabled, deleted, password changed) and the
role check run on every request as before (app/security.py). A token that fails
verification is never stored, an expired one is dropped and verified again
(so it is refused with ``token_expired`` as usual), and each app has its own
cache (its own secret). Bounded: the least recently used token goes first.
"""

import threading
import time
from collections import OrderedDict

from flask import current_app
from flask_jwt_extended import JWTManager

CACHE_SIZE = 4096
_EXTENSION = "bank.verified_tokens"


class VerifiedTokens:
    """Tokens whose verification passed, each with its claims and ``exp``."""

    def __init__(self, size: int = CACHE_SIZE, clock=time.time) -> None:
        self.size = size
        self.clock = clock
        self._tokens: OrderedDict[str, tuple[dict, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> dict | None:
        """The claims of ``token`` if it verified and has not expired since."""
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            claims, expires = found
            if self.clock() >= expires:
                del self._tokens[token]
                return None
            self._tokens.move_to_end(token)
            return dict(claims)

    def put(self, token: str, claims: dict) -> None:
        """Remember a token that verified, until its ``exp`` (none: not kept)."""
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return
        with self._lock:
            self._tokens[token] = (dict(claims), float(expires))
            self._tokens.move_to_end(token)
            while len(self._tokens) > self.size:
                self._tokens.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tokens)


def verified_tokens() -> VerifiedTokens:
    """The current app's cache (created on first use)."""
    return current_app.extensions.setdefault(_EXTENSION, VerifiedTokens())


class CachingJWTManager(JWTManager):
    """flask-jwt-extended's manager, verifying each token once per life."""

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value=None, allow_expired: bool = False
    ) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(
                encoded_token, csrf_value, allow_expired
            )
        cache = verified_tokens()
        claims = cache.get(encoded_token)
        if claims is None:
            claims = super()._decode_jwt_from_config(encoded_token)
            cache.put(encoded_token, claims)
        return claims
