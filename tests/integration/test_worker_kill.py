"""SIGKILL a worker mid-stream, restart it, and prove nothing was lost or done twice, on both buses.

Media are benign generated images (orbweaver.demo.imagegen); the "known" list is the hashes of
some of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.bus import open_bus
from core.messages import FetchedMedia, MediaRef, Topic, dead_letter_topic, sha256_hex
from core.store import Store
from core.store.models import Match, Media, Notice, NoticeItem, ReviewItem, Sighting
from hashing.hasher import compute_hashes
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from notifier.providers import ProviderRecord, upsert_providers
from orbweaver.demo.imagegen import encode, generate

pytestmark = pytest.mark.integration

TOTAL = 300
KNOWN = 12
ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


@dataclass
class Env:
    tmp: Path
    bus_url: str
    store: Store
    env: dict[str, str]


def _media(i: int) -> bytes:
    return encode(generate(10_000 + i, (224, 224)), quality=85)


@pytest.fixture(params=["embedded", "kafka"])
def pipeline_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "kafka":
        base = request.getfixturevalue("kafka_url")
        sep = "&" if "?" in base else "?"
        # A fresh topic namespace per test keeps runs independent on the shared broker.
        bus_url = f"{base}{sep}topic_prefix=kill{int(time.time() * 1000) % 10**8}."
    else:
        bus_url = f"embedded:{tmp_path / 'bus.sqlite3'}?lease_s=2"
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store(store_url)
    store.migrate()
    env = {
        **os.environ,
        "ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "state"),
        "ORBWEAVER_CORE__BUS": bus_url,
        "ORBWEAVER_CORE__STORE": store_url,
        "ORBWEAVER_CORE__BLOBS": str(tmp_path / "evidence"),
        "ORBWEAVER_CORE__LOG_FORMAT": "json",
        "ORBWEAVER_NOTIFIER__OUTBOX_DIR": str(tmp_path / "outbox"),
        "ORBWEAVER_NOTIFIER__BATCH_WINDOW_S": "0",
        "ORBWEAVER_NOTIFIER__FLUSH_EVERY_S": "0.5",
    }
    yield Env(tmp_path, bus_url, store, env)
    store.dispose()


def _publish_media(env: Env) -> None:
    entries = []
    for i in range(KNOWN):
        outcome = compute_hashes(_media(i))
        entries += [ListEntry(value=h.value, algorithm=h.algorithm, label=f"known-{i}",
                              classification="baseline_csam") for h in outcome.hashes if h.algorithm == "pdq"]
    import_entries(env.store, "known", entries, source="test")
    upsert_providers(env.store, [ProviderRecord(name="Loopback Host", abuse_email="abuse@loopback.test",
                                                cidrs=["198.51.100.0/24"])])
    bus = open_bus(env.bus_url)
    now = datetime.now(UTC)
    for i in range(TOTAL):
        body = _media(i)
        url = f"http://media.test/img/{i}.jpg"
        bus.publish(FetchedMedia(
            ref=MediaRef(campaign_id="kill", page_url="http://media.test/", media_url=url, final_url=url,
                         resolved_ip="198.51.100.10", fetched_at=now),
            http_status=200, content_type="image/jpeg", size=len(body), sha256=sha256_hex(body), body=body,
        ))
    bus.flush()
    bus.close()


def _start(env: Env, stage: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([ORBWEAVER, "worker", stage], env=env.env, stdout=subprocess.PIPE,
                            stderr=open(env.tmp / f"{stage}.log", "ab"))


def _wait(what: str, cond: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _count(store: Store, model: type, *where: object) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def _kill_midstream(env: Env, stage: str, progress: Callable[[], int], total: int) -> None:
    proc = _start(env, stage)
    try:
        _wait(f"{stage} to start working", lambda: progress() >= total // 8)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        done_at_kill = progress()
        assert done_at_kill < total, f"{stage} finished before it could be killed mid-stream"
    finally:
        if proc.poll() is None:
            proc.kill()
    restarted = _start(env, stage)
    try:
        _wait(f"{stage} to finish after restart", lambda: progress() >= total)
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=30) == 0, f"{stage} did not stop cleanly on SIGTERM"
    finally:
        if restarted.poll() is None:
            restarted.kill()


def test_killed_workers_lose_nothing_and_duplicate_nothing(pipeline_env: Env) -> None:
    env = pipeline_env
    _publish_media(env)
    bus = open_bus(env.bus_url)
    try:
        _kill_midstream(env, "hashing", lambda: _count(env.store, Sighting), TOTAL)
        _wait("hashing lag 0", lambda: bus.lag(Topic.MEDIA_FETCHED, "hashing") == 0, 60)
        _kill_midstream(env, "matching", lambda: TOTAL - bus.lag(Topic.MEDIA_HASHED, "matcher"), TOTAL)
        review, notifier = _start(env, "review"), _start(env, "notifier")
        try:
            _wait("notices", lambda: _count(env.store, NoticeItem) >= KNOWN
                  and _count(env.store, Notice, Notice.status == "sent") >= 1)
            time.sleep(1.5)  # a few more flush rounds: nothing more may appear
        finally:
            for proc in (review, notifier):
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 0
        with env.store.session() as s:
            message_ids = s.scalars(select(Sighting.message_id)).all()
            assert len(message_ids) == len(set(message_ids)) == TOTAL
            assert s.scalar(select(func.count()).select_from(Media)) == TOTAL
            matched = set(s.scalars(select(Match.sha256)).all())
            assert len(matched) == KNOWN
            assert s.scalar(select(func.count()).select_from(Match)) == KNOWN
            assert s.scalar(select(func.count()).select_from(ReviewItem)) == KNOWN
            items = s.scalars(select(NoticeItem)).all()
            assert len(items) == KNOWN
            assert len({i.media_url for i in items}) == KNOWN
            assert s.scalar(select(func.count()).select_from(Notice)) == 1
        assert len(list((env.tmp / "outbox").glob("*.eml"))) == 1
        assert len(list((env.tmp / "evidence").rglob("evidence/*/*"))) == KNOWN
        for topic in (Topic.MEDIA_FETCHED, Topic.MEDIA_HASHED):
            assert bus.lag(topic, "hashing" if topic is Topic.MEDIA_FETCHED else "matcher") == 0
        if hasattr(bus, "topic_size"):
            assert bus.topic_size(dead_letter_topic(Topic.MEDIA_FETCHED)) == 0
    finally:
        bus.close()
