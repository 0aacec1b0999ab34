"""``orbweaver worker`` as operators run it: SIGTERM mid-stream commits what finished; /metrics and /healthz answer.

Media are benign generated images (orbweaver.demo.imagegen via tests.fixtures.media).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.bus import open_bus
from core.messages import Topic, dead_letter_topic
from core.store.tables.crawler import Sighting
from tests.fixtures.media import publish_media
from tests.fixtures.servers import free_port
from tests.fixtures.workers import (
    WorkerEnv,
    count,
    http_get,
    prefixed,
    sample,
    scrape,
    stop_gracefully,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

TOTAL = 120


@pytest.fixture(params=["embedded", "kafka"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerEnv]:
    if request.param == "kafka":
        bus_url = prefixed(request.getfixturevalue("kafka_url"), "term")
    else:
        bus_url = f"embedded:{tmp_path / 'bus.sqlite3'}?lease_s=2"
    e = worker_env(tmp_path, bus_url, ORBWEAVER_WORKER__BATCH="8")
    yield e
    e.kill_all()
    e.store.dispose()


def test_sigterm_mid_stream_commits_what_finished_and_nothing_is_redone(env: WorkerEnv) -> None:
    bus = open_bus(env.bus_url)
    try:
        publish_media(bus, TOTAL, campaign_id="term")
        first = env.start("hashing")
        wait_until("hashing to get going", lambda: count(env.store, Sighting) >= TOTAL // 6)
        summary = stop_gracefully(first)
        handled_first = int(summary["handled"])  # type: ignore[call-overload]
        assert 0 < handled_first < TOTAL, "the worker was not stopped mid-stream"
        # Everything it handled is committed and its output flushed, and nothing else: the
        # group's progress and the downstream topic agree with its own count exactly.
        assert count(env.store, Sighting) == handled_first
        assert bus.lag(Topic.MEDIA_FETCHED, "hashing") == TOTAL - handled_first
        assert bus.lag(Topic.MEDIA_HASHED, "matcher") == handled_first

        second = env.start("hashing")
        wait_until("the rest to be hashed", lambda: bus.lag(Topic.MEDIA_FETCHED, "hashing") == 0, timeout=120)
        handled_second = int(stop_gracefully(second)["handled"])  # type: ignore[call-overload]
        assert handled_first + handled_second == TOTAL  # none lost, none handled twice
        assert count(env.store, Sighting) == TOTAL
        assert bus.lag(Topic.MEDIA_HASHED, "matcher") == TOTAL  # and none published twice
    finally:
        bus.close()


def test_worker_serves_metrics_and_health(kafka_url: str, tmp_path: Path) -> None:
    env = worker_env(tmp_path, prefixed(kafka_url, "metrics"), ORBWEAVER_WORKER__CHECK_EVERY_S="0.5")
    bus = open_bus(env.bus_url)
    port = free_port()
    try:
        publish_media(bus, 30, campaign_id="metrics")
        bus._publish_raw(str(Topic.MEDIA_FETCHED), "media.test", b"\xc1 not a message")
        bus.flush()
        worker = env.start("hashing", "--metrics-port", str(port))

        def healthy() -> bool:
            status, body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return status == 200 and json.loads(body)["status"] == "ok"

        wait_until("/healthz to answer 200", healthy, timeout=60, every=0.3)

        def lag_gauges() -> dict[str, float]:
            metrics = scrape(port)
            return {dict(labels)["partition"]: value for (name, labels), value in metrics.items()
                    if name == "orbweaver_bus_consumer_lag" and dict(labels)["topic"] == "media.fetched"}

        wait_until("every message to be handled and the lag gauges to reach 0",
                   lambda: bus.lag(Topic.MEDIA_FETCHED, "hashing") == 0
                   and set(lag_gauges().values()) == {0.0}, timeout=60, every=0.3)
        assert sorted(lag_gauges()) == ["0", "1", "2"]  # one gauge per partition
        metrics = scrape(port)
        fetched = {"group": "hashing", "topic": "media.fetched"}
        assert sample(metrics, "orbweaver_bus_messages_total", **fetched, outcome="ok") == 30
        assert sample(metrics, "orbweaver_bus_messages_total", **fetched, outcome="dead_lettered") == 1
        # Every attempt is timed: the 31 that finished plus any retried after a transient error (a busy store).
        retried = sample(metrics, "orbweaver_bus_messages_total", **fetched, outcome="transient") or 0
        assert sample(metrics, "orbweaver_bus_handle_seconds_count", **fetched) == 31 + retried
        assert sample(metrics, "orbweaver_hashing_media_total", result="hashed") == 30
        last_poll = sample(metrics, "orbweaver_bus_last_poll_timestamp_seconds", group="hashing")
        assert last_poll is not None and time.time() - last_poll < 30
        assert sample(metrics, "orbweaver_bus_publish_buffer_bytes") == 0
        assert bus.lag(dead_letter_topic(Topic.MEDIA_FETCHED), "nobody") == 1
        status, body = http_get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["handled"] == 30
        assert stop_gracefully(worker) == {"stage": "hashing", "handled": 30, "dead_lettered": 1}
        # Gone with the worker.
        assert http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 0
    finally:
        env.kill_all()
        bus.close()
        env.store.dispose()


def test_crawler_worker_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = worker_env(tmp_path, f"embedded:{tmp_path / 'bus.sqlite'}")
    port = free_port()
    crawler = env.start("crawler", "--metrics-port", str(port))

    def healthy() -> bool:
        status, body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        return status == 200 and json.loads(body)["status"] == "ok"

    wait_until("the crawler worker's /healthz to answer 200", healthy, timeout=60, every=0.3)
    metrics = scrape(port)
    # Its liveness is the recheck consumer's polling, in the recheck group.
    assert sample(metrics, "orbweaver_bus_last_poll_timestamp_seconds", group="recheck") is not None
    assert stop_gracefully(crawler) == {"stage": "crawler", "campaign_runs": 0}
