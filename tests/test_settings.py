"""Settings parse strictly: a bad one stops start-up with one ``error:`` line.

Every variable in .env.example is walked with a good value (its parsed value)
and a bad one (the exact line start-up prints); the walk fails when
.env.example names a setting it does not cover. Subprocess tests run
``python run.py``, gunicorn and the ``flask`` command as a user would.
"""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app import StartupError, create_app
from app.config import Config, read_settings
from app.db import memory_client
from tests.conftest import PASSWORD

REPO = Path(__file__).resolve().parent.parent
SECRET = "a-secret-that-is-long-enough-for-hs256-keys"  # noqa: S105
UNREACHABLE = "mongodb://127.0.0.1:1/"

# name: (good value, its parsed value, bad value, the error line it gives,
#        other variables the bad case needs)
CASES = {
    "APP_ENV": ("Production", "production", "prod",
                "error: APP_ENV: 'prod' is not one of development, production, "
                "testing"),
    "MONGO_URI": ("mongodb://db.example:27017/", "mongodb://db.example:27017/",
                  "postgres://bob:hunter22@db/",
                  "error: MONGO_URI: is not a MongoDB URI: use mongomock://, "
                  "mongodb://host[:port]/ or mongodb+srv://host/ (value not shown)"),
    "MONGO_DB_NAME": ("bank_eu", "bank_eu", "bank.eu",
                      "error: MONGO_DB_NAME: 'bank.eu' is not a MongoDB database "
                      'name: at most 63 bytes, none of /\\. "$*<>:|?'),
    "MONGO_TIMEOUT_MS": ("250", 250, "0",
                         "error: MONGO_TIMEOUT_MS: 0 is out of range: use a whole "
                         "number from 1 to 600000"),
    "JWT_SECRET_KEY": (SECRET, SECRET, "short-secret",
                       "error: JWT_SECRET_KEY: is too short: at least 32 bytes "
                       "(value not shown)"),
    "JWT_ACCESS_TOKEN_EXPIRES": ("600", timedelta(minutes=10), "15m",
                                 "error: JWT_ACCESS_TOKEN_EXPIRES: '15m' is not a "
                                 "whole number from 1 to 315360000"),
    "JWT_REFRESH_TOKEN_EXPIRES": ("86400", timedelta(days=1), "-5",
                                  "error: JWT_REFRESH_TOKEN_EXPIRES: -5 is out of "
                                  "range: use a whole number from 1 to 315360000"),
    "HOST": ("0.0.0.0", "0.0.0.0", "local host",  # noqa: S104
             "error: HOST: 'local host' is not an IP address or host name, "
             "e.g. 127.0.0.1"),
    "PORT": ("8080", 8080, "abc",
             "error: PORT: 'abc' is not a whole number from 1 to 65535"),
    "CURRENCY": ("EUR", "EUR", "euro",
                 "error: CURRENCY: 'euro' is not a currency code: three capital "
                 "letters, e.g. USD"),
    "MAX_TRANSACTION_AMOUNT": ("5000.50", Decimal("5000.50"), "1.005",
                               "error: MAX_TRANSACTION_AMOUNT: '1.005' is not an "
                               "amount: use a positive number with at most two "
                               "decimal places, e.g. 1000000.00"),
    "MAX_CONTENT_LENGTH": ("131072", 131072, "big",
                           "error: MAX_CONTENT_LENGTH: 'big' is not a whole number "
                           "from 1024 to 1073741824"),
    "PASSWORD_HASH_METHOD": ("scrypt:65536:8:1", "scrypt:65536:8:1", "md5",
                             "error: PASSWORD_HASH_METHOD: 'md5' is not "
                             "scrypt:N:r:p with N a power of two and r, p at "
                             "least 1, e.g. scrypt:32768:8:3"),
    "BOOTSTRAP_BANKER_USERNAME": ("boss", "boss", "x",
                                  "error: BOOTSTRAP_BANKER_USERNAME/PASSWORD break "
                                  "the rules for: username",
                                  {"BOOTSTRAP_BANKER_PASSWORD": PASSWORD}),
    "BOOTSTRAP_BANKER_PASSWORD": (PASSWORD, PASSWORD, "short",
                                  "error: BOOTSTRAP_BANKER_USERNAME/PASSWORD break "
                                  "the rules for: password",
                                  {"BOOTSTRAP_BANKER_USERNAME": "boss"}),
    "MAX_ACCOUNTS_PER_CUSTOMER": ("3", 3, "0",
                                  "error: MAX_ACCOUNTS_PER_CUSTOMER: 0 is out of "
                                  "range: use a whole number from 1 to 1000"),
    "MAX_GOALS_PER_CUSTOMER": ("5", 5, "0",
                               "error: MAX_GOALS_PER_CUSTOMER: 0 is out of range: "
                               "use a whole number from 1 to 1000"),
    "MAX_PAYEES": ("50", 50, "many",
                   "error: MAX_PAYEES: 'many' is not a whole number from 1 to 10000"),
    "BANK_TIMEZONE": ("Europe/Paris", "Europe/Paris", "Mars/Olympus",
                      "error: BANK_TIMEZONE: 'Mars/Olympus' is not an IANA time "
                      "zone: use e.g. UTC or Europe/Paris"),
    "DAILY_OUT_LIMIT": ("2500.00", Decimal("2500.00"), "-5",
                        "error: DAILY_OUT_LIMIT: '-5' is not an amount: use a "
                        "positive number with at most two decimal places, e.g. "
                        "1000000.00"),
    "APPROVAL_THRESHOLD": ("2500.00", Decimal("2500.00"), "12.345",
                           "error: APPROVAL_THRESHOLD: '12.345' is not an amount: use "
                           "a positive number with at most two decimal places, "
                           "e.g. 1000000.00"),
    "APPROVAL_TTL_SECONDS": ("3600", 3600, "0",
                             "error: APPROVAL_TTL_SECONDS: 0 is out of range: use a "
                             "whole number from 1 to 315360000"),
    "FLAG_AMOUNT": ("7500.50", Decimal("7500.50"), "0",
                    "error: FLAG_AMOUNT: '0' is not an amount: use a positive "
                    "number with at most two decimal places, e.g. 1000000.00"),
    "FLAG_VELOCITY_COUNT": ("3", 3, "0",
                            "error: FLAG_VELOCITY_COUNT: 0 is out of range: use a "
                            "whole number from 1 to 1000"),
    "NOTIFY_LARGE_AMOUNT": ("250.50", Decimal("250.50"), "0.001",
                            "error: NOTIFY_LARGE_AMOUNT: '0.001' is not an amount: use "
                            "a positive number with at most two decimal places, "
                            "e.g. 1000000.00"),
    "NOTIFY_MAX_ATTEMPTS": ("3", 3, "0",
                            "error: NOTIFY_MAX_ATTEMPTS: 0 is out of range: use a "
                            "whole number from 1 to 100"),
    "NOTIFY_RETRY_SECONDS": ("5", 5, "1m",
                             "error: NOTIFY_RETRY_SECONDS: '1m' is not a whole number "
                             "from 1 to 86400"),
    "EMAIL_BACKEND": ("SMTP", "smtp", "sendmail",
                      "error: EMAIL_BACKEND: 'sendmail' is not one of console, smtp"),
    "SMTP_HOST": ("mail.example.org", "mail.example.org", "mail server",
                  "error: SMTP_HOST: 'mail server' is not an IP address or host "
                  "name, e.g. 127.0.0.1"),
    "SMTP_PORT": ("2525", 2525, "70000",
                  "error: SMTP_PORT: 70000 is out of range: use a whole number from "
                  "1 to 65535"),
    "SMTP_USERNAME": ("bank", "bank", " bank",
                      "error: SMTP_USERNAME: has spaces at an end or control "
                      "characters"),
    "SMTP_PASSWORD": ("mail-secret", "mail-secret", "mail-secret ",
                      "error: SMTP_PASSWORD: is invalid: it has spaces at an end or "
                      "control characters (value not shown)"),
    "SMTP_STARTTLS": ("no", False, "tls",
                      "error: SMTP_STARTTLS: 'tls' is not a boolean: use true/false, "
                      "1/0 or yes/no"),
    "MAIL_FROM": ("Bank <bank@example.org>", "Bank <bank@example.org>", "bank",
                  "error: MAIL_FROM: 'bank' is not an email address: use e.g. "
                  "bank@example.org or 'Bank <bank@example.org>'"),
    "SMS_BACKEND": ("console", "console", "pigeon",
                    "error: SMS_BACKEND: 'pigeon' is not one of console, twilio"),
    "SMS_FROM": ("+15551234567", "+15551234567", "555-1234",
                 "error: SMS_FROM: '555-1234' is not an E.164 phone number, e.g. "
                 "+15551234567"),
    "TWILIO_ACCOUNT_SID": ("AC" + "a" * 32, "AC" + "a" * 32, "SID",
                           "error: TWILIO_ACCOUNT_SID: 'SID' is not a Twilio account "
                           "SID: AC and 32 hex digits"),
    "TWILIO_AUTH_TOKEN": ("twilio-token", "twilio-token", "twilio\ttoken",
                          "error: TWILIO_AUTH_TOKEN: is invalid: it has spaces at an "
                          "end or control characters (value not shown)"),
    "JOBS_INTERVAL_SECONDS": ("0", 0, "soon",
                              "error: JOBS_INTERVAL_SECONDS: 'soon' is not a whole "
                              "number from 0 to 86400"),
    "REPORT_RECIPIENTS": (" ops@example.org, Audit@bank.example ",
                          ("ops@example.org", "Audit@bank.example"),
                          "ops@example.org,,audit@example.org",
                          "error: REPORT_RECIPIENTS: '' is not an email address: "
                          "use comma-separated bare addresses, e.g. "
                          "ops@example.org,audit@example.org"),
    "LEDGER_PENDING_TIMEOUT": ("120", timedelta(minutes=2), "1.5",
                               "error: LEDGER_PENDING_TIMEOUT: '1.5' is not a whole "
                               "number from 1 to 315360000"),
    "DEMO_DATA": ("YES", True, "demo",
                  "error: DEMO_DATA: 'demo' is not a boolean: use true/false, 1/0 "
                  "or yes/no"),
    "LEDGER_RECOVER_ON_START": ("0", False, "sometimes",
                                "error: LEDGER_RECOVER_ON_START: 'sometimes' is not "
                                "a boolean: use true/false, 1/0 or yes/no"),
    "IDEMPOTENCY_KEY_TTL": ("172800", timedelta(days=2), "3600",
                            "error: IDEMPOTENCY_KEY_TTL: 3600 is out of range: use "
                            "a whole number from 86400 to 315360000"),
    "LOGIN_MAX_FAILURES": ("10", 10, "ten",
                           "error: LOGIN_MAX_FAILURES: 'ten' is not a whole number "
                           "from 1 to 1000"),
    "LOGIN_LOCKOUT_SECONDS": ("60", 60, "0",
                              "error: LOGIN_LOCKOUT_SECONDS: 0 is out of range: use "
                              "a whole number from 1 to 315360000"),
    "RATELIMIT_ENABLED": ("YES", True, "on please",
                          "error: RATELIMIT_ENABLED: 'on please' is not a boolean: "
                          "use true/false, 1/0 or yes/no"),
    "RATELIMIT_AUTH": ("5/second;100 per hour", "5/second;100 per hour", "lots",
                       "error: RATELIMIT_AUTH: 'lots' is not a rate limit: use e.g. "
                       "'30 per minute' or '5/second;100/hour'"),
    "RATELIMIT_MONEY": ("60 per minute", "60 per minute", "0 per minute",
                        "error: RATELIMIT_MONEY: '0 per minute' allows nothing: at "
                        "least 1 per period"),
    "RATELIMIT_PAYEES": ("5 per hour", "5 per hour", "often",
                         "error: RATELIMIT_PAYEES: 'often' is not a rate limit: use "
                         "e.g. '30 per minute' or '5/second;100/hour'"),
    "CORS_ORIGINS": ("https://app.example, http://localhost:3000",
                     "https://app.example, http://localhost:3000",
                     "https://app.example/login",
                     "error: CORS_ORIGINS: 'https://app.example/login' is not an "
                     "origin: use scheme://host[:port] (http or https, no path), "
                     "comma-separated"),
    "AUDIT_SEAL_KEY": ("seal-key", "seal-key", "seal-key\n",
                       "error: AUDIT_SEAL_KEY: is invalid: it has spaces at an end "
                       "or control characters (value not shown)"),
    "LOG_LEVEL": ("debug", "DEBUG", "LOUD",
                  "error: LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO, WARNING, "
                  "ERROR, CRITICAL"),
    "TRUSTED_PROXIES": ("2", 2, "-1",
                        "error: TRUSTED_PROXIES: -1 is out of range: use a whole "
                        "number from 0 to 10"),
    "LOG_FORMAT": ("JSON", "json", "xml",
                   "error: LOG_FORMAT: 'xml' is not one of text, json"),
    "METRICS_ENABLED": ("1", True, "sometimes",
                        "error: METRICS_ENABLED: 'sometimes' is not a boolean: "
                        "use true/false, 1/0 or yes/no"),
    "METRICS_TOKEN": ("a-scrape-token-of-24b", "a-scrape-token-of-24b", "tiny-tok",
                      "error: METRICS_TOKEN: is too short: at least 16 bytes "
                      "(value not shown)"),
}  # fmt: skip
SECRETS = {"JWT_SECRET_KEY", "AUDIT_SEAL_KEY", "BOOTSTRAP_BANKER_PASSWORD", "MONGO_URI",
           "METRICS_TOKEN", "SMTP_PASSWORD", "TWILIO_AUTH_TOKEN"}  # fmt: skip


