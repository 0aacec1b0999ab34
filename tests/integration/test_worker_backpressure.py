"""Back-pressure: a slow consumer never makes a fast producer buffer without bound; the producer waits.

Payloads are benign byte strings and generated images; nothing here is real media.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.bus import BacklogThrottle, Bus, open_bus
from core.bus.kafka import KafkaBus
from core.errors import TransientError
from core.messages import FetchedMedia, MediaRef, Message, Topic, sha256_hex
from tests.fixtures.kafka import KafkaBroker
from tests.fixtures.workers import prefixed

pytestmark = pytest.mark.integration

TOPIC = str(Topic.MEDIA_FETCHED)


def fetched(i: int, size: int = 64) -> FetchedMedia:
    body = f"body-{i}-".encode().ljust(size, b"x")
    url = f"http://host{i % 7}.example.test/{i}.jpg"
    ref = MediaRef(campaign_id="bp", page_url="http://example.test/", media_url=url, final_url=url,
                   fetched_at=datetime.now(UTC))
    return FetchedMedia(ref=ref, http_status=200, size=len(body), sha256=sha256_hex(body), body=body)


def test_a_frozen_broker_fills_the_bounded_send_buffer_and_publishers_wait_then_fail_transiently(
    fresh_kafka_broker: KafkaBroker,
) -> None:
    limit = 64 * 1024
    bus = open_bus(f"{fresh_kafka_broker.url}&buffer_bytes={limit}&max_message_bytes=16384&max_block_ms=1500")
    assert isinstance(bus, KafkaBus)
    try:
        bus.publish_many([fetched(0)])  # connected, the topic exists
        fresh_kafka_broker.freeze()
        try:
            accepted, highest = 0, 0
            started = time.monotonic()
            with pytest.raises(TransientError, match="send buffer full"):
                for i in range(1, 1000):
                    bus.publish(fetched(i, size=8 * 1024))
                    accepted += 1
                    highest = max(highest, bus.buffered_bytes)
            waited = time.monotonic() - started
        finally:
            fresh_kafka_broker.unfreeze()
        # The producer held at most the limit, and waited for room before giving up.
        assert highest <= limit
        assert 4 <= accepted <= limit // (8 * 1024)
        assert waited >= 1.4
        bus.flush()  # once the broker answers, what was accepted is delivered
        assert bus.buffered_bytes == 0
        assert bus.lag(TOPIC, "hashing") == 1 + accepted
    finally:
        bus.close()


@pytest.fixture(params=["embedded", "kafka"])
def bus_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Bus, Bus]]:
    if request.param == "kafka":
        url = prefixed(request.getfixturevalue("kafka_url"), "bp")
    else:
        url = f"embedded:{tmp_path / 'bus.sqlite3'}"
    producer, consumer = open_bus(url), open_bus(url)
    yield producer, consumer
    producer.close()
    consumer.close()


def test_a_fast_producer_waits_for_a_slow_consumer_and_the_backlog_stays_bounded(bus_pair: tuple[Bus, Bus]) -> None:
    producer, consumer = bus_pair
    total, limit = 150, 20
    consumed: list[str] = []
    stop = threading.Event()

    def slow(message: Message) -> None:
        time.sleep(0.03)
        consumed.append(message.message_id)

    reader = threading.Thread(
        target=consumer.consume, args=(Topic.MEDIA_FETCHED, "slow", slow),
        kwargs={"stop": stop, "poll_timeout_s": 0.2, "batch": 4}, daemon=True,
    )
    throttle = BacklogThrottle(producer, TOPIC, "slow", limit, check_every_s=0.1)
    backlog: list[int] = []
    try:
        producer.publish_many([fetched(0)])  # the topic exists before the consumer subscribes
        reader.start()
        for i in range(1, total):
            throttle.wait(timeout_s=60)
            producer.publish(fetched(i))
            producer.flush()
            if i % 10 == 0:
                backlog.append(producer.lag(TOPIC, "slow"))
        deadline = time.monotonic() + 60
        while len(consumed) < total and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join(timeout=30)
    assert len(set(consumed)) == total
    # Unthrottled, the producer would be over a hundred ahead within a second; it waited instead.
    assert throttle.waited_s > 1.0
    assert max(backlog) <= limit
