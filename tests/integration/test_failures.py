"""Failure tests against the tansu Kafka broker on loopback: killed workers, a frozen broker, poison messages.

Media are benign generated images (orbweaver.demo.imagegen via tests.fixtures.media); the
"known" list is the PDQ hashes of some of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest
from sqlalchemy import select

from core.bus import Bus, open_bus
from core.bus.embedded import EmbeddedBus
from core.bus.kafka import KafkaBus
from core.errors import TransientError
from core.messages import FetchedMedia, HashedMedia, MediaRef, Topic, dead_letter_topic, encode, new_id, sha256_hex
from core.settings import load
from core.stages import StageName
from core.store import Store
from core.store.tables.crawler import Sighting
from core.store.tables.hashing import Media
from core.store.tables.matcher import Match
from core.store.tables.notifier import Delivery, Notice, NoticeItem
from core.store.tables.review import ReviewItem
from hashing.hasher import compute_hashes
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from notifier.providers import ProviderRecord, upsert_providers
from orbweaver.runtime import Runtime, run_stage
from orbweaver.settings import Settings
from tests.fixtures.kafka import KafkaBroker
from tests.fixtures.media import HOST_IP, media_bytes
from tests.fixtures.servers import free_port
from tests.fixtures.workers import (
    count,
    http_get,
    kill,
    prefixed,
    stop_gracefully,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration


def seed_known(store: Store, indices: list[int]) -> None:
    """Import the PDQ hashes of the images at ``indices`` as list ``known``, and a provider for HOST_IP."""
    entries = [
        ListEntry(value=h.value, algorithm=h.algorithm, label=f"known-{i}", classification="baseline_csam")
        for i in indices
        for h in compute_hashes(media_bytes(i)).plain
        if h.algorithm == "pdq"
    ]
    import_entries(store, "known", entries, source="test")
    upsert_providers(
        store, [ProviderRecord(name="Loopback Host", abuse_email="abuse@loopback.test", cidrs=["198.51.100.0/24"])]
    )


def media(i: int, *, host: str = "media.test") -> FetchedMedia:
    """The i-th benign image as the crawler would publish it."""
    body = media_bytes(i)
    url = f"http://{host}/img/{i}.jpg"
    return FetchedMedia(
        message_id=new_id(),
        ref=MediaRef(campaign_id="failures", page_url=f"http://{host}/", media_url=url, final_url=url,
                     resolved_ip=HOST_IP, fetched_at=datetime.now(UTC)),
        http_status=200, content_type="image/jpeg", size=len(body), sha256=sha256_hex(body), body=body,
    )


def test_killed_hashing_and_matching_workers_lose_and_duplicate_nothing(kafka_url: str, tmp_path: Path) -> None:
    total, known = 240, list(range(0, 240, 20))  # known images spread through the stream
    env = worker_env(tmp_path, prefixed(kafka_url, "kill2"), ORBWEAVER_WORKER__BATCH="8")
    seed_known(env.store, known)
    bus = open_bus(env.bus_url)
    sightings = lambda: count(env.store, Sighting)  # noqa: E731
    try:
        bus.publish_many([media(i) for i in range(total)])
        hashing = [env.start("hashing") for _ in range(2)]
        matching = [env.start("matcher") for _ in range(2)]
        others = [env.start("review"), env.start("notifier")]
        wait_until("hashing to get going", lambda: sightings() >= total // 5)
        kill(hashing[0])
        assert sightings() < total, "hashing finished before a hashing worker could be killed mid-stream"
        wait_until("hashing to get half way", lambda: sightings() >= total // 2)
        kill(matching[0])
        # Matching cannot be ahead of hashing, so it still had work coming when it died.
        assert sightings() < total, "hashing finished before a matching worker could be killed mid-stream"
        for topic, group in ((Topic.MEDIA_FETCHED, "hashing"), (Topic.MEDIA_HASHED, "matcher"),
                             (Topic.MATCH_CANDIDATES, "review"), (Topic.NOTICE_REQUESTS, "notifier")):
            wait_until(f"{group} to drain {topic}", lambda t=topic, g=group: bus.lag(t, g) == 0, timeout=180,  # type: ignore[misc]
                       every=0.5)
        wait_until("every notice to be sent", lambda: count(env.store, NoticeItem, NoticeItem.notice_id.is_not(None))
                   == len(known) and count(env.store, Delivery, Delivery.status != "delivered") == 0, timeout=60)
        time.sleep(1.5)  # a few more notifier rounds: nothing more may appear
        for proc in (hashing[1], matching[1], *others):
            stop_gracefully(proc)
        with env.store.session() as s:
            message_ids = s.scalars(select(Sighting.message_id)).all()
            assert len(message_ids) == len(set(message_ids)) == total
            assert len(s.scalars(select(Media.sha256)).all()) == total
            matched = s.scalars(select(Match.sha256)).all()
            assert len(matched) == len(set(matched)) == len(known)
            assert len(s.scalars(select(ReviewItem.sha256)).all()) == len(known)
            items = s.scalars(select(NoticeItem)).all()
            assert len(items) == len({i.media_url for i in items}) == len(known)
            notices = s.scalars(select(Notice.id)).all()
            deliveries = s.scalars(select(Delivery.notice_id)).all()
            assert sorted(deliveries) == sorted(notices) == sorted({i.notice_id for i in items})
        # One message per notice, each listing its own items: nothing told twice.
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(notices)
        assert bus.lag(dead_letter_topic(Topic.MEDIA_FETCHED), "nobody") == 0
        assert bus.lag(dead_letter_topic(Topic.MEDIA_HASHED), "nobody") == 0
    finally:
        env.kill_all()
        bus.close()
        env.store.dispose()


def test_frozen_broker_for_30s_then_everything_recovers(fresh_kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    total, freeze_s = 150, 30.0
    url = f"{fresh_kafka_broker.url}&request_timeout_ms=10000&max_block_ms=10000"
    port = free_port()
    env = worker_env(tmp_path, url, ORBWEAVER_WORKER__BATCH="8", ORBWEAVER_WORKER__CHECK_EVERY_S="1")
    seed_known(env.store, [5, 100])
    publisher = open_bus(url)
    published: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    def publish_all() -> None:
        # A producer as the crawler is one: keeps trying each item until the bus takes it.
        for i in range(total):
            message = media(i)
            while not done.is_set():
                try:
                    publisher.publish(message)
                    publisher.flush()
                    break
                except TransientError as exc:
                    failures.append(str(exc))
                    time.sleep(0.5)
            published.append(message.message_id)
            time.sleep(0.05)

    def health() -> tuple[int, dict[str, object]]:
        status, body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        return status, (json.loads(body) if status in (200, 503) else {})

    thread = threading.Thread(target=publish_all, daemon=True)
    try:
        hashing = env.start("hashing", "--metrics-port", str(port))
        matching = env.start("matcher")
        wait_until("the hashing worker to be healthy", lambda: health()[0] == 200, timeout=60, every=0.3)
        thread.start()
        # Freeze while the producer is a third of the way through and the workers are busy.
        wait_until("a third to be published and hashing to run",
                   lambda: len(published) >= total // 3 and count(env.store, Sighting) > 0, timeout=60, every=0.05)
        fresh_kafka_broker.freeze()
        try:
            frozen_at = time.monotonic()
            wait_until("/healthz to report the broker", lambda: health()[0] == 503, timeout=20, every=0.5)
            status, body = health()
            assert status == 503 and body["status"] == "unhealthy", body
            time.sleep(max(0.0, freeze_s - (time.monotonic() - frozen_at)))
            during = len(published)
        finally:
            fresh_kafka_broker.unfreeze()
        assert during < total, "the producer finished before the broker froze"
        thread.join(timeout=120)
        assert not thread.is_alive(), "the producer did not recover"
        assert failures, "the producer never noticed the frozen broker"
        wait_until("hashing to drain", lambda: publisher.lag(Topic.MEDIA_FETCHED, "hashing") == 0, timeout=120,
                   every=0.5)
        wait_until("matching to drain", lambda: publisher.lag(Topic.MEDIA_HASHED, "matcher") == 0, timeout=60,
                   every=0.5)
        wait_until("/healthz to recover", lambda: health()[0] == 200, timeout=60, every=0.5)
        assert hashing.poll() is None and matching.poll() is None, "a worker died of the frozen broker"
        stop_gracefully(hashing)
        stop_gracefully(matching)
        with env.store.session() as s:
            hashed_ids = s.scalars(select(Sighting.message_id)).all()
            assert sorted(hashed_ids) == sorted(published)  # every published message, once
            assert len(s.scalars(select(Media.sha256)).all()) == total
            assert sorted(s.scalars(select(Match.sha256)).all()) == sorted(
                {sha256_hex(media_bytes(5)), sha256_hex(media_bytes(100))})
    finally:
        done.set()
        env.kill_all()
        publisher.close()
        env.store.dispose()


def _read_topic(bus: Bus, topic: str, expected: int, timeout_s: float = 20.0) -> list[bytes]:
    """Every payload of a topic, read without a consumer group."""
    if isinstance(bus, EmbeddedBus):
        return bus.read_topic(topic)
    assert isinstance(bus, KafkaBus)
    from kafka import KafkaConsumer, TopicPartition

    wire = bus.options.topic_prefix + topic
    consumer = KafkaConsumer(bootstrap_servers=bus.bootstrap_servers, group_id=None, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout_s
        partitions = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(wire)
            time.sleep(0.1)
        assert partitions, f"topic {wire} does not exist"
        consumer.assign([TopicPartition(wire, p) for p in partitions])
        consumer.seek_to_beginning()
        out: list[bytes] = []
        while len(out) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(r.value for r in records)
        for records in consumer.poll(timeout_ms=300).values():  # anything beyond what was expected
            out.extend(r.value for r in records)
        return out
    finally:
        consumer.close(autocommit=False)


@pytest.fixture(params=["embedded", "kafka"])
def poison_bus_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "kafka":
        # The stage hashes a batch, then redoes it message by message to find the poison: on a loaded
        # machine that can outlast the tests' 2 s poll interval, and a rebalance would redeliver (and
        # dead-letter twice) what this test counts exactly once. Production allows 300 s.
        url = prefixed(request.getfixturevalue("kafka_url"), "poison")
        yield url.replace("group_max_poll_interval_ms=2000", "group_max_poll_interval_ms=20000")
    else:
        yield f"embedded:{tmp_path / 'bus.sqlite3'}"


def test_poison_messages_are_dead_lettered_with_reasons_and_the_stage_goes_on(
    poison_bus_url: str, tmp_path: Path
) -> None:
    settings = load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state"), "bus": poison_bus_url,
                 "store": f"sqlite:///{tmp_path / 'store.sqlite3'}"},
        "notifier": {"outbox": {"dir": str(tmp_path / "outbox")}},
    })
    rt = Runtime.open(settings)
    topic, key = str(Topic.MEDIA_FETCHED), "media.test"  # one host: one partition, so order holds
    good_before, good_after = [media(i) for i in range(3)], [media(i) for i in range(3, 6)]
    wrong_sha = media(6).model_copy(update={"sha256": "0" * 64})
    hashed = HashedMedia(ref=good_before[0].ref, sha256=good_before[0].sha256, size=1, hashes=[])
    poison: dict[bytes, str] = {
        b"\xc1 not msgpack at all": "undecodable message",
        msgpack.packb({"s": "fetched_media", "v": 2, "d": {}}): "schema 'fetched_media' version 2 is not supported",
        msgpack.packb({"s": "mystery_media", "v": 1, "d": {}}): "unknown message schema 'mystery_media'",
        msgpack.packb([1, 2, 3]): "not an orbweaver message envelope",
        msgpack.packb({"s": "fetched_media", "v": 1, "d": {"size": "big"}}): "invalid fetched_media message",
        encode(hashed): "hashing stage cannot handle hashed_media",
        encode(wrong_sha): "media body does not match its announced SHA-256",
    }
    stop = threading.Event()
    stage = threading.Thread(target=run_stage, args=(StageName.HASHING, rt, stop), daemon=True)
    try:
        rt.bus.publish_many(good_before)
        for payload in poison:
            rt.bus._publish_raw(topic, key, payload)
        rt.bus.publish_many(good_after)
        stage.start()
        wait_until("the stage to get past the poison", lambda: rt.bus.lag(Topic.MEDIA_FETCHED, "hashing") == 0,
                   timeout=60, every=0.3)
        assert stage.is_alive(), "the stage died of a poison message"
        with rt.store.session() as s:
            hashed_ids = s.scalars(select(Sighting.message_id)).all()
        assert sorted(hashed_ids) == sorted(m.message_id for m in good_before + good_after)
        letters = [msgpack.unpackb(p) for p in _read_topic(rt.bus, dead_letter_topic(topic), len(poison))]
        assert len(letters) == len(poison)
        for letter in letters:
            assert (letter["group"], letter["topic"]) == ("hashing", topic)
            assert poison[letter["payload"]] in letter["reason"], letter["reason"]  # the very bytes, and why
        assert {bytes(letter["payload"]) for letter in letters} == set(poison)
    finally:
        stop.set()
        stage.join(timeout=30)
        rt.close()