def example_settings() -> set[str]:
    """Every variable .env.example names, set or commented out."""
    text = (REPO / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def start_up_error(environ: dict[str, str]) -> str | None:
    """Start the app on ``environ`` alone; the line start-up prints, if any."""
    try:
        settings = read_settings(environ)
        config = type("FromEnvironment", (Config,), {**settings, "TESTING": True})
        create_app(config, mongo_client=memory_client())
    except StartupError as exc:
        return f"error: {exc}"
    return None


def test_every_setting_of_env_example_is_covered():
    names = example_settings()
    assert len(names) > 20  # the pattern still reads the file
    assert names == set(CASES), "cover each setting of .env.example in CASES"
    assert set(read_settings({})) == names
    assert all(hasattr(Config, name) for name in names)


def test_env_example_values_are_the_defaults():
    text = (REPO / ".env.example").read_text()
    given = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))
    assert read_settings(given) == read_settings({})


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_good_value_is_parsed(name):
    good, parsed = CASES[name][:2]
    assert read_settings({name: good})[name] == parsed


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_value_stops_start_up_with_one_line(name):
    _, _, bad, line, *others = CASES[name]
    error = start_up_error({name: bad, **(others[0] if others else {})})
    assert error == line
    assert "\n" not in error
    if name in SECRETS:
        assert bad not in error and bad.strip() not in error


