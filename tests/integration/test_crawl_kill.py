"""Killing a crawl outright: its Scrapy child dies with it, and a resumed crawl loses and duplicates nothing.

Real ``orbweaver crawl`` and ``orbweaver campaign start`` processes crawl the counting loopback site of
``test_campaigns`` (a chain of pages, each showing one benign generated PNG), over a SQLite store and an
embedded bus under tmp_path, with a short lease so a killed campaign can be taken over within seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import Topic
from core.store import Store
from core.store.tables.crawler import Campaign, Page, Sighting
from hashing.settings import HashingSettings
from hashing.stage import SPEC, HashingStage
from tests.integration.test_campaigns import ORBWEAVER, Site, cli_env, create, fetched_pages, orbweaver, record, serve

pytestmark = pytest.mark.integration

LEASE_S = 2.0


def crawl_children(pid: int) -> list[int]:
    """The spawned crawl children of ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper has stopped running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(check: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def kill(*pids: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def only_campaign(state: Path) -> str:
    store = Store(f"sqlite:///{state / 'orbweaver.sqlite3'}")
    try:
        with store.session() as s:
            ids = list(s.scalars(select(Campaign.id)))
    finally:
        store.dispose()
    assert len(ids) == 1, ids
    return ids[0]


def test_killing_orbweaver_crawl_kills_its_child_and_the_campaign_starts_again(tmp_path: Path) -> None:
    env = cli_env(tmp_path, ORBWEAVER_CRAWLER__LEASE_S=str(LEASE_S))
    with serve(Site(pages=40, page_delay_s=0.2)) as site:
        crawl = subprocess.Popen([ORBWEAVER, "crawl", site.url("/"), "--depth", "100", "--allow-private", "127.0.0.1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        children: list[int] = []
        try:
            wait_for(lambda: len(fetched_pages(site)) >= 4, 60, "a few pages")
            children = crawl_children(crawl.pid)
            assert len(children) == 1, children
            crawl.kill()
            crawl.wait(timeout=10)
            # The child dies with its parent: at once on Linux, within a second by its own watch elsewhere.
            wait_for(lambda: not alive(children[0]), 5, "the crawl child to die with its parent")
            settled = sum(site.counts().values())
            time.sleep(2)
            assert sum(site.counts().values()) == settled, "the site was still being crawled"
        finally:
            kill(crawl.pid, *children)
            crawl.wait(timeout=10)

        cid = only_campaign(tmp_path / "state")
        # The killed crawl's lease runs out (nobody renews it any more); then the campaign starts again.
        wait_for(lambda: (row := record(tmp_path, cid)).lease_expires_at is not None
                 and row.lease_expires_at.timestamp() < time.time(), LEASE_S + 5, "the lease to lapse")
        started = orbweaver(tmp_path, "campaign", "start", cid, "--json", ORBWEAVER_CRAWLER__LEASE_S=str(LEASE_S))
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout.splitlines()[-1])["state"] == "finished"
    assert set(fetched_pages(site)) == set(site.page_paths())


def test_sigterm_to_orbweaver_crawl_pauses_the_campaign_and_ends_its_child(tmp_path: Path) -> None:
    env = cli_env(tmp_path, ORBWEAVER_CRAWLER__LEASE_S=str(LEASE_S))
    with serve(Site(pages=40, page_delay_s=0.2)) as site:
        crawl = subprocess.Popen([ORBWEAVER, "crawl", site.url("/"), "--depth", "100", "--allow-private", "127.0.0.1",
                                  "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        children: list[int] = []
        try:
            wait_for(lambda: len(fetched_pages(site)) >= 4, 60, "a few pages")
            children = crawl_children(crawl.pid)
            crawl.send_signal(signal.SIGTERM)  # as a service manager or `kill` stops it: like Ctrl-C
            out, _ = crawl.communicate(timeout=60)
        finally:
            kill(crawl.pid, *children)
            crawl.wait(timeout=10)
        assert crawl.returncode == 0
        assert json.loads(out.splitlines()[-1])["summary"]["state"] == "paused"
        wait_for(lambda: not any(alive(c) for c in children), 10, "the crawl child to end")
        row = record(tmp_path, only_campaign(tmp_path / "state"))
        assert row.lease_owner is None and row.queued > 0


def test_a_crawl_killed_whole_and_resumed_keeps_every_page_row_once_and_no_sighting_twice(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve(Site(pages=200, page_delay_s=0.01)) as site:
        cid = create(tmp_path, site, "--concurrency-per-host", "4", "--depth", "300")  # the last page is 101 hops in
        env = cli_env(tmp_path, ORBWEAVER_CRAWLER__LEASE_S=str(LEASE_S))
        crawl = subprocess.Popen([ORBWEAVER, "campaign", "start", cid], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=env)
        children: list[int] = []
        try:
            wait_for(lambda: len(fetched_pages(site)) >= 70, 120, "a third of the site")
            children = crawl_children(crawl.pid)
            kill(*children, crawl.pid)  # the whole tree at once: nothing gets to shut down
        finally:
            kill(crawl.pid, *children)
            crawl.wait(timeout=10)
        wait_for(lambda: not any(alive(c) for c in children), 10, "the crawl child to be gone")
        killed_at = len(fetched_pages(site))
        assert killed_at < site.pages, "the crawl finished before it was killed; nothing was tested"

        wait_for(lambda: (row := record(tmp_path, cid)).lease_expires_at is not None
                 and row.lease_expires_at.timestamp() < time.time(), LEASE_S + 5, "the lease to lapse")
        resumed = orbweaver(tmp_path, "campaign", "start", cid, "--json", ORBWEAVER_CRAWLER__LEASE_S=str(LEASE_S))
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout.splitlines()[-1])["state"] == "finished"

    # The hashing stage records a sighting per media message, as in production.
    store = Store(f"sqlite:///{state / 'orbweaver.sqlite3'}")
    bus = EmbeddedBus(state / "bus.sqlite3")
    try:
        stage = HashingStage(bus, store, LocalBlobStore(state / "evidence"), HashingSettings())
        waiting = bus.lag(Topic.MEDIA_FETCHED, SPEC.group)
        stats = bus.consume(Topic.MEDIA_FETCHED, SPEC.group, stage.handle, max_messages=waiting, poll_timeout_s=0.1)
        assert stats.handled == waiting and stats.dead_lettered == 0
        with store.session() as s:
            pages = list(s.scalars(select(Page).where(Page.campaign_id == cid)))
            sightings = list(s.scalars(select(Sighting).where(Sighting.campaign_id == cid)))
    finally:
        bus.close()
        store.dispose()
    row = record(tmp_path, cid)

    urls = Counter(p.url for p in pages)
    every_page = {site.url("/")} | {site.url(p) for p in site.page_paths()}
    assert every_page - set(urls) == set(), f"pages without a row: {sorted(every_page - set(urls))[:10]}"
    assert set(urls.values()) == {1}
    assert row.pages_fetched == len(pages), (row.pages_fetched, len(pages))
    assert {s.page_url for s in sightings} <= set(urls), "a sighting names a page that has no row"
    pairs = Counter((s.page_url, s.media_url) for s in sightings)
    assert [pair for pair, n in pairs.items() if n > 1] == []
    # Every page shows its image once: one sighting each (and the front page's missing image).
    assert {p for p, _ in pairs} >= {site.url(p) for p in site.page_paths()}
