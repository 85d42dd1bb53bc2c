"""The application factory."""

import logging
import secrets
from typing import Any

from flask import Flask
from marshmallow import ValidationError

from app.commands import register_commands, run_recovery
from app.config import Config
from app.controllers.banker import ensure_bootstrap_banker
from app.db import init_db, is_memory_uri
from app.errors import register_error_handlers
from app.extensions import jwt
from app.http import BankFlask
from app.models.account import AccountModel
from app.models.audit import AuditModel
from app.models.idempotency import IdempotencyModel
from app.models.session import LoginAttemptModel, LoginThrottleModel
from app.models.transaction import TransactionModel
from app.models.user import UserModel
from app.observability import configure_logging, register_request_hooks
from app.openapi import register_openapi
from app.security import register_http_policies, register_jwt_callbacks
from app.serving import register_body_error_handlers
from app.views import audit, auth, banker, customer, ops

log = logging.getLogger("app")


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


def create_app(config_class: type = Config, mongo_client: Any = None) -> Flask:
    """Build the API: config, extensions, blueprints, error handlers, commands."""
    # Its body stream refuses a chunked body over MAX_CONTENT_LENGTH (413)
    # instead of cutting it at the limit; its URL map never redirects.
    app = BankFlask(__name__)
    app.config.from_object(config_class)
    configure_logging(app)
    check_config(app)
    # First, so the request id exists before any other hook (the rate limiter's
    # included) can answer with a problem document.
    register_request_hooks(app)
    register_extensions(app, mongo_client)
    register_blueprints(app)
    register_error_handlers(app)
    register_body_error_handlers(app)
    register_commands(app)
    prepare_database(app)
    return app


def check_config(app: Flask) -> None:
    """Refuse unsafe production settings; make development ones workable."""
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
        # A warning, not a refusal: the log is still recorded and sealed, and
        # keyless seals still catch edits made without recomputing them.
        if not config.get("AUDIT_SEAL_KEY"):
            log.warning(
                "AUDIT_SEAL_KEY is not set: audit seals are plain SHA-256, so "
                "whoever can write the database can rewrite the audit log unseen"
            )
    if config["IDEMPOTENCY_KEY_TTL"].total_seconds() < 24 * 3600:
        raise ConfigError("IDEMPOTENCY_KEY_TTL must be at least 86400 seconds (24 h)")
    if not secret:
        config["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
        log.warning(
            "JWT_SECRET_KEY is not set: using a random key, so tokens stop "
            "working when the server restarts"
        )


def register_extensions(app: Flask, mongo_client: Any) -> None:
    """Bind the database and flask-jwt-extended to the app."""
    init_db(app, mongo_client)
    if app.config["IN_MEMORY_DB"] and not app.config["TESTING"]:
        log.warning("MONGO_URI is the in-memory database: nothing survives a restart")
    jwt.init_app(app)
    register_jwt_callbacks(app)
    register_http_policies(app)


def register_blueprints(app: Flask) -> None:
    """Mount the documented blueprints at the contract's paths, plus the docs."""

    modules = (auth, customer, banker, audit, ops)
    register_openapi(app, (module.bp for module in modules))


def prepare_database(app: Flask) -> None:
    """Create indexes, recover the ledger, create the bootstrap banker."""

    with app.app_context():
        for model in (
            UserModel(),
            AccountModel(),
            TransactionModel(),
            IdempotencyModel(),
            LoginThrottleModel(),
            LoginAttemptModel(),
            AuditModel(),
        ):
            model.ensure_indexes()
        if app.config["LEDGER_RECOVER_ON_START"]:
            log.info("%s", run_recovery())
        username = app.config.get("BOOTSTRAP_BANKER_USERNAME")
        password = app.config.get("BOOTSTRAP_BANKER_PASSWORD")
        if bool(username) != bool(password):
            raise ConfigError(
                "set both BOOTSTRAP_BANKER_USERNAME and BOOTSTRAP_BANKER_PASSWORD, "
                "or neither"
            )
        if not username:
            return
        try:
            created = ensure_bootstrap_banker(username, password)
        except ValidationError as exc:
            fields = ", ".join(sorted(exc.messages))
            raise ConfigError(
                f"BOOTSTRAP_BANKER_USERNAME/PASSWORD break the rules for: {fields}"
            ) from None
        if created:
            log.info("created bootstrap banker %s", username.lower())
