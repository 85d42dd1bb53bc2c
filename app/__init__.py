"""The application factory."""

import logging
import os
import secrets
import sys
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.commands import prepare_database, register_commands
from app.config import (
    Config,
    ConfigError,
    SettingError,
    StartupError,
    check_settings,
)
from app.db import init_db, is_memory_uri, ping_database
from app.error_handlers import register_error_handlers
from app.extensions import jwt
from app.http import BankFlask
from app.observability import configure_logging, register_request_hooks
from app.openapi import register_openapi
from app.security import register_http_policies, register_jwt_callbacks
from app.senders import check_senders
from app.serving import register_body_error_handlers
from app.views import (
    analytics,
    approvals,
    audit,
    auth,
    banker,
    customer,
    goals,
    limits,
    loans,
    notifications,
    ops,
    payees,
    reports,
    reviews,
    scheduled,
    statements,
)
from app.views import web as web_front_end

__all__ = [
    "ConfigError",
    "SettingError",
    "StartupError",
    "create_app",
    "create_cli_app",
]

log = logging.getLogger("app")
# gunicorn's worker exit status for "the app failed to load": its master then
# stops, where after any other status it would start the worker again, forever.
GUNICORN_APP_LOAD_ERROR = 4


def create_app(
    config_class: type = Config, mongo_client: Any = None, *, prepare: bool = True
) -> Flask:
    """Build the API: config, extensions, blueprints, error handlers, commands.

    ``prepare`` (the default, for servers and tests) checks that the database
    answers and creates its indexes, recovers the ledger and creates the
    bootstrap banker; the ``flask`` command skips that (see create_cli_app).
    Called with no arguments, as servers do (gunicorn's ``app:create_app()``),
    a start-up refusal is printed as one ``error:`` line and the process exits
    instead of raising, which would print a traceback.

    :raises StartupError: a setting is invalid or the database does not answer.
    """
    if config_class is Config and mongo_client is None:
        try:
            return _build_app(config_class, mongo_client, prepare)
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            under_gunicorn = os.environ.get("SERVER_SOFTWARE", "").startswith(
                "gunicorn/"
            )
            sys.exit(GUNICORN_APP_LOAD_ERROR if under_gunicorn else 1)
    return _build_app(config_class, mongo_client, prepare)


def create_cli_app() -> Flask:
    """Build the app for the ``flask`` command (FLASK_APP in .flaskenv).

    It does not touch the database: ``flask --help`` and ``flask routes`` work
    without one. Commands that need it check it and create the indexes first;
    ``flask db init`` does all the start-up work. Its rate-limit counters stay
    in memory: the commands serve no requests, and limits' MongoDB storage
    would otherwise connect while the process exits.
    """

    class CliConfig(Config):
        RATELIMIT_STORAGE_URI = "memory://"

    try:
        return _build_app(CliConfig, None, prepare=False)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def _build_app(config_class: type, mongo_client: Any, prepare: bool) -> Flask:
    # Its body stream refuses a chunked body over MAX_CONTENT_LENGTH (413)
    # instead of cutting it at the limit; its URL map never redirects.
    app = BankFlask(__name__)
    app.config.from_object(config_class)
    check_settings()
    configure_logging(app)
    check_config(app)
    # First, so the request id exists before any other hook (the rate limiter's
    # included) can answer with a problem document.
    register_request_hooks(app)
    register_extensions(app, mongo_client, ping=prepare)
    register_blueprints(app)
    register_error_handlers(app)
    register_body_error_handlers(app)
    register_commands(app)
    trust_proxies(app)
    if prepare:
        prepare_database(app)
    # The flask command (prepare=False) issues no tokens: no need to warn.
    settle_config(app, warn=prepare)
    return app


def trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, take the client's address, scheme
    and host from their X-Forwarded-* headers (the last N hops only), so rate
    limits and the audit log's ip see the client, not the proxy. With 0 (the
    default) those headers are ignored: a client cannot forge its address."""
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def check_config(app: Flask) -> None:
    """Refuse unsafe production settings and incomplete ones."""
    config = app.config
    secret = config.get("JWT_SECRET_KEY") or ""
    if config["APP_ENV"] == "production":
        if len(secret.encode()) < 32:
            raise ConfigError(
                "JWT_SECRET_KEY must be set to at least 32 bytes when "
                "APP_ENV=production"
            )
        if is_memory_uri(config["MONGO_URI"]):
            raise ConfigError(
                "APP_ENV=production needs MONGO_URI to name a real MongoDB "
                "server (mongodb:// or mongodb+srv://), not the in-memory database"
            )
    if config["IDEMPOTENCY_KEY_TTL"].total_seconds() < 24 * 3600:
        raise ConfigError("IDEMPOTENCY_KEY_TTL must be at least 86400 seconds (24 h)")
    if bool(config.get("BOOTSTRAP_BANKER_USERNAME")) != bool(
        config.get("BOOTSTRAP_BANKER_PASSWORD")
    ):
        raise ConfigError(
            "set both BOOTSTRAP_BANKER_USERNAME and BOOTSTRAP_BANKER_PASSWORD, "
            "or neither"
        )
    check_senders(config)


def settle_config(app: Flask, warn: bool = True) -> None:
    """Make a development config workable; warn about weak settings.

    Run once start-up can no longer fail on the database, so that a refusal
    stays the only line printed.
    """
    config = app.config
    # A warning, not a refusal: the log is still recorded and sealed, and
    # keyless seals still catch edits made without recomputing them.
    if config["APP_ENV"] == "production" and not config.get("AUDIT_SEAL_KEY"):
        log.warning(
            "AUDIT_SEAL_KEY is not set: audit seals are plain SHA-256, so "
            "whoever can write the database can rewrite the audit log unseen"
        )
    if not config.get("JWT_SECRET_KEY"):
        config["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
        log.log(
            logging.WARNING if warn else logging.DEBUG,
            "JWT_SECRET_KEY is not set: using a random key, so tokens stop "
            "working when the server restarts"
        )


def register_extensions(app: Flask, mongo_client: Any, ping: bool = True) -> None:
    """Bind the database, flask-jwt-extended and the HTTP policies to the app."""
    init_db(app, mongo_client)
    if ping:
        # Before the rate limiter: limits' MongoDB storage, once built, connects
        # when it is garbage-collected, a second traceback at exit.
        ping_database(app)
    if app.config["IN_MEMORY_DB"] and not app.config["TESTING"]:
        log.warning("MONGO_URI is the in-memory database: nothing survives a restart")
    jwt.init_app(app)
    register_jwt_callbacks(app)
    register_http_policies(app)


def register_blueprints(app: Flask) -> None:
    """Mount the documented blueprints at the contract's paths, plus the docs."""

    modules = (
        auth, customer, goals, payees, scheduled, limits, loans, approvals, banker,
        reviews, reports, audit, statements, analytics, notifications, ops,
    )  # fmt: skip
    register_openapi(app, (module.bp for module in modules))
    # The web front end's shell and assets: HTML, not API operations.
    app.register_blueprint(web_front_end.bp)
