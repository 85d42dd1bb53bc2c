"""Command-line commands: flask create-banker."""

import sys

import click
from flask import Flask, current_app
from marshmallow import ValidationError

from app.controllers import banker as banker_controller
from app.errors import UsernameTakenError


def register_commands(app: Flask) -> None:
    """Attach the CLI commands to the app."""

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
