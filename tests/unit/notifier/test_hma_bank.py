"""Pushing confirmed hashes into an HMA bank, against a loopback fake of HMA's curation routes.

The fake answers as HMA's ``curation.py`` does: ``POST /c/bank/<BANK>/signal`` adds new content on
every call (not idempotent) and answers ``{"id", "signals"}``; unknown banks are 404 and invalid
signals 400, both ``{"message"}``; ``DELETE /c/bank/<BANK>/content/<id>`` answers ``{"deleted": n}``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError, TransientError
from core.messages import Classification, ReviewDecision
from core.store import Store
from core.store.tables.hashing import Media
from notifier.channels import OutboxChannel
from notifier.hma import HmaBank, HmaSettings
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from tests.fixtures.clock import FakeClock
from tests.unit.notifier.helpers import PDQ as NOTICE_PDQ
from tests.unit.notifier.helpers import confirmed, migrated_store
from tests.unit.notifier.http_servers import send_json

PDQ = "f" * 16 + "0" * 16 + "a5" * 16
MD5 = "0123456789abcdef" * 2


@dataclass
class FakeHma:
    banks: dict[str, dict[int, dict[str, str]]] = field(default_factory=lambda: {"ORBWEAVER_CONFIRMED": {}})
    down: int = 0
    """Answer this many of the next calls 503 (HMA restarting)."""
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    next_id: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append((method, path, headers))
            if self.down:
                self.down -= 1
                return 503, {"message": "restarting"}
            if m := re.fullmatch(r"/c/bank/(\w+)/signal", path):
                bank = self.banks.get(m[1])
                if bank is None:
                    return 404, {"message": f"bank '{m[1]}' not found"}
                signals = json.loads(body)
                if not signals:
                    return 400, {"message": "No signals given"}
                for kind, value in signals.items():
                    if kind not in ("pdq", "video_md5"):
                        return 400, {"message": f"No such signal type {kind}"}
                    if not re.fullmatch(r"[0-9a-f]{64}" if kind == "pdq" else r"[0-9a-f]{32}", value):
                        return 400, {"message": f"Invalid {kind} signal: {value}"}
                self.next_id += 1
                bank[self.next_id] = signals
                return 200, {"id": self.next_id, "signals": signals}
            if (m := re.fullmatch(r"/c/bank/(\w+)/content/(\d+)", path)) and method == "DELETE":
                removed = self.banks.get(m[1], {}).pop(int(m[2]), None)
                return 200, {"deleted": int(removed is not None)}
            return 404, {"message": "no route"}


@pytest.fixture(scope="module")
def hma() -> Iterator[tuple[str, FakeHma]]:
    fake = FakeHma()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            send_json(self, *fake.answer(self.command, self.path, body, dict(self.headers.items())))

        do_POST = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return migrated_store(tmp_path)


def bank(store: Store, base: str, **changes: Any) -> tuple[HmaBank, list[float]]:
    slept: list[float] = []
    settings = NotifierSettings(hma={"enabled": True, "base_url": base, "auth_header": "X-Proxy-Key: s3cret",
                                     "backoff_s": 0.25, **changes})
    built = HmaBank.from_settings(settings, store)
    assert built is not None
    built.sleep = slept.append
    return built, slept


def test_push_is_journalled_once_and_withdrawal_deletes_that_content(store: Store, hma: tuple[str, FakeHma]) -> None:
    base, fake = hma
    sink, _ = bank(store, base)
    content = sink.push("pdq", PDQ.upper())
    assert fake.banks["ORBWEAVER_CONFIRMED"][content] == {"pdq": PDQ}
    assert fake.calls[-1][2]["X-Proxy-Key"] == "s3cret"
    calls = len(fake.calls)
    # HMA adds content on every POST: a retry (or a restart) must find the journal, not POST again.
    assert sink.push("pdq", PDQ) == content
    assert HmaBank.from_settings(NotifierSettings(hma={"enabled": True, "base_url": base}), store).push("pdq", PDQ) \
        == content
    assert len(fake.calls) == calls
    video = sink.push("md5", MD5)
    assert fake.banks["ORBWEAVER_CONFIRMED"][video] == {"video_md5": MD5}
    assert sink.withdraw("pdq", PDQ) is True
    assert content not in fake.banks["ORBWEAVER_CONFIRMED"] and video in fake.banks["ORBWEAVER_CONFIRMED"]
    assert sink.withdraw("pdq", PDQ) is False  # nothing journalled any more: no call
    assert sink.push("pdq", PDQ) != content  # confirmed again later: new content


def test_a_dead_hma_is_transient_retried_with_backoff_and_loses_nothing(store: Store,
                                                                       hma: tuple[str, FakeHma]) -> None:
    base, fake = hma
    sink, slept = bank(store, base)
    fake.down = 3
    with pytest.raises(TransientError, match="HTTP 503 after 3 tries"):
        sink.push("pdq", PDQ)
    assert slept == [0.25, 0.5]
    assert sink.journal.sent(sink.key("pdq", PDQ)) is None  # nothing recorded: the next try pushes
    fake.down = 1
    content = sink.push("pdq", PDQ)
    assert fake.banks["ORBWEAVER_CONFIRMED"][content] == {"pdq": PDQ}
    unreachable, _ = bank(store, "http://127.0.0.1:9", attempts=2)  # nothing listens on the discard port
    with pytest.raises(TransientError):
        unreachable.push("md5", MD5)


def test_refusals_are_permanent_and_the_sink_is_off_by_default(store: Store, hma: tuple[str, FakeHma]) -> None:
    base, _ = hma
    assert HmaBank.from_settings(NotifierSettings(), store) is None
    assert NotifierSettings().section("hma", HmaSettings).enabled is False
    missing, _ = bank(store, base, bank="NO_SUCH_BANK")
    with pytest.raises(PermanentError, match="bank 'NO_SUCH_BANK' not found"):
        missing.push("pdq", PDQ)
    sink, _ = bank(store, base)
    with pytest.raises(PermanentError, match="Invalid pdq signal"):
        sink.push("pdq", "ab" * 31 + "zz")
    with pytest.raises(PermanentError, match="not sha256"):
        sink.push("sha256", "ab" * 32)


def test_the_notifier_tick_pushes_each_confirmed_hash_once_retries_a_dead_hma_and_withdraws(
        store: Store, hma: tuple[str, FakeHma], tmp_path: Path) -> None:
    base, fake = hma
    fake.banks["TICK"] = {}
    clock = FakeClock()
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=3600,
                                hma={"enabled": True, "base_url": base, "bank": "TICK", "attempts": 1,
                                     "retry_after_s": 60})

    def notifier() -> NotifierStage:
        return NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings,
                             OutboxChannel(tmp_path / "outbox", settings.sender), clock=clock)

    image_md5 = "ab" * 16
    with store.session() as s:  # what the hashing stage knows: only the video's MD5 is an HMA signal
        s.add_all([Media(sha256="01" * 32, size=1, content_type="image/jpeg", md5=image_md5),
                   Media(sha256="02" * 32, size=1, content_type="video/mp4", md5=MD5)])
    stage = notifier()
    stage.handle(confirmed("http://site.test/a.jpg", review_item=1))
    stage.handle(confirmed("http://site.test/b.jpg", review_item=1))  # same hash, second URL
    stage.handle(confirmed("http://site.test/v.mp4", review_item=2).model_copy(update={"pdq": None}))

    def bank_calls() -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in fake.calls if "/TICK/" in path]

    fake.down = 1
    stage.tick()  # HMA down: the notices still go out, nothing is lost
    assert len(bank_calls()) == 1 and fake.banks["TICK"] == {}
    stage.tick()  # within the backoff: HMA is left alone
    assert len(bank_calls()) == 1
    clock.advance(seconds=61)
    stage.tick()
    assert sorted(fake.banks["TICK"].values(), key=str) == [{"pdq": NOTICE_PDQ}, {"video_md5": MD5}]
    assert [m for m, _ in bank_calls()] == ["POST"] * 3
    stage.tick()
    notifier().tick()  # a restarted notifier reads the journal: no duplicate content
    assert len(bank_calls()) == 3 and len(fake.banks["TICK"]) == 2

    stage.handle(ReviewDecision(review_item_id=1, sha256="01" * 32, classification=Classification.NOT_CSAM,
                                decided_by="analyst"))  # an accepted contest withdraws the items
    stage.tick()
    assert list(fake.banks["TICK"].values()) == [{"video_md5": MD5}]
    assert bank_calls()[-1][0] == "DELETE" and len(bank_calls()) == 4
    stage.tick()
    assert len(bank_calls()) == 4
