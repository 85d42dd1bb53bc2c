"""Settings read from the environment (and a .env file), with safe defaults."""

import os
from datetime import timedelta
from decimal import Decimal

from dotenv import load_dotenv

load_dotenv()


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


class Config:
    """Development defaults; every value can be overridden by the environment."""

    APP_ENV = _env("APP_ENV", "development")
    MONGO_URI = _env("MONGO_URI", "mongomock://")
    MONGO_DB_NAME = _env("MONGO_DB_NAME", "bank")
    MONGO_TIMEOUT_MS = _env_int("MONGO_TIMEOUT_MS", 5000)
    JWT_SECRET_KEY = _env("JWT_SECRET_KEY")
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(
        seconds=_env_int("JWT_ACCESS_TOKEN_EXPIRES", 15 * 60)
    )
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(
        seconds=_env_int("JWT_REFRESH_TOKEN_EXPIRES", 30 * 24 * 3600)
    )
    HOST = _env("HOST", "127.0.0.1")
    PORT = _env_int("PORT", 5000)
    CURRENCY = _env("CURRENCY", "USD")
    MAX_TRANSACTION_AMOUNT = Decimal(_env("MAX_TRANSACTION_AMOUNT", "1000000.00"))
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 64 * 1024)
    # OWASP's scrypt minimum (N=2^15, r=8, p=3); werkzeug's default p=1 is below it.
    PASSWORD_HASH_METHOD = _env("PASSWORD_HASH_METHOD", "scrypt:32768:8:3")
    BOOTSTRAP_BANKER_USERNAME = _env("BOOTSTRAP_BANKER_USERNAME")
    BOOTSTRAP_BANKER_PASSWORD = _env("BOOTSTRAP_BANKER_PASSWORD")
    MAX_ACCOUNTS_PER_CUSTOMER = _env_int("MAX_ACCOUNTS_PER_CUSTOMER", 10)
    # A movement pending longer than this was abandoned by a crashed request:
    # recovery settles it, a retry of its Idempotency-Key settles it, and
    # `flask ledger check` reports it.
    LEDGER_PENDING_TIMEOUT = timedelta(seconds=_env_int("LEDGER_PENDING_TIMEOUT", 60))
    LEDGER_RECOVER_ON_START = _env("LEDGER_RECOVER_ON_START", "true") == "true"
    IDEMPOTENCY_KEY_TTL = timedelta(seconds=_env_int("IDEMPOTENCY_KEY_TTL", 86400))
    # Brute force: this many failed logins for one username within the window
    # lock that username out (429 too_many_attempts) until the window passes.
    LOGIN_MAX_FAILURES = _env_int("LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCKOUT_SECONDS = _env_int("LOGIN_LOCKOUT_SECONDS", 900)
    # flask-limiter: one budget per client address for all /auth/* routes, one
    # per user for the money routes. Stored in MongoDB when MONGO_URI is a real
    # server (shared by every process), in memory otherwise.
    RATELIMIT_ENABLED = _env("RATELIMIT_ENABLED", "true") == "true"
    RATELIMIT_AUTH = _env("RATELIMIT_AUTH", "30 per minute")
    RATELIMIT_MONEY = _env("RATELIMIT_MONEY", "300 per minute")
    # Comma-separated origins allowed to call the API from a browser; none by default.
    CORS_ORIGINS = _env("CORS_ORIGINS", "")
    # HMAC-SHA256 key of the audit log's seals. Unset: seals are plain SHA-256,
    # which anyone who can write the database can recompute (a warning in
    # production). Set it before the first seal: seals under another key, or
    # none, never verify.
    AUDIT_SEAL_KEY = _env("AUDIT_SEAL_KEY")
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    TESTING = False


class TestConfig(Config):
    """Isolated, fast settings for the test suite."""

    TESTING = True
    APP_ENV = "testing"
    MONGO_URI = "mongomock://"
    MONGO_DB_NAME = "bank_test"
    JWT_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"  # noqa: S105
    # A cheap scrypt cost keeps the suite fast; production uses the default above.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"  # noqa: S105
    BOOTSTRAP_BANKER_USERNAME = None
    BOOTSTRAP_BANKER_PASSWORD = None
    # Off except in the tests of the limits themselves.
    RATELIMIT_ENABLED = False
