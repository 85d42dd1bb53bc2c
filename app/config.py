"""Settings from the environment (and a .env file), parsed strictly; safe defaults.

Every setting is parsed once, when this module is imported. A value that does
not parse does not fall back to a default: the first one found is kept as
:data:`SETTINGS_ERROR`, and start-up (``create_app``, ``python run.py``,
gunicorn, the ``flask`` command) stops with one line,
``error: <VARIABLE>: <what is wrong>``. Secret values never appear in it.

The value parsers are in :mod:`app.settings_parsing`; this module keeps the
list of settings. Neither imports anything else from the ``app`` package, so
gunicorn's master can check the settings (``gunicorn.conf.py`` loads both files
by path) without loading the application.
"""

import os
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv

# The parsers live in app.settings_parsing; the names the rest of the app
# has always imported from app.config are re-exported here.
from app.settings_parsing import (
    FALSE_WORDS,  # noqa: F401 (re-exported)
    MAX_SECONDS,
    MONGO_SCHEMES,  # noqa: F401 (re-exported)
    TRUE_WORDS,  # noqa: F401 (re-exported)
    ConfigError,  # noqa: F401 (re-exported)
    EnvReader,
    SettingError,
    StartupError,  # noqa: F401 (re-exported)
    check_currency,
    check_db_name,
    check_hash_method,
    check_host,
    check_mail_from,
    check_mongo_uri,
    check_origins,
    check_phone,
    check_recipients,
    check_smtp_username,
    check_timezone,
    check_twilio_sid,
    parse_boolean,  # noqa: F401 (re-exported)
    parse_choice,  # noqa: F401 (re-exported)
    recipients,
)

load_dotenv()

APP_ENVS = ("development", "production", "testing")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EMAIL_BACKENDS = ("console", "smtp")
SMS_BACKENDS = ("console", "twilio")


