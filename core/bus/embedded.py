"""Embedded bus: one SQLite file on local disk, shared by threads and processes of one machine.

Durability: a message is committed to the file before ``publish`` returns, and a consumer's
progress is recorded per message, so a stopped or killed run resumes with nothing lost or
redone. A delivery is *leased* to one consumer; a lease that expires (its holder died) is
handed out again. Payloads a topic's every subscribed group has finished with are deleted,
because media bytes must not outlive their processing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from core.bus.base import Bus, Delivery, LeaseRenewer, encode_for
from core.bus.metrics import PUBLISH_WAIT_SECONDS
from core.errors import TransientError
from core.messages import Message, dead_letter_topic

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_topic_id ON messages (topic, id);
CREATE TABLE IF NOT EXISTS deliveries (
    grp TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until REAL NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (grp, message_id)
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (grp, topic, state);
CREATE TABLE IF NOT EXISTS floors (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    floor INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
"""


class EmbeddedBus(Bus):
    """A durable bus in one SQLite file.

    Args:
        path: The database file; created with its folder if missing.
        lease_s: How long a handed-out delivery stays reserved for its consumer. A consumer
            that dies holding it blocks it this long, then it is handed out again.
        max_topic_size: Back-pressure: a publish waits while its topic stores this many
            messages or more (0: no limit). Finished messages leave at the next compaction,
            so the bound is the slowest group's backlog plus one maintenance interval.
            Dead-letter topics are never limited.
        max_block_s: Longest a publish waits for room before it fails transiently.

    """

    def __init__(
        self, path: str | Path, *, lease_s: float = 60.0, max_topic_size: int = 0, max_block_s: float = 30.0
    ) -> None:
        if max_topic_size < 0:
            raise ValueError(f"max_topic_size must not be negative, got {max_topic_size}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_s = lease_s
        self.max_topic_size = max_topic_size
        self.max_block_s = max_block_s
        self._local = threading.local()
        self._owner = f"{os.getpid()}"
        self._closed = False
        conn = self._conn()
        conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL keeps every commit across a process crash (WAL); only a power cut may
            # lose the last transactions, which the producer then re-sends on restart.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # Deleted payloads are media bytes: overwrite them on disk rather than leave them
            # in free pages of the file.
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
        return conn

    def _write(self, fn: str, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise TransientError(f"embedded bus {fn} failed: {exc}") from exc

    def publish(self, message: Message) -> None:
        """Append a message; it is on disk when this returns."""
        topic, key, payload = encode_for(message)
        self._publish_raw(topic, key, payload)

    def _publish_raw(self, topic: str, key: str, payload: bytes) -> None:
        if self.max_topic_size and not topic.endswith(dead_letter_topic("")):
            self._wait_for_room(topic)
        self._write(
            "publish",
            "INSERT INTO messages (topic, key, payload, created) VALUES (?, ?, ?, ?)",
            (topic, key, payload, time.time()),
        )

    def _wait_for_room(self, topic: str) -> None:
        """Block while ``topic`` stores ``max_topic_size`` messages or more (TransientError after ``max_block_s``)."""
        room: dict[str, int] = getattr(self._local, "room", None) or {}
        self._local.room = room
        if room.get(topic, 0) > 0:
            # Known room from the last count: spend it without asking the file again.
            room[topic] -= 1
            return
        started = time.monotonic()
        delay = 0.01
        while True:
            stored = self.topic_size(topic)
            if stored < self.max_topic_size:
                # Other publishers may fill the same room; re-count after half of it.
                room[topic] = (self.max_topic_size - stored) // 2
                break
            waited = time.monotonic() - started
            if waited >= self.max_block_s:
                PUBLISH_WAIT_SECONDS.labels(topic, "topic_full").inc(waited)
                raise TransientError(
                    f"embedded bus topic {topic!r} holds {stored} messages (limit {self.max_topic_size}) "
                    f"after waiting {waited:.1f}s for its consumers"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        waited = time.monotonic() - started
        if waited > 0.01:
            PUBLISH_WAIT_SECONDS.labels(topic, "topic_full").inc(waited)

    def _flush(self) -> None:
        """Nothing to do: every publish is already committed."""

    def _floor(self, conn: sqlite3.Connection, group: str, topic: str) -> int:
        row = conn.execute("SELECT floor FROM floors WHERE grp=? AND topic=?", (group, topic)).fetchone()
        if row is None:
            conn.execute("INSERT OR IGNORE INTO floors (grp, topic, floor) VALUES (?, ?, 0)", (group, topic))
            return 0
        return int(row[0])

    def _fetch(self, topics: Sequence[str], group: str, max_messages: int, timeout_s: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout_s
        owner = f"{self._owner}:{threading.get_ident()}"
        while True:
            found = self._try_fetch(topics, group, max_messages, owner)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _try_fetch(self, topics: Sequence[str], group: str, limit: int, owner: str) -> list[Delivery]:
        conn = self._conn()
        now = time.time()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransientError(f"embedded bus is locked: {exc}") from exc
        try:
            out: list[Delivery] = []
            for topic in topics:
                floor = self._floor(conn, group, topic)
                rows = conn.execute(
                    """
                    SELECT m.id, m.payload, COALESCE(d.attempts, 0)
                    FROM messages m
                    LEFT JOIN deliveries d ON d.grp = ? AND d.message_id = m.id
                    WHERE m.topic = ? AND m.id > ?
                      AND (d.message_id IS NULL OR (d.state = 'leased' AND d.lease_until < ?))
                    ORDER BY m.id LIMIT ?
                    """,
                    (group, topic, floor, now, limit - len(out)),
                ).fetchall()
                for message_id, payload, attempts in rows:
                    conn.execute(
                        """
                        INSERT INTO deliveries (grp, message_id, topic, state, owner, lease_until, attempts)
                        VALUES (?, ?, ?, 'leased', ?, ?, ?)
                        ON CONFLICT (grp, message_id) DO UPDATE SET
                            state = 'leased', owner = excluded.owner,
                            lease_until = excluded.lease_until, attempts = excluded.attempts
                        """,
                        (group, message_id, topic, owner, now + self.lease_s, attempts + 1),
                    )
                    out.append(Delivery(topic, bytes(payload), message_id, attempts + 1))
                if len(out) >= limit:
                    break
            conn.execute("COMMIT")
            return out
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _lease_renewer(self, group: str, deliveries: Sequence[Delivery]) -> LeaseRenewer:
        """Renew the batch's leases every third of ``lease_s`` while it is handled (see ``Bus``)."""
        return _Leases(self, group, [d.token for d in deliveries], f"{self._owner}:{threading.get_ident()}")

    def _commit(self, group: str, delivery: Delivery) -> None:
        self._write(
            "commit",
            "UPDATE deliveries SET state = 'done' WHERE grp = ? AND message_id = ?",
            (group, delivery.token),
        )

    def _commit_many(self, group: str, deliveries: Sequence[Delivery]) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "UPDATE deliveries SET state = 'done' WHERE grp = ? AND message_id = ?",
                    [(group, d.token) for d in deliveries],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise TransientError(f"embedded bus commit failed: {exc}") from exc

    def _release(self, group: str, delivery: Delivery, *, count_attempt: bool = True) -> None:
        # Attempts are counted when a delivery is leased; a release that is not the message's
        # fault takes that count back.
        self._write(
            "release",
            "UPDATE deliveries SET lease_until = 0, attempts = MAX(attempts - ?, 0) "
            "WHERE grp = ? AND message_id = ? AND state = 'leased'",
            (0 if count_attempt else 1, group, delivery.token),
        )

    def lag(self, topic: str, group: str) -> int:
        """Messages of ``topic`` not yet committed by ``group`` (leased ones count as lag)."""
        conn = self._conn()
        row = conn.execute(
            """
            SELECT COUNT(*) FROM messages m
            LEFT JOIN deliveries d ON d.grp = ? AND d.message_id = m.id
            WHERE m.topic = ? AND m.id > COALESCE((SELECT floor FROM floors WHERE grp = ? AND topic = ?), 0)
              AND (d.state IS NULL OR d.state != 'done')
            """,
            (group, topic, group, topic),
        ).fetchone()
        return int(row[0])

    def compact(self) -> int:
        """Advance each group's floor past finished messages and delete payloads nobody needs.

        A message is deleted once every group that has ever read its topic committed it.

        Returns:
            How many messages were deleted.

        """
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for group, topic, floor in conn.execute("SELECT grp, topic, floor FROM floors").fetchall():
                first_open = conn.execute(
                    """
                    SELECT MIN(m.id) FROM messages m
                    LEFT JOIN deliveries d ON d.grp = ? AND d.message_id = m.id
                    WHERE m.topic = ? AND m.id > ? AND (d.state IS NULL OR d.state != 'done')
                    """,
                    (group, topic, floor),
                ).fetchone()[0]
                if first_open is None:
                    last = conn.execute("SELECT MAX(id) FROM messages WHERE topic = ?", (topic,)).fetchone()[0]
                    new_floor = int(last) if last is not None else floor
                else:
                    new_floor = int(first_open) - 1
                if new_floor > floor:
                    conn.execute("UPDATE floors SET floor = ? WHERE grp = ? AND topic = ?", (new_floor, group, topic))
                    conn.execute(
                        "DELETE FROM deliveries WHERE grp = ? AND topic = ? AND message_id <= ?",
                        (group, topic, new_floor),
                    )
            deleted = conn.execute(
                """
                DELETE FROM messages WHERE id <= (
                    SELECT MIN(f.floor) FROM floors f WHERE f.topic = messages.topic
                )
                """
            ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if deleted:
            # The write-ahead log still holds the frames that inserted the payloads; truncating it
            # (best effort: a busy reader defers it to the next round) leaves no copy behind.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    def maintain(self) -> None:
        """Delete payloads every group has finished with (see :meth:`compact`)."""
        self.compact()

    def topic_size(self, topic: str) -> int:
        """Messages of ``topic`` still stored (dead-letter topics included)."""
        row = self._conn().execute("SELECT COUNT(*) FROM messages WHERE topic = ?", (topic,)).fetchone()
        return int(row[0])

    def read_topic(self, topic: str) -> list[bytes]:
        """Every stored payload of a topic in order (tests, dead-letter inspection)."""
        rows = self._conn().execute("SELECT payload FROM messages WHERE topic = ? ORDER BY id", (topic,)).fetchall()
        return [bytes(r[0]) for r in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Leases:
    """The leases of one batch, renewed from the consume loop's side thread on its own connection."""

    def __init__(self, bus: EmbeddedBus, group: str, tokens: list[object], owner: str) -> None:
        self.every_s = bus.lease_s / 3
        self._bus = bus
        self._group = group
        self._tokens = tokens
        # The consumer that fetched the batch: a lease that expired and went to another consumer
        # meanwhile is not taken back.
        self._owner = owner
        self._conn: sqlite3.Connection | None = None

    def renew(self) -> None:
        """Push the leases this consumer still holds ``lease_s`` into the future."""
        if self._conn is None:
            self._conn = sqlite3.connect(self._bus.path, timeout=30.0, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout=30000")
        marks = ",".join("?" * len(self._tokens))
        try:
            self._conn.execute(
                f"UPDATE deliveries SET lease_until = ? WHERE grp = ? AND owner = ? AND state = 'leased' "
                f"AND message_id IN ({marks})",
                (time.time() + self._bus.lease_s, self._group, self._owner, *self._tokens),
            )
        except sqlite3.OperationalError as exc:
            raise TransientError(f"embedded bus lease renewal failed: {exc}") from exc

    def close(self) -> None:
        """Close the renewing connection."""
        if self._conn is not None:
            self._conn.close()
