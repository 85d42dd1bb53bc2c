"""CLI commands: db init, create-banker, ledger recover|check, audit seal|verify.

Also the start-up work on the database (:func:`prepare_database`), which the
servers run through ``create_app`` and ``flask db init`` runs by hand.
"""

import functools
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from marshmallow import ValidationError

from app import demo
from app.audit_commands import register_audit_commands
from app.config import ConfigError, StartupError
from app.controllers import banker as banker_controller
from app.controllers import jobs as jobs_controller
from app.controllers import ledger as ledger_controller
from app.controllers.banker import ensure_bootstrap_banker
from app.core import limits, notification_events, recovery
from app.core.idempotency import settle_stale_keys
from app.db import ping_database
from app.errors import UsernameTakenError
from app.models.account import AccountModel
from app.models.approval import ApprovalModel
from app.models.audit import AuditModel
from app.models.daily_usage import DailyUsageModel
from app.models.goal import GoalModel
from app.models.idempotency import IdempotencyModel
from app.models.loan import LoanModel
from app.models.loan_product import LoanProductModel
from app.models.notification import NotificationModel
from app.models.password_reset import PasswordResetModel
from app.models.payee import PayeeModel
from app.models.review import ReviewModel
from app.models.scheduled_transfer import ScheduledTransferModel
from app.models.session import LoginAttemptModel, LoginThrottleModel
from app.models.transaction import TransactionModel
from app.models.user import UserModel

log = logging.getLogger("app")


def ensure_database(app: Flask) -> None:
    """Check that the database answers and create its indexes, once per app.

    :raises DatabaseUnreachable: the MongoDB server does not answer.
    """
    if app.extensions.get("database_ready"):
        return
    ping_database(app)
    with app.app_context():
        for model in (
            UserModel(),
            AccountModel(),
            TransactionModel(),
            IdempotencyModel(),
            LoginThrottleModel(),
            LoginAttemptModel(),
            AuditModel(),
            PayeeModel(),
            ReviewModel(),
            DailyUsageModel(),
            ScheduledTransferModel(),
            GoalModel(),
            ApprovalModel(),
            LoanProductModel(),
            LoanModel(),
            PasswordResetModel(),
            NotificationModel(),
        ):
            model.ensure_indexes()
        # The notifications' sweeps begin here the first time, not in the past.
        notification_events.start_feeds()
    app.extensions["database_ready"] = True


def prepare_database(app: Flask) -> list[str]:
    """Create indexes, recover the ledger, create the bootstrap banker.

    Returns one line per step, for ``flask db init`` to print.

    :raises DatabaseUnreachable: the MongoDB server does not answer.
    :raises ConfigError: the bootstrap banker's settings break the rules.
    """
    ensure_database(app)
    done = ["indexes: ready"]
    with app.app_context():
        if app.config["LEDGER_RECOVER_ON_START"]:
            text = run_recovery()
            log.info("%s", text)
            done.append(text)
        else:
            done.append("ledger recover: skipped (LEDGER_RECOVER_ON_START=false)")
        done.append(_bootstrap_banker(app))
    return done


def _bootstrap_banker(app: Flask) -> str:
    # check_config has refused one without the other.
    username = app.config.get("BOOTSTRAP_BANKER_USERNAME")
    password = app.config.get("BOOTSTRAP_BANKER_PASSWORD")
    if not (username and password):
        return "bootstrap banker: none (BOOTSTRAP_BANKER_USERNAME is not set)"
    try:
        created = ensure_bootstrap_banker(username, password)
    except ValidationError as exc:
        fields = ", ".join(sorted(exc.messages))
        raise ConfigError(
            f"BOOTSTRAP_BANKER_USERNAME/PASSWORD break the rules for: {fields}"
        ) from None
    if created:
        log.info("created bootstrap banker %s", username.lower())
        return f"bootstrap banker: created {username.lower()}"
    return f"bootstrap banker: {username.lower()} exists"


