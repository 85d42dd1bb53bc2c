"""Settings from the environment (and a .env file), parsed strictly; safe defaults.

Every setting is parsed once, when this module is imported. A value that does
not parse does not fall back to a default: the first one found is kept as
:data:`SETTINGS_ERROR`, and start-up (``create_app``, ``python run.py``,
gunicorn, the ``flask`` command) stops with one line,
``error: <VARIABLE>: <what is wrong>``. Secret values never appear in it.

This module imports nothing from the ``app`` package, so gunicorn's master can
check the settings (``gunicorn.conf.py``) without loading the application.
"""

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
from dotenv import load_dotenv

load_dotenv()

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
APP_ENVS = ("development", "production", "testing")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MONGO_SCHEMES = ("mongomock://", "mongodb://", "mongodb+srv://")
EMAIL_BACKENDS = ("console", "smtp")
SMS_BACKENDS = ("console", "twilio")
# Durations beyond ten years are typos, and timedelta overflows not far above.
MAX_SECONDS = 10 * 365 * 24 * 3600
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)
# MongoDB refuses these characters in a database name (and names over 63 bytes).
_DB_NAME_FORBIDDEN = set('/\\. "$*<>:|?')


class StartupError(RuntimeError):
    """Start-up cannot go on; the message is one line, printed after ``error: ``."""


