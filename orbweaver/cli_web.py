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
@click.option("--org", "org_id", type=int, default=1, show_default=True,
              help="The organisation the user works in (see `orbweaver org list`; 1 is the operator's).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def user_create(config_path: Path | None, name: str, roles: tuple[str, ...], provider_id: int | None,
                org_id: int, password_stdin: bool) -> None:
    """Create an account; the password comes from a prompt (asked twice) or standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts = _accounts(config_path)
    user_id = accounts.create_user(name, password, roles, actor=_actor(), provider_id=provider_id, org_id=org_id)
    click.echo(json.dumps({"created": name, "id": user_id, "roles": sorted(roles)}))


@user.command("list")
@CONFIG_OPTION
def user_list(config_path: Path | None) -> None:
    """List accounts as JSON lines (never their passwords)."""
    for info in _accounts(config_path).list_users():
        click.echo(json.dumps({"id": info.id, "name": info.name, "roles": info.roles, "provider_id": info.provider_id,
                               "disabled": info.disabled, "org_id": info.org_id,
                               "created_at": info.created_at.isoformat(),
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


@click.group()
def org() -> None:
    """Manage the organisations that review (the operator's, hotlines) and their members."""


def _store(config_path: Path | None) -> Any:
    from core.store import Store

    store = Store(_settings(config_path).core.store_url())
    store.migrate()
    return store


@org.command("add")
@CONFIG_OPTION
@click.option("--name", required=True, help="The organisation's name.")
@click.option("--country", "countries", multiple=True, help="ISO 3166-1 alpha-2 code it covers (repeat for several).")
@click.option("--category", "categories", multiple=True, metavar="CODE=CLASS",
              help="A national category and the baseline class it maps to (repeat for several).")
@click.option("--notice-name", default="", help="Name notices go out under (default: the organisation's name).")
@click.option("--notice-email", default=None, help="Contact address in notices (X-ARF sender, Reply-To).")
@click.option("--notice-domain", default=None, help="Domain in X-ARF reports (default: the e-mail's).")
@click.option("--opted-in/--not-opted-in", default=False, help="Route its countries' new items to it.")
def org_add(config_path: Path | None, name: str, countries: tuple[str, ...], categories: tuple[str, ...],
            notice_name: str, notice_email: str | None, notice_domain: str | None, opted_in: bool) -> None:
    """Add a hotline organisation (audited)."""
    from core.messages import utcnow
    from review import orgs
    from web.audit import AuditAction, record

    mapping = {}
    for pair in categories:
        code, sep, target = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not CODE=CLASS", param_hint="--category")
        mapping[code] = target
    store = _store(config_path)
    with store.session() as s:
        org_id = orgs.create(s, name, kind=orgs.OrgKind.HOTLINE, jurisdiction=countries, opted_in=opted_in,
                             categories=mapping, notice_name=notice_name, notice_email=notice_email,
                             notice_domain=notice_domain)
    record(store, _actor(), AuditAction.ORG_CREATE, f"org:{org_id}", at=utcnow(), name=name,
           jurisdiction=sorted(countries), opted_in=opted_in)
    click.echo(json.dumps({"created": name, "id": org_id}))


@org.command("list")
@CONFIG_OPTION
def org_list(config_path: Path | None) -> None:
    """List organisations as JSON lines."""
    from review import orgs

    with _store(config_path).session() as s:
        for o in orgs.all_orgs(s):
            click.echo(json.dumps({"id": o.id, "name": o.name, "kind": o.kind, "countries": list(o.jurisdiction),
                                   "opted_in": o.opted_in, "categories": dict(o.categories),
                                   "notice_name": o.notice_name, "notice_email": o.notice_email,
                                   "notice_domain": o.notice_domain}))


@org.command("opt-in")
@CONFIG_OPTION
@click.option("--id", "org_id", type=int, required=True, help="The organisation.")
@click.option("--off", is_flag=True, help="Stop routing its countries' new items to it.")
def org_opt_in(config_path: Path | None, org_id: int, off: bool) -> None:
    """Start (or stop) routing an organisation's countries' new items to it (audited)."""
    from core.messages import utcnow
    from review import orgs
    from web.audit import AuditAction, record

    store = _store(config_path)
    with store.session() as s:
        orgs.set_opted_in(s, org_id, not off)
    record(store, _actor(), AuditAction.ORG_OPT_IN, f"org:{org_id}", at=utcnow(), opted_in=not off)
    click.echo(json.dumps({"id": org_id, "opted_in": not off}))


@org.command("member")
@CONFIG_OPTION
@click.option("--name", required=True, help="User name.")
@click.option("--id", "org_id", type=int, required=True, help="The organisation the user now works in.")
def org_member(config_path: Path | None, name: str, org_id: int) -> None:
    """Move an account into an organisation: it then sees that organisation's items only (audited)."""
    _accounts(config_path).set_org(name, org_id, actor=_actor())
    click.echo(json.dumps({"user": name, "org_id": org_id}))


def register(main: click.Group) -> None:
    """Add the web app's commands to the ``orbweaver`` group."""
    for command in (serve, user, token, org):
        main.add_command(command)
