"""The feeds' commands (top of the stack): ``orbweaver feed key-create|key-list|key-revoke`` for partners' keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from orbweaver.cli_options import CONFIG_OPTION, load_cli_settings


def _store(config_path: Path | None) -> Any:
    from core.store import Store

    store = Store(load_cli_settings(config_path).core.store_url())
    store.migrate()
    return store


@click.group()
def feed() -> None:
    """Keys to the feeds partners pull: the hash feed (HMA, python-threatexchange) and the filtering feed."""


@feed.command("key-create")
@CONFIG_OPTION
@click.option("--feed", "scope", required=True, type=click.Choice(["hashes", "urls"]),
              help="The one feed the key opens: hashes (/stopncii/v1/FetchHashes) or urls (/feeds/v1/urls).")
@click.option("--name", required=True, help="Who the key is for (a label).")
def key_create(config_path: Path | None, scope: str, name: str) -> None:
    """Issue a feed key; its secret is printed once and only its hash is kept."""
    from web.feeds import create_key

    key_id, secret = create_key(_store(config_path), name, scope)
    click.echo(json.dumps({"id": key_id, "feed": scope, "name": name, "secret": secret}))
    hint = ("For python-threatexchange / HMA: subscription_key = the id, fetch_function_key = the secret."
            if scope == "hashes" else "Send it as 'Authorization: Bearer <secret>'.")
    click.echo(f"Store the secret now: it cannot be shown again. {hint}", err=True)


@feed.command("key-list")
@CONFIG_OPTION
def key_list(config_path: Path | None) -> None:
    """List feed keys as JSON lines (never their secrets)."""
    from web.feeds import list_keys

    for k in list_keys(_store(config_path)):
        click.echo(json.dumps({"id": k.id, "feed": k.scope, "name": k.name, "prefix": k.prefix,
                               "created_at": k.created_at.isoformat(),
                               "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                               "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}))


@feed.command("key-revoke")
@CONFIG_OPTION
@click.option("--id", "key_id", required=True, type=int, help="The key's id (from key-list).")
def key_revoke(config_path: Path | None, key_id: int) -> None:
    """Revoke a feed key at once."""
    from web.feeds import revoke_key

    revoke_key(_store(config_path), key_id)
    click.echo(json.dumps({"revoked": key_id}))