@pytest.mark.parametrize(
    "word, value",
    [(w, True) for w in ("true", "True", "TRUE", "1", "yes", "Yes")]
    + [(w, False) for w in ("false", "FALSE", "0", "no", "NO")],
)
def test_booleans_accept_every_documented_spelling(word, value):
    names = ("RATELIMIT_ENABLED", "LEDGER_RECOVER_ON_START")
    settings = read_settings(dict.fromkeys(names, word))
    assert settings["RATELIMIT_ENABLED"] is value
    assert settings["LEDGER_RECOVER_ON_START"] is value


@pytest.mark.parametrize("value", ["mongodb://bob:hunter22@h:port/", "mongodb://b:c:d@h/"])
def test_a_malformed_uri_is_named_without_its_credentials(value):
    error = start_up_error({"MONGO_URI": value})
    assert error.startswith("error: MONGO_URI: is not a valid MongoDB URI")
    assert "hunter22" not in error and "b:c:d" not in error


def test_a_malformed_uri_without_credentials_says_why():
    error = start_up_error({"MONGO_URI": "mongodb://db.example/?nosuchoption=1"})
    assert error.startswith("error: MONGO_URI: is not a valid MongoDB URI: Unknown")


def test_unset_and_empty_mean_the_default():
    assert read_settings({"PORT": "", "RATELIMIT_ENABLED": ""}) == read_settings({})


