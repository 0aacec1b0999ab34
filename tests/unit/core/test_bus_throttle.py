"""BacklogThrottle: a publisher waits while its consumers' backlog is at the limit, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.bus import BacklogThrottle
from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import FetchedMedia, MediaRef, Topic, sha256_hex

TOPIC = str(Topic.MEDIA_FETCHED)


def fetched(i: int) -> FetchedMedia:
    body = f"body-{i}".encode()
    url = f"http://example.test/{i}.jpg"
    ref = MediaRef(campaign_id="c1", page_url="http://example.test/", media_url=url, final_url=url,
                   fetched_at=datetime.now(UTC))
    return FetchedMedia(ref=ref, http_status=200, size=len(body), sha256=sha256_hex(body), body=body)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now


def test_publisher_waits_at_the_limit_until_the_consumer_catches_up(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    t = FakeTime()
    lags: list[int] = []

    def sleep(seconds: float) -> bool:
        # While the publisher waits, the slow consumer handles two messages.
        t.now += seconds
        bus.consume(Topic.MEDIA_FETCHED, "hashing", lambda m: None, max_messages=2, poll_timeout_s=0.01)
        return False

    throttle = BacklogThrottle(bus, TOPIC, "hashing", 3, check_every_s=5.0, clock=t.clock, sleep=sleep)
    for i in range(10):
        throttle.wait()
        bus.publish(fetched(i))
        lags.append(bus.lag(TOPIC, "hashing"))
    assert max(lags) == 3  # never past the limit, however fast the publisher is
    assert throttle.waited_s > 0


def test_under_the_limit_the_lag_is_asked_once_per_interval(tmp_path: Path) -> None:
    asked = 0

    class CountingBus(EmbeddedBus):
        def lag(self, topic: str, group: str) -> int:
            nonlocal asked
            asked += 1
            return super().lag(topic, group)

    t = FakeTime()
    throttle = BacklogThrottle(CountingBus(tmp_path / "bus.sqlite3"), TOPIC, "hashing", 1000, check_every_s=1.0,
                               clock=t.clock)
    for _ in range(50):
        assert throttle.wait() == 0.0
    assert asked == 1
    t.now += 1.0
    throttle.wait()
    assert asked == 2


def test_an_unanswerable_lag_does_not_stall_the_publisher(tmp_path: Path) -> None:
    class DownBus(EmbeddedBus):
        def lag(self, topic: str, group: str) -> int:
            raise TransientError("broker unreachable")

    throttle = BacklogThrottle(DownBus(tmp_path / "bus.sqlite3"), TOPIC, "hashing", 1)
    assert throttle.wait() == 0.0


def test_wait_gives_up_after_its_timeout(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    for i in range(3):
        bus.publish(fetched(i))
    t = FakeTime()

    def sleep(seconds: float) -> bool:
        t.now += seconds
        return False

    throttle = BacklogThrottle(bus, TOPIC, "hashing", 2, check_every_s=0.5, clock=t.clock, sleep=sleep)
    assert throttle.wait(timeout_s=2.0) == pytest.approx(2.0)


def test_limit_must_be_positive(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    with pytest.raises(ValueError, match="max_backlog"):
        BacklogThrottle(bus, TOPIC, "hashing", 0)
    with pytest.raises(ValueError, match="resume_at"):
        BacklogThrottle(bus, TOPIC, "hashing", 10, resume_at=10)
    assert BacklogThrottle(bus, TOPIC, "hashing", 100).resume_at == 75


def test_try_acquire_never_sleeps_and_holds_until_the_backlog_is_down_to_resume_at(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    throttle = BacklogThrottle(bus, TOPIC, "hashing", 4, resume_at=1, check_every_s=60.0)
    published = 0
    while throttle.try_acquire():
        bus.publish(fetched(published))
        published += 1
    assert published == 4
    bus.consume(Topic.MEDIA_FETCHED, "hashing", lambda m: None, max_messages=2)
    assert not throttle.try_acquire()  # 2 left: under the limit, but not yet down to resume_at
    bus.consume(Topic.MEDIA_FETCHED, "hashing", lambda m: None, max_messages=1)
    assert throttle.try_acquire()
