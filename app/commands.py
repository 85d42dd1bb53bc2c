"""Command-line commands: create-banker, ledger recover|check, audit seal|verify."""

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from app.audit_commands import register_audit_commands
from app.controllers import banker as banker_controller
from app.controllers import ledger as ledger_controller
from app.core import recovery
from app.core.idempotency import settle_stale_keys
from app.errors import UsernameTakenError


def run_recovery() -> str:
    """Settle abandoned movements and idempotency claims; describe what it did."""
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    counts = recovery.recover(timeout)
    keys = settle_stale_keys(timeout)
    counts["audited"] = recovery.audit_movements(timeout)
    text = (
        f"ledger recover: {counts['finished']} finished, {counts['aborted']} undone, "
        f"{counts['released']} released, {keys} idempotency keys settled, "
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
    # AppGroup: each command runs inside the app context, like app.cli's own.
    ledger_group = AppGroup("ledger", help="Recover and reconcile the ledger.")
    app.cli.add_command(ledger_group)

    @ledger_group.command("recover")
    def ledger_recover() -> None:
        """Finish or undo every movement a crash left halfway (idempotent)."""
        click.echo(run_recovery())

    @ledger_group.command("check")
    def ledger_check() -> None:
        """Verify every balance against the journal; exit 1 on any discrepancy."""
        report = ledger_controller.check_report()
        click.echo(format_report(report))
        if not report["ok"]:
            sys.exit(1)

    @app.cli.command("create-banker")
    @click.argument("username")
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from standard input instead of prompting.",
    )
    def create_banker(username: str, password_stdin: bool) -> None:
        """Create a banker account (bankers are never made over HTTP)."""
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
