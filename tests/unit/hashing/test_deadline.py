"""The per-item time limit is a hard deadline: a scan-bomb JPEG is stopped in the hash command and in hashing workers.

The bomb (tests/fixtures/bombs.py) is a flat grey 8900 x 8900 progressive JPEG whose first AC
scan is repeated 1000 times; in-process it decodes for 15 to 35 s on the 2-core test machine.
With ``time_limit_s = 2`` its worker is killed at 2.5 s. The good images are generated photos
(``synthetic.photo``). Elapsed times are compared with the same run without the bomb, so that
starting Python does not count against the deadline under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, HashedMedia, MediaRef, Message, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.hashing import Media
from hashing.hasher import compute_hashes
from hashing.pool import HashingPool
from hashing.settings import HashingSettings
from hashing.stage import SPEC, HashingStage
from tests.fixtures.bombs import scan_bomb_jpeg
from tests.unit.hashing.synthetic import encode, photo

LIMIT_S = 2.0
ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


@cache
def bomb(repeats: int = 1000) -> bytes:
    return scan_bomb_jpeg(8900, repeats)


@cache
def good(seed: int) -> bytes:
    return encode(photo(seed, (400, 300)), "JPEG", quality=90)


def test_the_pool_answers_as_the_hasher_does() -> None:
    bodies = [good(1), encode(photo(2, (300, 200)), "PNG"), good(1)[:500], b""]
    with HashingPool(HashingSettings().plan(), workers=2) as pool:
        assert pool.hash_batch(bodies) == [compute_hashes(body) for body in bodies]


def _hash_command(paths: list[Path]) -> tuple[float, list[dict[str, object]], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env["ORBWEAVER_HASHING__TIME_LIMIT_S"] = str(LIMIT_S)
    started = time.monotonic()
    result = subprocess.run([ORBWEAVER, "hash", *map(str, paths)], capture_output=True, text=True, env=env,
                            timeout=300, check=False)
    elapsed = time.monotonic() - started
    return elapsed, [json.loads(line) for line in result.stdout.splitlines()], result.returncode


def test_hash_command_stops_a_scan_bomb_within_twice_the_limit(tmp_path: Path) -> None:
    first, second, hostile = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "bomb.jpg"
    first.write_bytes(good(1))
    second.write_bytes(good(2))
    hostile.write_bytes(bomb())
    baseline, _, code = _hash_command([first, second])
    assert code == 0
    elapsed, records, code = _hash_command([first, hostile, second])
    assert code == 1
    assert elapsed - baseline < 2 * LIMIT_S, f"{elapsed:.1f} s with the bomb, {baseline:.1f} s without"
    a, b, c = records
    assert "pdq" in a and "pdq" in c and "error" not in a and "error" not in c
    assert str(b["error"]).startswith("timeout: ")
    # the exact hashes of the bomb are still there (a list may hold its MD5)
    assert b["md5"] == hashlib.md5(bomb()).hexdigest() and "pdq" not in b


def fetched(url: str, body: bytes) -> FetchedMedia:
    ref = MediaRef(campaign_id="c", page_url="http://h.test/", media_url=url, final_url=url,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    return FetchedMedia(ref=ref, http_status=200, content_type="image/jpeg", size=len(body),
                        sha256=sha256_hex(body), body=body)


def test_two_hashing_workers_stop_scan_bombs_and_publish_one_hashed_per_input(tmp_path: Path) -> None:
    # Leases of 3 s: one batch of three 2.5 s bombs outlives them unless they are renewed.
    bus_path, lease_s = tmp_path / "bus.db", 3.0
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    bombs = [bomb(1000), bomb(1001), bomb(1002)]
    bodies = [good(1), bombs[0], good(2), bombs[1], good(3), bombs[2]]
    publisher = EmbeddedBus(bus_path, lease_s=lease_s)
    publisher.publish_many([fetched(f"http://h.test/{i}.jpg", body) for i, body in enumerate(bodies)])
    stop = threading.Event()
    failures: list[BaseException] = []
    took: list[tuple[str, float]] = []

    def worker() -> None:
        bus = EmbeddedBus(bus_path, lease_s=lease_s)
        stage = HashingStage(bus, store, LocalBlobStore(tmp_path / "blobs"), HashingSettings(time_limit_s=LIMIT_S))

        def timed(message: Message) -> None:
            started = time.monotonic()
            stage.handle(message)
            assert isinstance(message, FetchedMedia)
            took.append((message.sha256, time.monotonic() - started))

        try:
            bus.consume(Topic.MEDIA_FETCHED, SPEC.group, timed, stop=stop, batch=8, defer_flush=True)
        except BaseException as exc:  # surfaced by the assert below
            failures.append(exc)
        finally:
            stage.close()
            bus.close()

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    try:
        assert publisher.wait_drained([(Topic.MEDIA_FETCHED, SPEC.group)], timeout_s=240)
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
    assert failures == []
    published = [m for m in map(decode, publisher.read_topic(str(Topic.MEDIA_HASHED))) if isinstance(m, HashedMedia)]
    publisher.close()
    assert Counter(m.sha256 for m in published) == Counter(sha256_hex(b) for b in bodies)
    hostile = {sha256_hex(b) for b in bombs}
    # A worker that (re)starts its decoding process waits for it outside the item's deadline; the
    # good items show how long that takes here.
    startup = max(seconds for sha, seconds in took if sha not in hostile)
    assert all(seconds < 2 * LIMIT_S + startup for sha, seconds in took if sha in hostile), took
    for message in published:
        if message.sha256 in hostile:
            # killed by the hard deadline, not ended by the step-by-step check after the decode
            assert message.errors == ["timeout: over the hard 2.5 s limit decoding and hashing; stopped"]
            assert {h.algorithm for h in message.hashes} == {"md5", "sha1", "sha256"}
        else:
            assert message.errors == [] and "pdq" in {h.algorithm for h in message.hashes}
    with store.session() as s:
        errors = {row.sha256: row.error for row in s.scalars(select(Media))}
    assert all(str(errors[sha]).startswith("timeout: ") for sha in hostile)
    store.dispose()
