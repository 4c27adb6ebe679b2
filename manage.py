#!/usr/bin/env python
"""Command-line entry point: python manage.py --help."""
import sys

import click
from click.exceptions import NoArgsIsHelpError
from flask import Flask
from flask.cli import FlaskGroup

from admin_app import ConfigError, create_app


def _create_app() -> Flask:
    """The app from the environment; a configuration mistake is one line and exit status 2, not a traceback."""
    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


cli = FlaskGroup(create_app=_create_app, add_default_commands=False, load_dotenv=False,
                 help="Admin reporting app: set up the database, manage users, seed demo data, query activity, serve.")


def _sentence(message: str) -> str:
    """Click's message as part of one line: whitespace folded, no capital or full stop of its own."""
    text = " ".join(message.split()).rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def main(args: list[str] | None = None) -> int:
    """Run a command; a usage mistake is one line on stderr saying what to fix and exit status 2.

    Click would print its usage block and a "Try --help" line first; help itself (--help, or a group named
    without a command) is shown unchanged.
    """
    try:
        rv = cli.main(args=args, standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:
        # Click leaves ctx unset for an option without its value; the top-level help still says what to pass.
        where = exc.ctx.command_path if exc.ctx is not None else "manage.py"
        click.echo(f"error: {_sentence(exc.format_message())} (see '{where} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {_sentence(exc.format_message())}", err=True)
        return exc.exit_code
    except click.Abort:  # Ctrl-C or end of input at a prompt
        click.echo("error: aborted", err=True)
        return 1
    return rv if isinstance(rv, int) else 0  # an int is ctx.exit(code)'s, e.g. 0 after --help


if __name__ == "__main__":
    sys.exit(main())
