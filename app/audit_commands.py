"""Command-line commands for the audit log: flask audit seal|verify."""

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from app.controllers.audit import catch_up
from app.models.audit import AuditModel, SealError, seal


def format_seal_report(report: dict) -> str:
    """Render what one sealing run did as one line."""
    if report["busy"] and not report["seals"]:
        text = "audit seal: another sealer holds the lease; nothing done"
    elif report["seals"]:
        numbers = report["seals"]
        span = str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"
        text = (
            f"audit seal: {len(numbers)} seal(s) ({span}) over "
            f"{report['entries']} entries"
        )
    else:
        text = "audit seal: nothing to seal"
    if report["last_seal"] is not None:
        text += f"; head seal {report['last_seal']} digest {report['last_digest']}"
    return text


def format_verify_report(report: dict) -> str:
    """Render a log check as one line."""
    text = (
        f"audit verify: {'valid' if report['valid'] else 'INVALID'}, "
        f"{report['entries']} entries, {report['sealed']} sealed in "
        f"{report['seals']} seals, {report['unsealed']} not yet"
    )
    if not report["valid"]:
        text += (
            f"; first bad entry {report['first_bad_id']}, "
            f"seal {report['first_bad_seal']}"
        )
    if report["last_seal"] is not None:
        text += f"; head seal {report['last_seal']} digest {report['last_digest']}"
    return text


def register_audit_commands(app: Flask) -> None:
    """Attach ``flask audit seal`` and ``flask audit verify`` to the app."""

    # AppGroup: each command runs inside the app context, like app.cli's own.
    audit_group = AppGroup("audit", help="Seal and verify the audit log.")
    app.cli.add_command(audit_group)

    @audit_group.command("seal")
    def audit_seal() -> None:
        """Seal every settled entry not yet sealed (one sealer at a time)."""
        catch_up()  # the movements' entries first, so the seal can cover them
        try:
            report = seal()
        except SealError as exc:
            click.echo(f"error: {exc}; run `flask audit verify`", err=True)
            sys.exit(1)
        if not report["keyed"]:
            click.echo(
                "warning: AUDIT_SEAL_KEY is not set: seals are plain SHA-256, "
                "which anyone who can write the database can recompute",
                err=True,
            )
        click.echo(format_seal_report(report))

    @audit_group.command("verify")
    def audit_verify() -> None:
        """Check every entry and seal; exit 1 when the log is not intact."""
        report = AuditModel().verify()
        click.echo(format_verify_report(report))
        if not report["valid"]:
            sys.exit(1)
