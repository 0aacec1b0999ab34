"""Worker health and metrics: the monitor's judgement on a fake clock, and the HTTP endpoints that serve it."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import hashing.stage
import matcher.stage
import notifier.stage
import review.stage
from core.bus import ConsumeStats
from core.bus.embedded import EmbeddedBus
from core.errors import ConfigError, TransientError
from core.settings import load
from core.store import Store
from orbweaver.health import HealthServer, WorkerMonitor, health_app
from orbweaver.settings import Settings
from orbweaver.worker_settings import WorkerSettings
from tests.fixtures.clock import FakeClock

SETTINGS = WorkerSettings(check_every_s=1.0, healthy_poll_age_s=10.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield s
    s.dispose()


def monitor(bus: EmbeddedBus, store: Store, stats: ConsumeStats, clock: FakeClock) -> WorkerMonitor:
    return WorkerMonitor(f"health-{id(stats)}", ["media.fetched"], bus, store, stats, SETTINGS, clock=clock.monotonic)


def test_healthy_only_while_polling_and_the_bus_and_store_answer(tmp_path: Path, store: Store) -> None:
    clock, stats = FakeClock(), ConsumeStats()
    m = monitor(EmbeddedBus(tmp_path / "bus.sqlite3"), store, stats, clock)
    ok, body = m.health()
    assert not ok and body["status"] == "unhealthy"
    assert any(str(r).startswith("starting") for r in body["reasons"])  # type: ignore[attr-defined]
    assert "bus not checked yet" in body["reasons"]  # type: ignore[operator]
    stats.last_poll = clock.monotonic()
    m.refresh()
    ok, body = m.health()
    assert ok, body
    assert body == {"status": "ok", "group": m.group, "reasons": [], "last_fetch_age_s": 0.0,
                    "handled": 0, "dead_lettered": 0}
    assert REGISTRY.get_sample_value(
        "orbweaver_bus_consumer_lag", {"group": m.group, "topic": "media.fetched", "partition": "0"}) == 0
    clock.advance(seconds=10.5)
    ok, body = m.health()
    assert not ok and body["reasons"] == ["consume loop last fetched 10.5s ago"]


def test_an_unreachable_bus_or_store_is_unhealthy_with_the_reason(tmp_path: Path) -> None:
    class DownBus(EmbeddedBus):
        def lag_by_partition(self, topic: str, group: str) -> dict[int, int]:
            raise TransientError("kafka lag unavailable: broker down")

    (tmp_path / "not-a-db").mkdir()
    broken_store = Store(f"sqlite:///{tmp_path / 'not-a-db'}")  # a folder: every connect fails
    clock, stats = FakeClock(), ConsumeStats(last_poll=100.0)
    m = monitor(DownBus(tmp_path / "bus.sqlite3"), broken_store, stats, clock)
    m.refresh()
    ok, body = m.health()
    reasons = body["reasons"]
    assert not ok and isinstance(reasons, list) and len(reasons) == 2
    assert reasons[0] == "bus unreachable: kafka lag unavailable: broker down"
    assert reasons[1].startswith("store unreachable: ") and "unable to open database file" in reasons[1]
    broken_store.dispose()


def test_a_check_that_hangs_makes_the_worker_unhealthy(tmp_path: Path, store: Store) -> None:
    release = threading.Event()

    class HangingBus(EmbeddedBus):
        def lag_by_partition(self, topic: str, group: str) -> dict[int, int]:
            release.wait(10)
            return {0: 0}

    clock, stats = FakeClock(), ConsumeStats(last_poll=100.0)
    m = monitor(HangingBus(tmp_path / "bus.sqlite3"), store, stats, clock)
    thread = threading.Thread(target=m.refresh)
    thread.start()
    try:
        deadline = threading.Event()
        while m._checking_since is None and not deadline.wait(0.01):
            pass
        clock.advance(seconds=2.0)
        stats.last_poll = clock.monotonic()
        ok, body = m.health()
        assert not ok
        assert "dependency check has not answered for 2.0s" in body["reasons"]  # type: ignore[operator]
    finally:
        release.set()
        thread.join(timeout=10)
    assert m.health()[0]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_server_answers_healthz_metrics_and_404(tmp_path: Path, store: Store) -> None:
    clock, stats = FakeClock(), ConsumeStats()
    m = monitor(EmbeddedBus(tmp_path / "bus.sqlite3"), store, stats, clock)
    server = HealthServer("127.0.0.1", 0, health_app(m.health)).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, text = get(base + "/healthz")
        assert status == 503 and json.loads(text)["status"] == "unhealthy"
        stats.last_poll = clock.monotonic()
        m.refresh()
        status, text = get(base + "/healthz")
        assert status == 200 and json.loads(text)["status"] == "ok"
        status, text = get(base + "/metrics")
        assert status == 200
        assert f'orbweaver_bus_consumer_lag{{group="{m.group}",partition="0",topic="media.fetched"}} 0.0' in text
        assert get(base + "/nothing-here")[0] == 404
    finally:
        server.stop()


def test_every_metric_is_named_after_the_bus_or_its_stage_group_once() -> None:
    # Importing every stage module into one process (as the demo does) registers each once;
    # a duplicated name would have raised at import.
    assert {hashing.stage.SPEC.group, matcher.stage.SPEC.group, review.stage.SPEC.group,
            notifier.stage.SPEC.group} == {"hashing", "matcher", "review", "notifier"}
    names = [f.name for f in REGISTRY.collect() if f.name.startswith("orbweaver")]
    pattern = re.compile(r"orbweaver_(bus|hashing|matcher|review|notifier)_[a-z_]+")
    assert names and all(pattern.fullmatch(n) for n in names), names
    assert len(names) == len(set(names))
    expected = {"orbweaver_bus_messages", "orbweaver_bus_handle_seconds", "orbweaver_bus_consumer_lag",
                "orbweaver_bus_errors", "orbweaver_hashing_media", "orbweaver_matcher_media",
                "orbweaver_review_candidates", "orbweaver_notifier_notices"}
    assert expected <= set(names)


def test_worker_settings_come_from_the_environment_and_typos_fail() -> None:
    settings = load(Settings, environ={"ORBWEAVER_WORKER__METRICS_PORT": "9100", "ORBWEAVER_WORKER__BATCH": "32"})
    assert (settings.worker.metrics_port, settings.worker.batch) == (9100, 32)
    with pytest.raises(ConfigError, match="ORBWEAVER_WORKER__METRICS_PROT"):
        load(Settings, environ={"ORBWEAVER_WORKER__METRICS_PROT": "9100"})
    with pytest.raises(ConfigError, match=r"worker\.batch"):
        load(Settings, environ={"ORBWEAVER_WORKER__BATCH": "0"})
