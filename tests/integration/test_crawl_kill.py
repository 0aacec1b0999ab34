"""Killing a crawl outright: its Scrapy child dies with it.

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
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import Store
from core.store.models import Campaign
from tests.integration.test_campaigns import ORBWEAVER, Site, cli_env, fetched_pages, orbweaver, record, serve

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