def needs_database(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Make a command check the database and create its indexes before it runs.

    An unreachable database is one ``error:`` line and exit status 1.
    """

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            ensure_database(current_app)
        except StartupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        return callback(*args, **kwargs)

    return with_appcontext(run)


def run_recovery() -> str:
    """Settle abandoned movements and idempotency claims; describe what it did."""
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    counts = recovery.recover(timeout)
    keys = settle_stale_keys(timeout)
    reservations = limits.settle_stale(timeout)
    counts["audited"] = recovery.audit_movements(timeout)
    text = (
        f"ledger recover: {counts['finished']} finished, {counts['aborted']} undone, "
        f"{counts['released']} released, {keys} idempotency keys settled, "
        f"{reservations} daily-limit reservations judged, "
        f"{counts['audited']} movements audited"
    )
    if counts["failed"]:
        text += f"; {counts['failed']} could not be settled (see the log)"
    return text


def format_report(report: dict) -> str:
    """Render a reconciliation report as a few lines of text."""
    lines = [
        f"ledger check: {report['accounts']} accounts, {report['entries']} entries, "
        f"{report['transfers']} transfers, total balance "
        f"{report['total_balance']} {report['currency']}"
    ]
    if report["ok"]:
        lines.append("OK: every balance matches its journal")
    else:
        lines.append(f"FAILED: {len(report['problems'])} problems")
        for problem in report["problems"]:
            where = " ".join(
                f"{key}={value}"
                for key, value in problem.items()
                if key not in ("code", "detail")
            )
            lines.append(f"  {problem['code']} {where}: {problem['detail']}")
    return "\n".join(lines)


def register_commands(app: Flask) -> None:
    """Attach the CLI commands to the app."""

    register_audit_commands(app)
    # The audit commands read and write the database like the ledger's.
    for command in app.cli.commands["audit"].commands.values():
        command.callback = needs_database(command.callback)
    db_group = AppGroup("db", help="Prepare the database.")
    app.cli.add_command(db_group)

    @db_group.command("init")
    def db_init() -> None:
        """Create the indexes, recover the ledger, create the bootstrap banker."""
        try:
            done = prepare_database(current_app)
        except StartupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        for line in done:
            click.echo(line)

    # AppGroup: each command runs inside the app context, like app.cli's own.
    ledger_group = AppGroup("ledger", help="Recover and reconcile the ledger.")
    app.cli.add_command(ledger_group)

    @ledger_group.command("recover")
    @needs_database
    def ledger_recover() -> None:
        """Finish or undo every movement a crash left halfway (idempotent)."""
        click.echo(run_recovery())

    @ledger_group.command("check")
    @needs_database
    def ledger_check() -> None:
        """Verify every balance against the journal; exit 1 on any discrepancy."""
        report = ledger_controller.check_report()
        click.echo(format_report(report))
        if not report["ok"]:
            sys.exit(1)

    jobs_group = AppGroup("jobs", help="Run the background jobs.")
    app.cli.add_command(jobs_group)

    @jobs_group.command("run-due")
    @click.option(
        "--at",
        "at",
        default=None,
        help="Run as if the time were this ISO 8601 instant (UTC when no zone).",
    )
    @needs_database
    def jobs_run_due(at: str | None) -> None:
        """Run every job with work due now; safe from several processes at once."""
        now = None
        if at is not None:
            try:
                now = datetime.fromisoformat(at)
            except ValueError:
                click.echo(f"error: --at: {at!r} is not an ISO 8601 instant", err=True)
                sys.exit(2)
            now = now if now.tzinfo else now.replace(tzinfo=UTC)
        stopped = False
        for name, summary in jobs_controller.run_due(now).items():
            if summary is None:
                click.echo(f"{name}: nothing due")
            elif "error" in summary:
                stopped = True
                click.echo(f"{name}: stopped by {summary['error']} (see the log)")
            else:
                done, failed = summary["done"], summary["failed"]
                click.echo(f"{name}: {done} done, {failed} failed")
        if stopped:
            sys.exit(1)

    @app.cli.command("seed-demo")
    @needs_database
    def seed_demo() -> None:
        """Fill a store without customers with the demo bank (six months of it)."""
        try:
            lines = demo.seed(current_app._get_current_object())
        except demo.SeedRefused as exc:
            click.echo(f"error: {exc}; seed-demo fills a fresh store only", err=True)
            sys.exit(1)
        for line in lines:
            click.echo(line)
        if current_app.config["IN_MEMORY_DB"]:
            click.echo(
                "warning: MONGO_URI is the in-memory database; this data is gone "
                "when the command exits. Use `make demo` (DEMO_DATA=true) instead.",
                err=True,
            )

    @app.cli.command("create-banker")
    @click.argument("username")
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from standard input instead of prompting.",
    )
    @needs_database
    def create_banker(username: str, password_stdin: bool) -> None:
        """Create a banker (over HTTP only a banker can: POST /banker/staff)."""
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt(
                "Password", hide_input=True, confirmation_prompt=True
            )
        try:
            user = banker_controller.create_banker(username, password)
        except ValidationError as exc:
            for field, messages in exc.messages.items():
                click.echo(f"error: {field}: {' '.join(messages)}", err=True)
            sys.exit(2)
        except UsernameTakenError:
            click.echo(f"error: username {username.lower()!r} is taken", err=True)
            sys.exit(1)
        click.echo(f"Created banker {user['username']} ({user['_id']}).")
        if current_app.config["IN_MEMORY_DB"]:
            click.echo(
                "warning: MONGO_URI is the in-memory database; this banker is gone "
                "when the command exits. Set MONGO_URI or use "
                "BOOTSTRAP_BANKER_USERNAME/PASSWORD.",
                err=True,
            )
