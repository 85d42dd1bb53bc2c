"""The parsers behind app/config.py: each setting's text read strictly.

A value that does not parse raises :class:`SettingError`, whose message names
the variable and says what is wrong (never showing a secret). Booleans, choices,
whole numbers, durations, amounts, rate limits and secrets are read by
:class:`EnvReader`; the ``check_*`` functions say what is wrong with a text
setting (or None).

Like app/config.py, this module imports nothing from the ``app`` package:
gunicorn's master loads both without loading the application.
"""

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
MONGO_SCHEMES = ("mongomock://", "mongodb://", "mongodb+srv://")
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


class EnvReader:
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


def check_timezone(value: str) -> str | None:
    """Say what is wrong with a time zone name (None: an IANA zone)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not an IANA time zone: use e.g. UTC or Europe/Paris"
    return None


def check_mongo_uri(value: str) -> str | None:
    """Say what is wrong with a MongoDB URI, never echoing it."""
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


def check_db_name(value: str) -> str | None:
    """Say what is wrong with a MongoDB database name."""
    if set(value) & _DB_NAME_FORBIDDEN or len(value.encode()) > 63:
        return (
            f"{value!r} is not a MongoDB database name: at most 63 bytes, none of "
            '/\\. "$*<>:|?'
        )
    return None


def check_host(value: str) -> str | None:
    """Say what is wrong with an IP address or host name."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            return f"{value!r} is not an IP address or host name, e.g. 127.0.0.1"
    return None


def check_mail_from(value: str) -> str | None:
    """Say what is wrong with a sender address (``Name <a@b>`` too)."""
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


def check_smtp_username(value: str) -> str | None:
    """Say what is wrong with an SMTP user name."""
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "has spaces at an end or control characters"
    return None


def check_phone(value: str) -> str | None:
    """Say what is wrong with an E.164 phone number."""
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", value):
        return f"{value!r} is not an E.164 phone number, e.g. +15551234567"
    return None


def check_twilio_sid(value: str) -> str | None:
    """Say what is wrong with a Twilio account SID."""
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
        return f"{value!r} is not a Twilio account SID: AC and 32 hex digits"
    return None


# A bare address: no display name, no quotes, spaces, commas or angle brackets.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


def check_recipients(value: str) -> str | None:
    """Say what is wrong with a comma-separated list of addresses."""
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


def check_currency(value: str) -> str | None:
    """Say what is wrong with a currency code."""
    if not re.fullmatch(r"[A-Z]{3}", value):
        return f"{value!r} is not a currency code: three capital letters, e.g. USD"
    return None


def check_hash_method(value: str) -> str | None:
    """Say what is wrong with a werkzeug scrypt method string."""
    match = re.fullmatch(r"scrypt:(\d+):(\d+):(\d+)", value)
    if match:
        n, r, p = (int(group) for group in match.groups())
        if n >= 2 and n & (n - 1) == 0 and r >= 1 and p >= 1:
            return None
    return (
        f"{value!r} is not scrypt:N:r:p with N a power of two and r, p at least 1, "
        "e.g. scrypt:32768:8:3"
    )


def check_origins(value: str) -> str | None:
    """Say what is wrong with a comma-separated list of CORS origins."""
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
