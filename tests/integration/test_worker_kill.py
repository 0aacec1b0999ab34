"""SIGKILL a worker mid-stream, restart it, and prove nothing was lost or done twice, on both buses.

Media are benign generated images (orbweaver.demo.imagegen); the "known" list is the hashes of
some of them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.bus import open_bus
from core.messages import Topic, dead_letter_topic
from core.store import Store
from core.store.tables.crawler import Sighting
from core.store.tables.hashing import Media
from core.store.tables.matcher import Match
from core.store.tables.notifier import Notice, NoticeItem
from core.store.tables.review import ReviewItem
from tests.fixtures.media import publish_media, seed_known_list
from tests.fixtures.workers import WorkerEnv, prefixed, worker_env

pytestmark = pytest.mark.integration

TOTAL = 300
KNOWN = 12
ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


@pytest.fixture(params=["embedded", "kafka"])
def pipeline_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerEnv]:
    if request.param == "kafka":
        # A fresh topic namespace per test keeps runs independent on the shared broker.
        bus_url = prefixed(request.getfixturevalue("kafka_url"), "kill")
    else:
        bus_url = f"embedded:{tmp_path / 'bus.sqlite3'}?lease_s=2"
    env = worker_env(tmp_path, bus_url)
    yield env
    env.store.dispose()


def _publish_media(env: WorkerEnv) -> None:
    seed_known_list(env.store, KNOWN)
    bus = open_bus(env.bus_url)
    publish_media(bus, TOTAL, campaign_id="kill")
    bus.close()


def _start(env: WorkerEnv, stage: str) -> subprocess.Popen[bytes]:
    with open(env.tmp / f"{stage}.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([ORBWEAVER, "worker", stage], env=env.env, stdout=subprocess.DEVNULL, stderr=log)


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


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, "worker did not stop cleanly on SIGTERM"


def test_killed_workers_lose_nothing_and_duplicate_nothing(pipeline_env: WorkerEnv) -> None:
    env = pipeline_env
    _publish_media(env)
    bus = open_bus(env.bus_url)
    sightings = lambda: _count(env.store, Sighting)  # noqa: E731
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # Hashing and matching run side by side; each is killed while it still has work queued.
        hashing, matching = _start(env, "hashing"), _start(env, "matcher")
        procs += [hashing, matching]
        _wait("hashing to start", lambda: sightings() >= TOTAL // 8)
        _kill(hashing)
        assert sightings() < TOTAL, "hashing finished before it could be killed mid-stream"
        hashing = _start(env, "hashing")
        procs.append(hashing)
        _wait("hashing to get half way", lambda: sightings() >= TOTAL // 2)
        _kill(matching)
        # Matching cannot be ahead of hashing, so it still had work coming when it died.
        assert sightings() < TOTAL, "hashing finished before matching could be killed mid-stream"
        matching = _start(env, "matcher")
        review = _start(env, "review")
        procs += [matching, review]
        _wait("hashing to finish", lambda: bus.lag(Topic.MEDIA_FETCHED, "hashing") == 0)
        _wait("matching to finish", lambda: bus.lag(Topic.MEDIA_HASHED, "matcher") == 0)
        _wait("review to finish", lambda: bus.lag(Topic.MATCH_CANDIDATES, "review") == 0)
        # The notifier starts once every item is known, and its batching window outlasts the
        # time it takes to record them all, so exactly one batch is due (with no window, a
        # flush round that falls between two items would rightly send two notices).
        env.env["ORBWEAVER_NOTIFIER__BATCH_WINDOW_S"] = "3"
        notifier = _start(env, "notifier")
        procs.append(notifier)
        _wait("notices", lambda: _count(env.store, NoticeItem) >= KNOWN
              and _count(env.store, Notice, Notice.status == "sent") >= 1)
        time.sleep(1.5)  # a few more flush rounds: nothing more may appear
        for proc in (hashing, matching, review, notifier):
            _stop(proc)
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
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        bus.close()