def read_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse every setting from ``environ``.

    :raises SettingError: the first variable whose value does not parse.
    """
    env = EnvReader(environ)
    return {
        "APP_ENV": env.choice("APP_ENV", "development", APP_ENVS),
        "MONGO_URI": env.text("MONGO_URI", "mongomock://", check_mongo_uri),
        "MONGO_DB_NAME": env.text("MONGO_DB_NAME", "bank", check_db_name),
        "MONGO_TIMEOUT_MS": env.integer("MONGO_TIMEOUT_MS", 5000, 1, 600_000),
        # RFC 7518: an HS256 key has at least 256 bits.
        "JWT_SECRET_KEY": env.secret("JWT_SECRET_KEY", min_bytes=32),
        "JWT_ACCESS_TOKEN_EXPIRES": env.seconds("JWT_ACCESS_TOKEN_EXPIRES", 15 * 60),
        "JWT_REFRESH_TOKEN_EXPIRES": env.seconds(
            "JWT_REFRESH_TOKEN_EXPIRES", 30 * 24 * 3600
        ),
        "HOST": env.text("HOST", "127.0.0.1", check_host),
        "PORT": env.integer("PORT", 5000, 1, 65535),
        "CURRENCY": env.text("CURRENCY", "USD", check_currency),
        "MAX_TRANSACTION_AMOUNT": env.amount("MAX_TRANSACTION_AMOUNT", "1000000.00"),
        "MAX_CONTENT_LENGTH": env.integer(
            "MAX_CONTENT_LENGTH", 64 * 1024, 1024, 1024**3
        ),
        "PASSWORD_HASH_METHOD": env.text(
            "PASSWORD_HASH_METHOD", "scrypt:32768:8:3", check_hash_method
        ),
        # Checked against the registration rules when the banker is created.
        "BOOTSTRAP_BANKER_USERNAME": env.text("BOOTSTRAP_BANKER_USERNAME", None),
        "BOOTSTRAP_BANKER_PASSWORD": env.secret("BOOTSTRAP_BANKER_PASSWORD"),
        "MAX_ACCOUNTS_PER_CUSTOMER": env.integer(
            "MAX_ACCOUNTS_PER_CUSTOMER", 10, 1, 1000
        ),
        "MAX_GOALS_PER_CUSTOMER": env.integer("MAX_GOALS_PER_CUSTOMER", 20, 1, 1000),
        "MAX_PAYEES": env.integer("MAX_PAYEES", 200, 1, 10_000),
        "BANK_TIMEZONE": env.text("BANK_TIMEZONE", "UTC", check_timezone),
        "DAILY_OUT_LIMIT": env.amount("DAILY_OUT_LIMIT", "10000.00"),
        "APPROVAL_THRESHOLD": env.amount("APPROVAL_THRESHOLD", "10000.00"),
        "APPROVAL_TTL_SECONDS": env.integer(
            "APPROVAL_TTL_SECONDS", 86_400, 1, MAX_SECONDS
        ),
        "FLAG_AMOUNT": env.amount("FLAG_AMOUNT", "5000.00"),
        "FLAG_VELOCITY_COUNT": env.integer("FLAG_VELOCITY_COUNT", 5, 1, 1000),
        "NOTIFY_LARGE_AMOUNT": env.amount("NOTIFY_LARGE_AMOUNT", "1000.00"),
        "NOTIFY_MAX_ATTEMPTS": env.integer("NOTIFY_MAX_ATTEMPTS", 8, 1, 100),
        "NOTIFY_RETRY_SECONDS": env.integer("NOTIFY_RETRY_SECONDS", 60, 1, 86_400),
        "EMAIL_BACKEND": env.choice("EMAIL_BACKEND", "console", EMAIL_BACKENDS),
        "SMTP_HOST": env.text("SMTP_HOST", "localhost", check_host),
        "SMTP_PORT": env.integer("SMTP_PORT", 587, 1, 65535),
        "SMTP_USERNAME": env.text("SMTP_USERNAME", None, check_smtp_username),
        "SMTP_PASSWORD": env.secret("SMTP_PASSWORD"),
        "SMTP_STARTTLS": env.boolean("SMTP_STARTTLS", True),
        "MAIL_FROM": env.text("MAIL_FROM", "bank@localhost", check_mail_from),
        "SMS_BACKEND": env.choice("SMS_BACKEND", "console", SMS_BACKENDS),
        "SMS_FROM": env.text("SMS_FROM", None, check_phone),
        "TWILIO_ACCOUNT_SID": env.text("TWILIO_ACCOUNT_SID", None, check_twilio_sid),
        "TWILIO_AUTH_TOKEN": env.secret("TWILIO_AUTH_TOKEN"),
        "JOBS_INTERVAL_SECONDS": env.integer("JOBS_INTERVAL_SECONDS", 30, 0, 86_400),
        "REPORT_RECIPIENTS": recipients(
            env.text("REPORT_RECIPIENTS", None, check_recipients)
        ),
        "DEMO_DATA": env.boolean("DEMO_DATA", False),
        "LEDGER_PENDING_TIMEOUT": env.seconds("LEDGER_PENDING_TIMEOUT", 60),
        "LEDGER_RECOVER_ON_START": env.boolean("LEDGER_RECOVER_ON_START", True),
        "IDEMPOTENCY_KEY_TTL": env.seconds("IDEMPOTENCY_KEY_TTL", 86400, minimum=86400),
        "LOGIN_MAX_FAILURES": env.integer("LOGIN_MAX_FAILURES", 5, 1, 1000),
        "LOGIN_LOCKOUT_SECONDS": env.integer(
            "LOGIN_LOCKOUT_SECONDS", 900, 1, MAX_SECONDS
        ),
        "RATELIMIT_ENABLED": env.boolean("RATELIMIT_ENABLED", True),
        "RATELIMIT_AUTH": env.rate_limit("RATELIMIT_AUTH", "30 per minute"),
        "RATELIMIT_MONEY": env.rate_limit("RATELIMIT_MONEY", "300 per minute"),
        "RATELIMIT_PAYEES": env.rate_limit("RATELIMIT_PAYEES", "20 per hour"),
        "CORS_ORIGINS": env.text("CORS_ORIGINS", "", check_origins),
        "AUDIT_SEAL_KEY": env.secret("AUDIT_SEAL_KEY"),
        "LOG_LEVEL": env.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        "LOG_FORMAT": env.choice("LOG_FORMAT", "text", ("text", "json")),
        "TRUSTED_PROXIES": env.integer("TRUSTED_PROXIES", 0, 0, 10),
        "METRICS_ENABLED": env.boolean("METRICS_ENABLED", False),
        "METRICS_TOKEN": env.secret("METRICS_TOKEN", min_bytes=16),
    }


def _read_environment() -> tuple[dict[str, Any], SettingError | None]:
    try:
        return read_settings(os.environ), None
    except SettingError as error:
        # The defaults keep this module importable; start-up refuses anyway.
        return read_settings({}), error


_SETTINGS, SETTINGS_ERROR = _read_environment()


def check_settings() -> None:
    """Raise the environment's first unparseable setting, if there is one.

    :raises SettingError: a variable does not parse.
    """
    if SETTINGS_ERROR is not None:
        raise SETTINGS_ERROR


class Config:
    """Development defaults; every value can be overridden by the environment."""

    APP_ENV = _SETTINGS["APP_ENV"]
    MONGO_URI = _SETTINGS["MONGO_URI"]
    MONGO_DB_NAME = _SETTINGS["MONGO_DB_NAME"]
    MONGO_TIMEOUT_MS = _SETTINGS["MONGO_TIMEOUT_MS"]
    JWT_SECRET_KEY = _SETTINGS["JWT_SECRET_KEY"]
    JWT_ACCESS_TOKEN_EXPIRES = _SETTINGS["JWT_ACCESS_TOKEN_EXPIRES"]
    JWT_REFRESH_TOKEN_EXPIRES = _SETTINGS["JWT_REFRESH_TOKEN_EXPIRES"]
    HOST = _SETTINGS["HOST"]
    PORT = _SETTINGS["PORT"]
    CURRENCY = _SETTINGS["CURRENCY"]
    MAX_TRANSACTION_AMOUNT = _SETTINGS["MAX_TRANSACTION_AMOUNT"]
    MAX_CONTENT_LENGTH = _SETTINGS["MAX_CONTENT_LENGTH"]
    # OWASP's scrypt minimum (N=2^15, r=8, p=3); werkzeug's default p=1 is below it.
    PASSWORD_HASH_METHOD = _SETTINGS["PASSWORD_HASH_METHOD"]
    BOOTSTRAP_BANKER_USERNAME = _SETTINGS["BOOTSTRAP_BANKER_USERNAME"]
    BOOTSTRAP_BANKER_PASSWORD = _SETTINGS["BOOTSTRAP_BANKER_PASSWORD"]
    MAX_ACCOUNTS_PER_CUSTOMER = _SETTINGS["MAX_ACCOUNTS_PER_CUSTOMER"]
    # Goals are accounts of their own kind, counted apart from the accounts.
    MAX_GOALS_PER_CUSTOMER = _SETTINGS["MAX_GOALS_PER_CUSTOMER"]
    MAX_PAYEES = _SETTINGS["MAX_PAYEES"]
    # "A day" and "a month" for limits, schedules, statements and reports.
    BANK_TIMEZONE = _SETTINGS["BANK_TIMEZONE"]
    # Money leaving a customer per calendar day (withdrawals, transfers to others).
    DAILY_OUT_LIMIT = _SETTINGS["DAILY_OUT_LIMIT"]
    # A customer's withdrawal or transfer to another customer of at least this
    # waits for a banker (202, reserved); unapproved, it expires after the TTL.
    APPROVAL_THRESHOLD = _SETTINGS["APPROVAL_THRESHOLD"]
    APPROVAL_TTL_SECONDS = _SETTINGS["APPROVAL_TTL_SECONDS"]
    # Posted movements flagged for a banker's review (never blocked): one of at
    # least FLAG_AMOUNT, or the FLAG_VELOCITY_COUNT-th outgoing one in 10 minutes.
    FLAG_AMOUNT = _SETTINGS["FLAG_AMOUNT"]
    FLAG_VELOCITY_COUNT = _SETTINGS["FLAG_VELOCITY_COUNT"]
    # Notifications (app/core/notifications.py): a movement of at least this
    # is notified to its owner; the outbox's sender retries a failed send
    # NOTIFY_MAX_ATTEMPTS times in all, waiting NOTIFY_RETRY_SECONDS, then
    # twice as long after each failure, before the message is dead.
    NOTIFY_LARGE_AMOUNT = _SETTINGS["NOTIFY_LARGE_AMOUNT"]
    NOTIFY_MAX_ATTEMPTS = _SETTINGS["NOTIFY_MAX_ATTEMPTS"]
    NOTIFY_RETRY_SECONDS = _SETTINGS["NOTIFY_RETRY_SECONDS"]
    # "console" logs each email (a code's only as "sent"); "smtp" sends it.
    EMAIL_BACKEND = _SETTINGS["EMAIL_BACKEND"]
    SMTP_HOST = _SETTINGS["SMTP_HOST"]
    SMTP_PORT = _SETTINGS["SMTP_PORT"]
    SMTP_USERNAME = _SETTINGS["SMTP_USERNAME"]
    SMTP_PASSWORD = _SETTINGS["SMTP_PASSWORD"]
    SMTP_STARTTLS = _SETTINGS["SMTP_STARTTLS"]
    MAIL_FROM = _SETTINGS["MAIL_FROM"]
    # "console" logs each text message; "twilio" needs the twilio package and
    # TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and SMS_FROM.
    SMS_BACKEND = _SETTINGS["SMS_BACKEND"]
    SMS_FROM = _SETTINGS["SMS_FROM"]
    TWILIO_ACCOUNT_SID = _SETTINGS["TWILIO_ACCOUNT_SID"]
    TWILIO_AUTH_TOKEN = _SETTINGS["TWILIO_AUTH_TOKEN"]
    # The in-server job loop of `python run.py` (0: off; cron: `flask jobs run-due`).
    JOBS_INTERVAL_SECONDS = _SETTINGS["JOBS_INTERVAL_SECONDS"]
    # Who the job runner mails the monthly report to, on or after the 1st
    # (comma-separated addresses; empty: no mail).
    REPORT_RECIPIENTS = _SETTINGS["REPORT_RECIPIENTS"]
    DEMO_DATA = _SETTINGS["DEMO_DATA"]
    # A movement pending longer than this was abandoned by a crashed request:
    # recovery settles it, a retry of its Idempotency-Key settles it, and
    # `flask ledger check` reports it.
    LEDGER_PENDING_TIMEOUT = _SETTINGS["LEDGER_PENDING_TIMEOUT"]
    LEDGER_RECOVER_ON_START = _SETTINGS["LEDGER_RECOVER_ON_START"]
    IDEMPOTENCY_KEY_TTL = _SETTINGS["IDEMPOTENCY_KEY_TTL"]
    # Brute force: this many failed logins for one username within the window
    # lock that username out (429 too_many_attempts) until the window passes.
    LOGIN_MAX_FAILURES = _SETTINGS["LOGIN_MAX_FAILURES"]
    LOGIN_LOCKOUT_SECONDS = _SETTINGS["LOGIN_LOCKOUT_SECONDS"]
    # flask-limiter: one budget per client address for all /auth/* routes, one
    # per user for the money routes. Stored in MongoDB when MONGO_URI is a real
    # server (shared by every process), in memory otherwise.
    RATELIMIT_ENABLED = _SETTINGS["RATELIMIT_ENABLED"]
    RATELIMIT_AUTH = _SETTINGS["RATELIMIT_AUTH"]
    RATELIMIT_MONEY = _SETTINGS["RATELIMIT_MONEY"]
    # Per user, on the payee name checks (confirmation of payee).
    RATELIMIT_PAYEES = _SETTINGS["RATELIMIT_PAYEES"]
    # Comma-separated origins allowed to call the API from a browser; none by default.
    CORS_ORIGINS = _SETTINGS["CORS_ORIGINS"]
    # HMAC-SHA256 key of the audit log's seals. Unset: seals are plain SHA-256,
    # which anyone who can write the database can recompute (a warning in
    # production). Set it before the first seal: seals under another key, or
    # none, never verify.
    AUDIT_SEAL_KEY = _SETTINGS["AUDIT_SEAL_KEY"]
    LOG_LEVEL = _SETTINGS["LOG_LEVEL"]
    # "json": one JSON object per log line, with the request id (app/observability.py).
    LOG_FORMAT = _SETTINGS["LOG_FORMAT"]
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host
    # are trusted (werkzeug's ProxyFix); 0: none, the peer's address is used.
    TRUSTED_PROXIES = _SETTINGS["TRUSTED_PROXIES"]
    # GET /metrics (Prometheus text format), and the bearer token it needs if set.
    METRICS_ENABLED = _SETTINGS["METRICS_ENABLED"]
    METRICS_TOKEN = _SETTINGS["METRICS_TOKEN"]
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
    # Whatever a developer's .env says, the suite sends nothing anywhere.
    EMAIL_BACKEND = "console"
    SMS_BACKEND = "console"
