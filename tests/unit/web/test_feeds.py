"""The filtering feed (``/feeds/v1/urls``), the feeds' clock and paging, and the feed commands of the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.store import Store
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from notifier.states import NoticeItemStatus
from tests.fixtures.feeds import close_notice_item, confirm_media, notice_url, random_hex
from tests.unit.web.conftest import Env, make_env
from tests.unit.web.test_cli_web import run
from web.auth import Role
from web.feeds import FeedName, create_key, revoke_key, sync


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, feed_page_size=2)


def urls(client: TestClient, secret: str, since: str | None = None) -> dict[str, Any]:
    answer = client.get("/feeds/v1/urls", params={"since": since} if since else {},
                        headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def drain(client: TestClient, secret: str, since: str | None = None) -> tuple[list[tuple[str, str]], str]:
    """Every page until ``more`` is false: ``(url, status)`` records and the final token."""
    seen: list[tuple[str, str]] = []
    while True:
        page = urls(client, secret, since)
        seen += [(r["url"], r["status"]) for r in page["urls"]]
        since = page["next"]
        if not page["more"]:
            return seen, since


def test_filtering_feed_lists_urls_online_until_removal_is_confirmed(env: Env) -> None:
    _, secret = create_key(env.store, "dns filter", "urls")
    client = env.client()
    item = confirm_media(env.store, pdq=random_hex(64))
    ids = {url: notice_url(env.store, item, url) for url in
           ("http://files.test/a.jpg", "http://files.test/b.jpg", "http://files.test/c.jpg")}
    seen, token = drain(client, secret)  # three records over two pages of two
    assert sorted(seen) == sorted((url, "online") for url in ids)

    close_notice_item(env.store, ids["http://files.test/a.jpg"], NoticeItemStatus.REMOVED)
    close_notice_item(env.store, ids["http://files.test/b.jpg"], NoticeItemStatus.WITHDRAWN)
    later, token2 = drain(client, secret, token)
    assert sorted(later) == [("http://files.test/a.jpg", "removed"), ("http://files.test/b.jpg", "removed")]
    assert drain(client, secret, token2)[0] == []  # nothing new: nothing sent again

    # A URL still open under another notice item stays online; a newcomer is not sent what it never had.
    notice_url(env.store, confirm_media(env.store, pdq=random_hex(64)), "http://files.test/d.jpg")
    assert drain(client, secret, token2)[0] == [("http://files.test/d.jpg", "online")]
    fresh, _ = drain(client, secret)
    assert sorted(fresh) == [("http://files.test/c.jpg", "online"), ("http://files.test/d.jpg", "online")]


def test_filtering_feed_keys_are_scoped_and_revocable(env: Env) -> None:
    client = env.client()
    hash_key_id, hash_secret = create_key(env.store, "hma", "hashes")
    url_key_id, url_secret = create_key(env.store, "dns filter", "urls")
    assert client.get("/feeds/v1/urls").status_code == 401
    assert client.get("/feeds/v1/urls", headers={"Authorization": f"Bearer {hash_secret}"}).status_code == 401
    assert client.get("/feeds/v1/urls", headers={"Authorization": f"Bearer {url_secret}",
                                                 "Accept": "text/html"}).status_code == 200
    assert client.get("/feeds/v1/urls", params={"since": "not-a-token"},
                      headers={"Authorization": f"Bearer {url_secret}"}).status_code == 400
    revoke_key(env.store, url_key_id)
    assert client.get("/feeds/v1/urls", headers={"Authorization": f"Bearer {url_secret}"}).status_code == 401
    # Nor does an account's API token open a feed.
    env.user("acme", Role.HASH_CHECK)
    api_token = env.accounts.create_token("acme", "api", actor="test")
    assert client.get("/feeds/v1/urls", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    assert client.get("/stopncii/v1/FetchHashes", headers={"x-functions-key": api_token,
                                                           "Ocp-Apim-Subscription-Key": "1"}).status_code == 401
    own = {"x-functions-key": hash_secret, "Ocp-Apim-Subscription-Key": str(hash_key_id)}
    assert client.get("/stopncii/v1/FetchHashes", headers=own).status_code == 200


def test_clock_never_goes_back_and_pages_never_rewind(env: Env) -> None:
    key_id, secret = create_key(env.store, "hma", "hashes")
    headers = {"x-functions-key": secret, "Ocp-Apim-Subscription-Key": str(key_id)}
    client = env.client()
    for _ in range(3):
        confirm_media(env.store, pdq=random_hex(64))
    first = client.get("/stopncii/v1/FetchHashes", params={"startTimestamp": 10, "pageSize": 800}, headers=headers)
    assert first.status_code == 200
    body = first.json()
    assert (body["count"], body["hasMoreRecords"]) == (2, True)
    tick = body["hashRecords"][0]["lastModtimestamp"]
    # One sync stamps every change with one tick; mid-way the checkpoint stays below it (the rest is re-read).
    assert body["nextSetTimestamp"] == tick - 1
    second = client.get("/stopncii/v1/FetchHashes", headers=headers, params={
        "startTimestamp": 10, "pageSize": 800, "nextPageToken": body["nextPageToken"]}).json()
    assert (second["count"], second["hasMoreRecords"], second["nextSetTimestamp"]) == (1, False, tick)
    wrong = client.get("/stopncii/v1/FetchHashes", headers=headers, params={
        "startTimestamp": 11, "nextPageToken": body["nextPageToken"]})
    assert wrong.status_code == 400
    # A wall clock set back still stamps the next change later than anything handed out.
    confirm_media(env.store, pdq=random_hex(64))
    assert sync(env.store, FeedName.HASHES, now=1) == 1
    later = client.get("/stopncii/v1/FetchHashes", params={"startTimestamp": tick}, headers=headers).json()
    assert [r["lastModtimestamp"] for r in later["hashRecords"]] == [tick + 1]
    assert sync(env.store, FeedName.HASHES, now=1) == 0  # nothing changed, no tick spent


def test_hashset_share_and_feed_key_commands(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = Store(f"sqlite:///{state / 'orbweaver.sqlite3'}")
    store.migrate()
    import_entries(store, "partner", [ListEntry(value=random_hex(64), algorithm="pdq")], source="test")
    store.dispose()
    shared = run(tmp_path, "hashset", "share", "--name", "partner")
    assert shared.returncode == 0, shared.stderr
    assert json.loads(shared.stdout) == {"hashset": "partner", "shared": True, "changed": True}
    listed = [json.loads(line) for line in run(tmp_path, "hashset", "list").stdout.splitlines()]
    assert [(s["name"], s["shared"]) for s in listed] == [("partner", True)]
    assert json.loads(run(tmp_path, "hashset", "unshare", "--name", "partner").stdout)["shared"] is False
    created = run(tmp_path, "feed", "key-create", "--feed", "hashes", "--name", "hma")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["secret"].startswith("owf_") and "subscription_key" in created.stderr
    keys = [json.loads(line) for line in run(tmp_path, "feed", "key-list").stdout.splitlines()]
    assert [(k["id"], k["feed"], k["revoked_at"]) for k in keys] == [(key["id"], "hashes", None)]
    assert key["secret"] not in run(tmp_path, "feed", "key-list").stdout
    assert run(tmp_path, "feed", "key-revoke", "--id", str(key["id"])).returncode == 0
    assert run(tmp_path, "feed", "key-create", "--feed", "nope", "--name", "x").returncode != 0
