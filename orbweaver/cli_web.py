"""The web app's commands (top of the stack): ``orbweaver serve``, ``orbweaver user …`` and ``orbweaver token …``."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import click

from core.optional import require
from orbweaver.cli_options import CONFIG_OPTION, load_cli_settings

_settings = load_cli_settings


def _actor() -> str:
    # Command-line admin actions are audited under the operating-system account that ran them.
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _accounts(config_path: Path | None) -> Any:
    require("argon2", "web")
    from core.messages import utcnow
    from core.store import Store
    from web.auth import Accounts

    settings = _settings(config_path)
    store = Store(settings.core.store_url())
    store.migrate()
    return Accounts(store, settings.web, utcnow)


@click.command()
@CONFIG_OPTION
@click.option("--host", default=None, help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: web.port, 8080).")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Serve over TLS with this certificate (session cookies become Secure).")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Private key of --ssl-certfile.")
def serve(config_path: Path | None, host: str | None, port: int | None, ssl_certfile: str | None,
          ssl_keyfile: str | None) -> None:
    """Run the web app: analyst review, audit log, provider notices (and the API and dashboard)."""
    overrides: dict[str, Any] = {"web": {}}
    if host is not None:
        overrides["web"]["host"] = host
    if port is not None:
        overrides["web"]["port"] = port
    settings = _settings(config_path, overrides)
    require("fastapi", "web")
    uvicorn = require("uvicorn", "web")
    from web.app import create_app

    app = create_app(settings)
    web = settings.web
    click.echo(f"orbweaver web app on {'https' if ssl_certfile else 'http'}://{web.host}:{web.port}/", err=True)
    uvicorn.run(
        app,
        host=web.host,
        port=web.port,
        proxy_headers=bool(web.forwarded_allow_ips),
        forwarded_allow_ips=",".join(web.forwarded_allow_ips) or None,
        server_header=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_config=None,
    )


@click.group()
def user() -> None:
    """Manage web app accounts (the first admin is created here)."""


@user.command("create")
@CONFIG_OPTION
@click.option("--name", required=True, help="User name.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["admin", "operator", "analyst", "senior_analyst", "provider", "hash_check"]),
              help="Role (repeat for several).")
@click.option("--provider", "provider_id", type=int, default=None,
              help="Provider id a provider user is bound to (see the providers table).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def user_create(config_path: Path | None, name: str, roles: tuple[str, ...], provider_id: int | None,
                password_stdin: bool) -> None:
    """Create an account; the password comes from a prompt (asked twice) or standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts = _accounts(config_path)
    user_id = accounts.create_user(name, password, roles, actor=_actor(), provider_id=provider_id)
    click.echo(json.dumps({"created": name, "id": user_id, "roles": sorted(roles)}))


@user.command("list")
@CONFIG_OPTION
def user_list(config_path: Path | None) -> None:
    """List accounts as JSON lines (never their passwords)."""
    for info in _accounts(config_path).list_users():
        click.echo(json.dumps({"id": info.id, "name": info.name, "roles": info.roles, "provider_id": info.provider_id,
                               "disabled": info.disabled, "created_at": info.created_at.isoformat(),
                               "last_login_at": info.last_login_at.isoformat() if info.last_login_at else None}))


@user.command("disable")
@CONFIG_OPTION
@click.option("--name", required=True, help="User name.")
def user_disable(config_path: Path | None, name: str) -> None:
    """Disable an account: its sessions end and its API tokens are revoked."""
    _accounts(config_path).disable_user(name, actor=_actor())
    click.echo(json.dumps({"disabled": name}))


@user.command("unlock")
@CONFIG_OPTION
@click.option("--name", required=True, help="User name.")
def user_unlock(config_path: Path | None, name: str) -> None:
    """Lift the sign-in limits on an account (after failed sign-ins by someone else, say)."""
    cleared = _accounts(config_path).unlock(name, actor=_actor())
    click.echo(json.dumps({"unlocked": name, "failures_cleared": cleared}))


@click.group()
def token() -> None:
    """Manage API tokens for programmatic use."""


@token.command("create")
@CONFIG_OPTION
@click.option("--user", "user_name", required=True, help="The user the token acts as.")
@click.option("--name", "token_name", default="api", show_default=True, help="A label to tell tokens apart.")
@click.option("--expires-days", type=int, default=None, help="Lifetime in days (default: until revoked).")
def token_create(config_path: Path | None, user_name: str, token_name: str, expires_days: int | None) -> None:
    """Issue an API token; it is printed once and only its hash is kept."""
    token_id, secret = _accounts(config_path).issue_token(user_name, token_name, actor=_actor(),
                                                          expires_days=expires_days)
    click.echo(secret)
    click.echo(f"token id: {token_id}", err=True)
    click.echo("Store this token now: it cannot be shown again. Use it as 'Authorization: Bearer <token>', or as "
               f"HTTP Basic with user name {token_id} and the token as password (Arachnid Shield clients).", err=True)


def register(main: click.Group) -> None:
    """Add the web app's commands to the ``orbweaver`` group."""
    for command in (serve, user, token):
        main.add_command(command)
