"""Notifier side: push confirmed hashes into a bank of Meta's Hasher-Matcher-Actioner (HMA), and withdraw them.

Not a notice channel: a channel delivers a rendered notice to a provider, while this hands a
hash to a matcher the operator (or a partner) runs. It is registry-shaped all the same: one class
per sink in :data:`HASH_SINKS`, its settings in ``[notifier.<name>]`` (off by default).

HMA's curation API (``POST /c/bank/<BANK>/signal`` with ``{"<signal type>": "<hash>"}``, answering
``{"id": <content id>, ...}``) is not idempotent: every call adds content. So the content id is
written to the sent journal under a key naming bank, signal type and hash the moment HMA answers;
a retry finds it and sends nothing, and a withdrawal deletes exactly that content
(``DELETE /c/bank/<BANK>/content/<id>``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self
from urllib.parse import quote

import structlog
from pydantic import Field
from sqlalchemy import delete, select

from core.errors import ConfigError, PermanentError, TransientError
from core.messages import utcnow
from core.store import Store
from core.store.tables.notifier import NoticeItem, SentJournal
from hashing.media import video_md5s
from notifier.base import ChannelSettings
from notifier.channels import StoreJournal
from notifier.settings import NotifierSettings
from notifier.states import NoticeItemStatus

log = structlog.get_logger(__name__)

SIGNAL_TYPES = {"pdq": "pdq", "md5": "video_md5"}
"""orbweaver algorithm → HMA signal type name (HMA's reference configs enable these two)."""


class HmaSettings(ChannelSettings):
    """``[notifier.hma]``: the HMA bank confirmed hashes are pushed into."""

    enabled: bool = Field(default=False, description="Whether confirmed hashes are pushed into an HMA bank.")
    base_url: str = Field(default="", description="HMA's address, e.g. https://hma.example.org (curation API at /c).")
    bank: str = Field(default="ORBWEAVER_CONFIRMED", pattern=r"^[A-Z0-9_]+$", description="The HMA bank's name.")
    auth_header: str = Field(
        default="",
        description="'Name: value' header sent with every call (HMA has no auth of its own; proxies in front do).",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one HTTP call.")
    attempts: int = Field(default=3, ge=1, le=10, description="Tries per push or withdrawal before it is transient.")
    backoff_s: float = Field(default=0.5, ge=0, description="Wait before the second try; doubles each try.")
    retry_after_s: float = Field(
        default=60.0, gt=0,
        description="After a tick found HMA down: wait before the next tick tries; doubles per failed tick, up to 1 h.",
    )


Send = Callable[[str, str, bytes | None, dict[str, str], float], tuple[int, dict[str, Any]]]
"""(method, URL, body, headers, timeout) → (HTTP status, JSON body or {})."""


def http_send(method: str, url: str, body: bytes | None, headers: dict[str, str],
              timeout_s: float) -> tuple[int, dict[str, Any]]:
    """One HTTP call; network failures are transient, any answer is returned with its status."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw = int(response.status), response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(64 * 1024)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise TransientError(f"HMA {method} {url}: {exc}") from exc
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {}
    return status, answer if isinstance(answer, dict) else {}


class HmaBank:
    """Pushes hashes into one HMA bank and withdraws them, journalled so that nothing is added twice.

    Raises (from :meth:`push` and :meth:`withdraw`):
        TransientError: HMA unreachable, 429 or 5xx after every attempt (nothing journalled: retry later).
        PermanentError: Any other refusal (unknown bank, invalid signal), with HMA's message.
    """

    name = "hma"
    settings_model = HmaSettings

    def __init__(self, store: Store, settings: HmaSettings, *, send: Send = http_send,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.base_url:
            raise ConfigError("[notifier.hma] is enabled but has no base_url")
        self.store, self.settings, self.send, self.sleep = store, settings, send, sleep
        self.journal = StoreJournal(store)
        self.base = f"{settings.base_url.rstrip('/')}/c/bank/{quote(settings.bank)}"
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.auth_header:
            header, sep, value = settings.auth_header.partition(":")
            if not sep:
                raise ConfigError("[notifier.hma] auth_header must be 'Name: value'")
            self.headers[header.strip()] = value.strip()

    @classmethod
    def from_settings(cls, settings: NotifierSettings, store: Store) -> Self | None:
        """The bank of ``[notifier.hma]``, or None when it is not enabled."""
        own = settings.section(cls.name, HmaSettings)
        return cls(store, own) if own.enabled else None

    def key(self, algorithm: str, value: str) -> str:
        """The journal key of one hash in this bank."""
        return f"hma:{self.settings.bank}:{SIGNAL_TYPES.get(algorithm, algorithm)}:{value.lower()}"

    def _call(self, method: str, url: str, body: bytes | None) -> tuple[int, dict[str, Any]]:
        wait = self.settings.backoff_s
        for attempt in range(1, self.settings.attempts + 1):
            try:
                status, answer = self.send(method, url, body, self.headers, self.settings.timeout_s)
            except TransientError:
                if attempt == self.settings.attempts:
                    raise
            else:
                if status != 429 and status < 500:
                    return status, answer
                if attempt == self.settings.attempts:
                    raise TransientError(f"HMA {method} {url}: HTTP {status} after {attempt} tries")
            self.sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")

    def push(self, algorithm: str, value: str) -> int:
        """Add one hash to the bank unless the journal says it is there; the HMA content id."""
        signal_type = SIGNAL_TYPES.get(algorithm)
        if signal_type is None:
            raise PermanentError(f"HMA takes {sorted(SIGNAL_TYPES)} hashes, not {algorithm}")
        key = self.key(algorithm, value)
        if (known := self.journal.sent(key)) is not None:
            return int(known)
        body = json.dumps({signal_type: value.lower()}).encode()
        status, answer = self._call("POST", f"{self.base}/signal", body)
        content_id = answer.get("id")
        if not 200 <= status < 300 or not isinstance(content_id, int):
            raise PermanentError(f"HMA refused {signal_type} {value}: HTTP {status} {answer.get('message', '')}")
        self.journal.record(key, self.name, str(content_id))
        return content_id

    def withdraw(self, algorithm: str, value: str) -> bool:
        """Delete the content this bank holds for one hash; False if it was never pushed."""
        key = self.key(algorithm, value)
        known = self.journal.sent(key)
        if known is None:
            return False
        status, answer = self._call("DELETE", f"{self.base}/content/{int(known)}", None)
        if not 200 <= status < 300 and status != 404:  # 404: already gone there
            raise PermanentError(f"HMA refused to delete content {known}: HTTP {status} {answer.get('message', '')}")
        with self.store.session() as s:
            s.execute(delete(SentJournal).where(SentJournal.idempotency_key == key))
        return True


Signal = tuple[str, str]
"""(orbweaver algorithm, lower-case hex value) of one confirmed hash."""


def confirmed_signals(store: Store) -> tuple[set[Signal], set[Signal]]:
    """The hashes of noticed items: those still confirmed, and those of withdrawn items.

    A notice item carries its PDQ; a video's MD5 is the hashing stage's (images' MD5s are not
    HMA's ``video_md5``). A hash shared by a withdrawn and a still-confirmed item stays confirmed.
    """
    video = video_md5s()
    with store.session() as s:
        rows = s.execute(select(NoticeItem.status, NoticeItem.pdq, video.c.md5)
                         .outerjoin(video, video.c.sha256 == NoticeItem.sha256)).all()
    confirmed: set[Signal] = set()
    withdrawn: set[Signal] = set()
    for status, pdq, md5 in rows:
        into = withdrawn if status == NoticeItemStatus.WITHDRAWN else confirmed
        into.update(signal for signal in (("pdq", pdq), ("md5", md5)) if signal[1])
    confirmed = {(a, v.lower()) for a, v in confirmed}
    return confirmed, {(a, v.lower()) for a, v in withdrawn} - confirmed


@dataclass
class _Backoff:
    failures: int = 0
    retry_at: datetime | None = None
    refused: set[str] = field(default_factory=set)
    """Keys a sink refused for good (logged once; tried again after a restart)."""


class HashPush:
    """Keeps every enabled sink's bank equal to the confirmed hashes; run from the notifier's tick.

    What to push is derived each run from the notice items and the sent journal (a hash no sink
    has journalled is pushed, a journalled one whose items were all withdrawn is withdrawn), so a
    restart or a dead sink loses nothing. A sink that is down is left alone until its backoff ends;
    notices never wait for it.
    """

    def __init__(self, store: Store, sinks: Sequence[HmaBank], clock: Callable[[], datetime] = utcnow) -> None:
        self.store, self.sinks, self.clock = store, list(sinks), clock
        self.backoff = {sink.name: _Backoff() for sink in self.sinks}

    @classmethod
    def from_settings(cls, settings: NotifierSettings, store: Store,
                      clock: Callable[[], datetime] = utcnow) -> Self:
        """One pusher over every sink enabled in the settings (none: :meth:`run` does nothing)."""
        sinks = [sink for kind in HASH_SINKS.values() if (sink := kind.from_settings(settings, store)) is not None]
        return cls(store, sinks, clock)

    def run(self) -> int:
        """Push what no sink holds yet and withdraw what was withdrawn; the calls that succeeded."""
        if not self.sinks:
            return 0
        now = self.clock()
        confirmed, withdrawn = confirmed_signals(self.store)
        done = 0
        for sink in self.sinks:
            state = self.backoff[sink.name]
            if state.retry_at is not None and now < state.retry_at:
                continue
            try:
                done += self._sync(sink, state, confirmed, withdrawn)
            except TransientError as exc:
                state.failures += 1
                wait = min(sink.settings.retry_after_s * 2 ** (state.failures - 1), 3600.0)
                state.retry_at = now + timedelta(seconds=wait)
                log.warning("notifier.hash_sink_down", sink=sink.name, error=str(exc), retry_in_s=wait)
            else:
                state.failures, state.retry_at = 0, None
        return done

    def _sync(self, sink: HmaBank, state: _Backoff, confirmed: set[Signal], withdrawn: set[Signal]) -> int:
        with self.store.session() as s:
            held = set(s.scalars(select(SentJournal.idempotency_key).where(SentJournal.channel == sink.name)))
        calls = [(sink.push, signal) for signal in sorted(confirmed) if sink.key(*signal) not in held]
        calls += [(sink.withdraw, signal) for signal in sorted(withdrawn) if sink.key(*signal) in held]
        return sum(self._call(sink, state, call, signal) for call, signal in calls)

    @staticmethod
    def _call(sink: HmaBank, state: _Backoff, call: Callable[[str, str], object], signal: Signal) -> int:
        key = sink.key(*signal)
        if key in state.refused:
            return 0
        try:
            call(*signal)
        except PermanentError as exc:
            state.refused.add(key)
            log.error("notifier.hash_sink_refused", sink=sink.name, algorithm=signal[0], error=str(exc))
            return 0
        return 1


HASH_SINKS: dict[str, type[HmaBank]] = {HmaBank.name: HmaBank}
"""Every place confirmed hashes can be pushed to, by storage name; settings in ``[notifier.<name>]``."""


def _check_registry() -> None:
    from notifier.channels import CHANNELS

    clash = sorted(set(HASH_SINKS) & set(CHANNELS))
    if clash or any(k != v.name for k, v in HASH_SINKS.items()):
        raise RuntimeError(f"hash sink names must match their keys and differ from channel names: {clash}")


_check_registry()