class ConfigError(StartupError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


class SettingError(ConfigError):
    """A variable of the environment does not parse; its message names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


def parse_boolean(name: str, value: str) -> bool:
    """true/1/yes or false/0/no, in any case: the one rule for every boolean.

    :raises SettingError: any other text.
    """
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingError(
        name, f"{value!r} is not a boolean: use true/false, 1/0 or yes/no"
    )


def parse_choice(
    name: str, value: str, allowed: tuple[str, ...], upper: bool = False
) -> str:
    """One of ``allowed``, matched in any case.

    :raises SettingError: any other text.
    """
    word = value.strip().upper() if upper else value.strip().lower()
    if word not in allowed:
        raise SettingError(name, f"{value!r} is not one of {', '.join(allowed)}")
    return word


class _Reader:
    """Typed, strict look-ups in one environment mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        """Return the variable's text; empty counts as unset."""
        value = self._environ.get(name)
        return value if value not in (None, "") else None

    def text(
        self,
        name: str,
        default: str | None,
        check: Callable[[str], str | None] | None = None,
    ) -> str | None:
        """Return a string; ``check`` returns what is wrong with it, or None."""
        value = self.raw(name)
        if value is None:
            return default
        problem = check(value) if check else None
        if problem:
            raise SettingError(name, problem)
        return value

    def secret(self, name: str, min_bytes: int = 0) -> str | None:
        """Return a secret; a bad one is described without being shown."""
        value = self.raw(name)
        if value is None:
            return None
        if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise SettingError(
                name,
                "is invalid: it has spaces at an end or control characters "
                "(value not shown)",
            )
        if len(value.encode()) < min_bytes:
            raise SettingError(
                name, f"is too short: at least {min_bytes} bytes (value not shown)"
            )
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """Return true/1/yes or false/0/no, in any case."""
        value = self.raw(name)
        return default if value is None else parse_boolean(name, value)

    def integer(
        self, name: str, default: int, minimum: int, maximum: int | None = None
    ) -> int:
        """Return a whole number within [minimum, maximum]."""
        value = self.raw(name)
        if value is None:
            return default
        allowed = (
            f"a whole number from {minimum} to {maximum}"
            if maximum is not None
            else f"a whole number of at least {minimum}"
        )
        try:
            number = int(value.strip(), 10)
        except ValueError:
            raise SettingError(name, f"{value!r} is not {allowed}") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise SettingError(name, f"{number} is out of range: use {allowed}")
        return number

    def seconds(self, name: str, default: int, minimum: int = 1) -> timedelta:
        """Return a duration given in whole seconds."""
        return timedelta(seconds=self.integer(name, default, minimum, MAX_SECONDS))

    def choice(
        self, name: str, default: str, allowed: tuple[str, ...], upper: bool = False
    ) -> str:
        """Return one of ``allowed`` (matched in any case)."""
        value = self.raw(name)
        return default if value is None else parse_choice(name, value, allowed, upper)

    def rate_limit(self, name: str, default: str) -> str:
        """Return a flask-limiter rate string such as ``30 per minute``."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = limits.parse_many(value)
        except ValueError:
            parsed = []
        if not parsed:
            raise SettingError(
                name,
                f"{value!r} is not a rate limit: use e.g. '30 per minute' or "
                "'5/second;100/hour'",
            )
        if any(item.amount < 1 for item in parsed):
            raise SettingError(name, f"{value!r} allows nothing: at least 1 per period")
        return value

    def amount(self, name: str, default: str) -> Decimal:
        """Return a positive amount with at most two decimal places."""
        value = self.raw(name) or default
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
        if (
            number is None
            or not number.is_finite()
            or number <= 0
            or number.as_tuple().exponent < -2
        ):
            raise SettingError(
                name,
                f"{value!r} is not an amount: use a positive number with at most "
                "two decimal places, e.g. 1000000.00",
            )
        return number


def _check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not an IANA time zone: use e.g. UTC or Europe/Paris"
    return None


def _check_mongo_uri(value: str) -> str | None:
    # The URI may hold a password: describe what is wrong, never echo it.
    if not value.startswith(MONGO_SCHEMES):
        return (
            "is not a MongoDB URI: use mongomock://, mongodb://host[:port]/ or "
            "mongodb+srv://host/ (value not shown)"
        )
    if value.startswith("mongodb://"):
        from pymongo.errors import ConfigurationError
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(value)
        except (ConfigurationError, ValueError) as exc:
            if _has_userinfo(value):
                # pymongo's reason may quote part of the credentials.
                return (
                    "is not a valid MongoDB URI; escape the user name and password "
                    "with urllib.parse.quote_plus (value not shown)"
                )
            reason = str(exc).split(". Hint:")[0].rstrip(".")
            return f"is not a valid MongoDB URI: {reason} (value not shown)"
    elif (
        value.startswith("mongodb+srv://")
        and not (value.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1])
    ):
        return "names no host: use mongodb+srv://host/ (value not shown)"
    return None


def _has_userinfo(uri: str) -> bool:
    return "@" in uri.split("://", 1)[1].split("/", 1)[0]


def _check_db_name(value: str) -> str | None:
    if set(value) & _DB_NAME_FORBIDDEN or len(value.encode()) > 63:
        return (
            f"{value!r} is not a MongoDB database name: at most 63 bytes, none of "
            '/\\. "$*<>:|?'
        )
    return None


def _check_host(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            return f"{value!r} is not an IP address or host name, e.g. 127.0.0.1"
    return None


def _check_mail_from(value: str) -> str | None:
    name, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if (
        not local
        or not domain
        or any(c.isspace() for c in address)
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
        or (not name and address != value.strip())
    ):
        return (
            f"{value!r} is not an email address: use e.g. bank@example.org or "
            "'Bank <bank@example.org>'"
        )
    return None


def _check_smtp_username(value: str) -> str | None:
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "has spaces at an end or control characters"
    return None


def _check_phone(value: str) -> str | None:
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", value):
        return f"{value!r} is not an E.164 phone number, e.g. +15551234567"
    return None


def _check_twilio_sid(value: str) -> str | None:
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
        return f"{value!r} is not a Twilio account SID: AC and 32 hex digits"
    return None


# A bare address: no display name, no quotes, spaces, commas or angle brackets.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


def _check_recipients(value: str) -> str | None:
    seen = set()
    for part in value.split(","):
        address = part.strip()
        local, at, domain = address.rpartition("@")
        if (
            not at
            or len(address) > 254
            or not _LOCAL_PART.fullmatch(local)
            or not _HOSTNAME.fullmatch(domain)
        ):
            return (
                f"{address!r} is not an email address: use comma-separated bare "
                "addresses, e.g. ops@example.org,audit@example.org"
            )
        if address.lower() in seen:
            return f"{address!r} is listed twice"
        seen.add(address.lower())
    return None


def recipients(value: str | None) -> tuple[str, ...]:
    """The addresses of a checked REPORT_RECIPIENTS (none when unset)."""
    return tuple(part.strip() for part in value.split(",")) if value else ()


def _check_currency(value: str) -> str | None:
    if not re.fullmatch(r"[A-Z]{3}", value):
        return f"{value!r} is not a currency code: three capital letters, e.g. USD"
    return None


def _check_hash_method(value: str) -> str | None:
    match = re.fullmatch(r"scrypt:(\d+):(\d+):(\d+)", value)
    if match:
        n, r, p = (int(group) for group in match.groups())
        if n >= 2 and n & (n - 1) == 0 and r >= 1 and p >= 1:
            return None
    return (
        f"{value!r} is not scrypt:N:r:p with N a power of two and r, p at least 1, "
        "e.g. scrypt:32768:8:3"
    )


def _check_origins(value: str) -> str | None:
    for origin in (part.strip() for part in value.split(",")):
        if not origin or origin == "*":
            continue
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
        ):
            return (
                f"{origin!r} is not an origin: use scheme://host[:port] "
                "(http or https, no path), comma-separated"
            )
    return None


def read_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse every setting from ``environ``.

    :raises SettingError: the first variable whose value does not parse.
    """
    env = _Reader(environ)
    return {
        "APP_ENV": env.choice("APP_ENV", "development", APP_ENVS),
        "MONGO_URI": env.text("MONGO_URI", "mongomock://", _check_mongo_uri),
        "MONGO_DB_NAME": env.text("MONGO_DB_NAME", "bank", _check_db_name),
        "MONGO_TIMEOUT_MS": env.integer("MONGO_TIMEOUT_MS", 5000, 1, 600_000),
        # RFC 7518: an HS256 key has at least 256 bits.
        "JWT_SECRET_KEY": env.secret("JWT_SECRET_KEY", min_bytes=32),
        "JWT_ACCESS_TOKEN_EXPIRES": env.seconds("JWT_ACCESS_TOKEN_EXPIRES", 15 * 60),
        "JWT_REFRESH_TOKEN_EXPIRES": env.seconds(
            "JWT_REFRESH_TOKEN_EXPIRES", 30 * 24 * 3600
        ),
        "HOST": env.text("HOST", "127.0.0.1", _check_host),
        "PORT": env.integer("PORT", 5000, 1, 65535),
        "CURRENCY": env.text("CURRENCY", "USD", _check_currency),
        "MAX_TRANSACTION_AMOUNT": env.amount("MAX_TRANSACTION_AMOUNT", "1000000.00"),
        "MAX_CONTENT_LENGTH": env.integer(
            "MAX_CONTENT_LENGTH", 64 * 1024, 1024, 1024**3
        ),
        "PASSWORD_HASH_METHOD": env.text(
            "PASSWORD_HASH_METHOD", "scrypt:32768:8:3", _check_hash_method
        ),
        # Checked against the registration rules when the banker is created.
        "BOOTSTRAP_BANKER_USERNAME": env.text("BOOTSTRAP_BANKER_USERNAME", None),
        "BOOTSTRAP_BANKER_PASSWORD": env.secret("BOOTSTRAP_BANKER_PASSWORD"),
        "MAX_ACCOUNTS_PER_CUSTOMER": env.integer(
            "MAX_ACCOUNTS_PER_CUSTOMER", 10, 1, 1000
        ),
        "MAX_GOALS_PER_CUSTOMER": env.integer("MAX_GOALS_PER_CUSTOMER", 20, 1, 1000),
        "MAX_PAYEES": env.integer("MAX_PAYEES", 200, 1, 10_000),
        "BANK_TIMEZONE": env.text("BANK_TIMEZONE", "UTC", _check_timezone),
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
        "SMTP_HOST": env.text("SMTP_HOST", "localhost", _check_host),
        "SMTP_PORT": env.integer("SMTP_PORT", 587, 1, 65535),
        "SMTP_USERNAME": env.text("SMTP_USERNAME", None, _check_smtp_username),
        "SMTP_PASSWORD": env.secret("SMTP_PASSWORD"),
        "SMTP_STARTTLS": env.boolean("SMTP_STARTTLS", True),
        "MAIL_FROM": env.text("MAIL_FROM", "bank@localhost", _check_mail_from),
        "SMS_BACKEND": env.choice("SMS_BACKEND", "console", SMS_BACKENDS),
        "SMS_FROM": env.text("SMS_FROM", None, _check_phone),
        "TWILIO_ACCOUNT_SID": env.text("TWILIO_ACCOUNT_SID", None, _check_twilio_sid),
        "TWILIO_AUTH_TOKEN": env.secret("TWILIO_AUTH_TOKEN"),
        "JOBS_INTERVAL_SECONDS": env.integer("JOBS_INTERVAL_SECONDS", 30, 0, 86_400),
        "REPORT_RECIPIENTS": recipients(
            env.text("REPORT_RECIPIENTS", None, _check_recipients)
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
        "CORS_ORIGINS": env.text("CORS_ORIGINS", "", _check_origins),
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