# --- as a user starts it ------------------------------------------------------


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without the app's settings, plus ``settings``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in CASES and not key.startswith("FLASK_")
    }
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **settings}


def run(command: list[str], timeout: float = 60, **settings: str):
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command,
        cwd=REPO,
        env=environment(**settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return done, time.monotonic() - started


FLASK = [sys.executable, "-m", "flask"]


@pytest.mark.parametrize(
    "settings, line",
    [
        ({"PORT": "abc"}, "error: PORT: 'abc' is not a whole number from 1 to 65535"),
        (
            {"RATELIMIT_ENABLED": "True!"},
            "error: RATELIMIT_ENABLED: 'True!' is not a boolean: use true/false, "
            "1/0 or yes/no",
        ),
        (
            {"JWT_SECRET_KEY": "do-not-print-me"},
            "error: JWT_SECRET_KEY: is too short: at least 32 bytes (value not shown)",
        ),
    ],
)
def test_run_py_with_a_bad_setting_prints_one_line_and_exits_1(settings, line):
    done, _ = run([sys.executable, "run.py"], **settings)
    assert done.returncode == 1
    assert done.stderr == line + "\n"
    assert done.stdout == ""


def test_run_py_with_an_unreachable_database_prints_one_line():
    done, _ = run(
        [sys.executable, "run.py"], MONGO_URI=UNREACHABLE, MONGO_TIMEOUT_MS="200"
    )
    assert done.returncode == 1
    assert done.stderr == (
        "error: cannot reach MongoDB at 127.0.0.1:1 within 200 ms (MONGO_URI)\n"
    )


def test_gunicorn_with_a_bad_setting_prints_one_line_and_exits_1():
    done, _ = run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
         "--no-control-socket", "-b", "127.0.0.1:1", "app:create_app()"],
        RATELIMIT_AUTH="lots",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        "error: RATELIMIT_AUTH: 'lots' is not a rate limit: use e.g. "
        "'30 per minute' or '5/second;100/hour'\n"
    )


def test_gunicorn_checks_the_settings_without_importing_the_app(tmp_path):
    """The master reads app/config.py and its parsers by path: the package app
    (and so Flask) stays unimported, for each worker to load afresh."""
    script = (
        "import runpy, sys\n"
        "runpy.run_path('gunicorn.conf.py')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'flask')))"
    )
    done, _ = run(
        [sys.executable, "-c", script],
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        RATELIMIT_AUTH="30 per minute",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_the_server_factory_prints_one_line_and_exits(monkeypatch, capsys):
    """``create_app()`` as servers call it: a line and an exit, no traceback;
    under gunicorn with gunicorn's "app failed to load" status, so that its
    master stops instead of starting the worker again."""
    import app as factory

    monkeypatch.setattr(factory, "prepare_database", lambda app: None)
    monkeypatch.setattr(Config, "MONGO_URI", UNREACHABLE)
    monkeypatch.setattr(Config, "MONGO_TIMEOUT_MS", 50)
    for software, status in (("", 1), ("gunicorn/27.0.1", 4)):
        monkeypatch.setenv("SERVER_SOFTWARE", software)
        with pytest.raises(SystemExit) as exit_:
            create_app()
        assert exit_.value.code == status
        assert capsys.readouterr().err == (
            "error: cannot reach MongoDB at 127.0.0.1:1 within 50 ms (MONGO_URI)\n"
        )


def test_flaskenv_names_the_cli_factory():
    assert "FLASK_APP=app:create_cli_app\n" in (REPO / ".flaskenv").read_text()


@pytest.mark.parametrize("args", [["--help"], ["routes"]])
def test_flask_help_and_routes_do_not_touch_the_database(args):
    # Had it tried, it would wait the whole 30 s for 127.0.0.1:1.
    done, took = run(FLASK + args, MONGO_URI=UNREACHABLE, MONGO_TIMEOUT_MS="30000")
    assert done.returncode == 0, done.stderr
    assert took < 20
    assert done.stderr == ""
    assert ("ledger" if args == ["--help"] else "/health") in done.stdout


@pytest.mark.parametrize("args", [["routes"], ["--help"]])
def test_flask_with_a_bad_setting_prints_one_line_and_exits_1(args):
    done, _ = run(FLASK + args, LOG_LEVEL="LOUD")
    assert done.returncode == 1
    assert done.stderr == (
        "error: LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    )


@pytest.mark.parametrize(
    "args", [["ledger", "check"], ["db", "init"], ["audit", "verify"]]
)
def test_flask_commands_on_an_unreachable_database_print_one_line(args):
    done, _ = run(FLASK + args, MONGO_URI=UNREACHABLE, MONGO_TIMEOUT_MS="200")
    assert done.returncode == 1
    assert done.stderr == (
        "error: cannot reach MongoDB at 127.0.0.1:1 within 200 ms (MONGO_URI)\n"
    )


def test_flask_db_init_does_the_start_up_work(monkeypatch):
    from app import create_cli_app

    monkeypatch.setattr(Config, "BOOTSTRAP_BANKER_USERNAME", "Boss")
    monkeypatch.setattr(Config, "BOOTSTRAP_BANKER_PASSWORD", PASSWORD)
    monkeypatch.setattr(Config, "PASSWORD_HASH_METHOD", "scrypt:1024:8:1")
    app = create_cli_app()
    db = app.extensions["mongo_db"]
    assert db["users"].index_information() == {}  # nothing done yet
    result = app.test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "indexes: ready",
        "ledger recover: 0 finished, 0 undone, 0 released, 0 idempotency keys "
        "settled, 0 daily-limit reservations judged, 0 movements audited",
        "bootstrap banker: created boss",
    ]
    assert any(v.get("unique") for v in db["users"].index_information().values())
    assert db["users"].find_one({"username": "boss"})["role"] == "banker"
    again = app.test_cli_runner().invoke(args=["db", "init"])
    assert again.output.splitlines()[-1] == "bootstrap banker: boss exists"


def test_cli_commands_create_the_indexes_they_need(monkeypatch):
    from app import create_cli_app

    monkeypatch.setattr(Config, "PASSWORD_HASH_METHOD", "scrypt:1024:8:1")
    app = create_cli_app()
    result = app.test_cli_runner().invoke(
        args=["create-banker", "teller", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    users = app.extensions["mongo_db"]["users"].index_information()
    assert any(v.get("unique") for v in users.values())
