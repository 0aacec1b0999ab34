"""Kafka bus: the shared consume loop of :mod:`core.bus.base` over a Kafka-protocol broker.

Each message of a topic is handed to one member of each consumer group, at least once. A
group's progress is the committed offset of each partition, and Kafka can only record "all
before offset N are done" per partition. So a delivery given back after a transient failure
(:meth:`KafkaBus._release`) rewinds its partition, and later deliveries of that partition
already in hand are handled but *not* committed: committing them would move the partition's
offset past the released one and lose it on a restart. They are delivered again with it,
which the idempotent handlers of :mod:`core.bus.base` allow.

Producers are thread-safe and shared; consumers are not, so each thread gets its own
consumer per (group, topics). Group progress (:meth:`KafkaBus.lag`) is read through an admin
client and a group-less probe consumer, so any thread or process can ask.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from core.bus.base import Bus, Delivery, encode_for
from core.bus.metrics import ERRORS, PUBLISH_BUFFER_BYTES, PUBLISH_WAIT_SECONDS, ErrorKind
from core.errors import ConfigError, PermanentError, TransientError
from core.messages import Message, Topic, dead_letter_topic
from core.optional import require

log = structlog.get_logger(__name__)

_TOPIC_ALREADY_EXISTS = 36
"""Kafka protocol error code of CreateTopics for a topic that exists: fine, someone else won."""

_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]*")
"""Characters Kafka allows in a topic name (and so in a topic prefix)."""

_PRUNE_PENDING_AT = 1024
"""Pending publish futures a thread may hold between flushes before finished ones are pruned."""


@dataclass(frozen=True)
class KafkaBusOptions:
    """Tunables of a :class:`KafkaBus`; each is also a query parameter of a ``kafka://`` URL."""

    partitions: int = 6
    """Partitions of each topic this bus creates (existing topics keep theirs)."""
    replication: int = 1
    """Replication factor of each topic this bus creates."""
    group_max_poll_interval_ms: int = 300_000
    """Longest a consumer may spend handling one fetched batch before the group drops it.
    Brokers also wait up to this long for members to rejoin during a rebalance."""
    session_timeout_ms: int = 45_000
    """How long the group waits for a silent member's heartbeat before dropping it."""
    heartbeat_interval_ms: int = 3_000
    """How often a consumer tells the group it is alive (well under the session timeout)."""
    max_message_bytes: int = 8 * 1024 * 1024
    """Largest encoded message; above the default inline media limit of 4 MiB plus envelope."""
    request_timeout_ms: int = 30_000
    """How long one broker request may take before it counts as failed."""
    max_block_ms: int = 30_000
    """How long ``publish`` may wait for metadata or buffer space before failing transiently."""
    buffer_bytes: int = 32 * 1024 * 1024
    """Most bytes published but not yet acknowledged, per bus object (one per worker). A publish that would go past
    it waits for acknowledgements (up to ``max_block_ms``), so a slow or frozen broker makes
    producers wait instead of filling memory (kafka-python 3 has no bound of its own)."""
    fetch_max_bytes: int = 16 * 1024 * 1024
    """Most bytes one fetch may bring back, so a consumer's read-ahead stays bounded (a single
    message larger than this is still fetched)."""
    linger_ms: int = 5
    """How long the producer waits to fill a batch before sending it."""
    batch_bytes: int = 256 * 1024
    """Size of one partition's record batch in the producer. Media messages are several KiB, so
    the client's 16 KiB default sends (and wakes its I/O thread) every few records."""
    media_retention_ms: int = 24 * 3600 * 1000
    """Retention of the topics that carry media bytes (and their dead letters): long enough for
    any backlog to drain, short enough that unmatched media does not linger on the brokers."""
    topic_prefix: str = ""
    """Put before every topic and consumer-group name on the broker, so several deployments (or
    test runs) can share one cluster without reading each other's messages or joining each
    other's groups (a shared group rebalances, and so pauses, whenever any deployment's member
    comes or goes)."""

    def __post_init__(self) -> None:
        if not _TOPIC_CHARS.fullmatch(self.topic_prefix):
            raise ConfigError(f"kafka topic_prefix {self.topic_prefix!r} may only hold letters, digits, '.', '_', '-'")
        if self.buffer_bytes < self.max_message_bytes:
            raise ConfigError(
                f"kafka buffer_bytes ({self.buffer_bytes}) must hold at least one message of "
                f"max_message_bytes ({self.max_message_bytes})"
            )

    @classmethod
    def from_query(cls, query: str) -> KafkaBusOptions:
        """Parse URL query parameters; unknown names and malformed values are configuration errors."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, raw in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
            if name not in known:
                raise ConfigError(f"unknown kafka bus URL parameter {name!r}; known: {', '.join(sorted(known))}")
            if name == "topic_prefix":
                values[name] = raw[-1]
                continue
            try:
                value = int(raw[-1])
            except ValueError as exc:
                raise ConfigError(f"kafka bus URL parameter {name}={raw[-1]!r} is not an integer") from exc
            if value <= 0 and not (name == "linger_ms" and value == 0):
                raise ConfigError(f"kafka bus URL parameter {name} must be positive, got {value}")
            values[name] = value
        return cls(**values)


MEDIA_TOPICS = (Topic.MEDIA_FETCHED, Topic.MEDIA_HASHED)
"""Topics whose messages carry media bytes."""


@dataclass
class _Member:
    """One Kafka consumer of one group on one thread, and the partitions it has rewound."""

    consumer: Any
    group: str
    topics: tuple[str, ...]
    released: dict[Any, int] = field(default_factory=dict)
    """Partition → lowest released offset; commits at or past it wait for the re-fetch."""
    redeliveries: dict[tuple[Any, int], int] = field(default_factory=dict)
    """(partition, offset) → how often it was released, for ``Delivery.attempt``."""


@dataclass(frozen=True)
class _Token:
    """What a Kafka delivery needs to be committed or released: its consumer and position."""

    member: _Member
    partition: Any
    offset: int


def _token(delivery: Delivery) -> _Token:
    token = delivery.token
    if not isinstance(token, _Token):
        raise TypeError(f"not a Kafka delivery token: {type(token).__name__}")
    return token


class KafkaBus(Bus):
    """A bus on a Kafka-protocol broker (Apache Kafka, Redpanda, tansu).

    Args:
        bootstrap_servers: ``host:port`` of one or more brokers.
        client_id: Names this process to the broker.
        options: Partitions, timeouts and sizes; see :class:`KafkaBusOptions`.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        *,
        client_id: str = "orbweaver",
        options: KafkaBusOptions | None = None,
    ) -> None:
        if not bootstrap_servers:
            raise ConfigError("kafka bus needs at least one bootstrap server")
        self._kafka = require("kafka", "kafka")
        self._errors = require("kafka.errors", "kafka")
        self._structs = require("kafka.structs", "kafka")
        self.bootstrap_servers = list(bootstrap_servers)
        self.client_id = client_id
        self.options = options or KafkaBusOptions()
        self._lock = threading.Lock()
        self._admin_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._local = threading.local()
        self._producer: Any = None
        self._admin: Any = None
        self._probe: Any = None
        self._members: list[_Member] = []
        self._ready_topics: set[str] = set()
        self._closed = False
        self._buffer = threading.Condition()
        self._buffered = 0
        """Bytes sent to the producer and not yet acknowledged or failed (see ``buffer_bytes``)."""

    @classmethod
    def from_url(cls, url: str, *, client_id: str = "orbweaver") -> KafkaBus:
        """Open a bus from ``kafka://host:port[,host:port][?partitions=6&...]``.

        Query parameters are the fields of :class:`KafkaBusOptions`.

        Raises:
            ConfigError: If the URL has no host or an unknown or malformed parameter.
        """
        parts = urlsplit(url)
        if parts.scheme != "kafka":
            raise ConfigError(f"not a kafka bus URL: {url!r}")
        servers = []
        for host in parts.netloc.split(","):
            host = host.strip()
            if not host:
                continue
            servers.append(host if ":" in host else f"{host}:9092")
        if not servers:
            raise ConfigError(f"kafka bus URL names no broker: {url!r}")
        return cls(servers, client_id=client_id, options=KafkaBusOptions.from_query(parts.query))

    # Clients ----------------------------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "request_timeout_ms": self.options.request_timeout_ms,
        }

    def _connect(self, what: str, factory: Any, **config: Any) -> Any:
        self._check_open()
        try:
            return factory(**self._common(), **config)
        except self._errors.KafkaError as exc:
            raise TransientError(f"kafka {what} cannot reach {self.bootstrap_servers}: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise TransientError("kafka bus is closed")

    def _producer_client(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = self._connect(
                    "producer",
                    self._kafka.KafkaProducer,
                    acks="all",
                    # Idempotence lets the producer retry without writing duplicates or
                    # reordering a partition; delivery_timeout_ms bounds the retries.
                    enable_idempotence=True,
                    max_request_size=self.options.max_message_bytes,
                    max_block_ms=self.options.max_block_ms,
                    linger_ms=self.options.linger_ms,
                    batch_size=self.options.batch_bytes,
                )
            return self._producer

    def _admin_client(self) -> Any:
        # Callers hold _admin_lock: the admin client is not documented as thread-safe.
        if self._admin is None:
            admin = require("kafka.admin", "kafka")
            self._admin = self._connect("admin client", admin.KafkaAdminClient)
        return self._admin

    def _probe_consumer(self) -> Any:
        # Callers hold _probe_lock.
        if self._probe is None:
            self._probe = self._connect(
                "probe consumer",
                self._kafka.KafkaConsumer,
                group_id=None,
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                fetch_max_wait_ms=10,
                max_partition_fetch_bytes=self.options.max_message_bytes,
            )
        return self._probe

    def _wire(self, topic: str) -> str:
        """The broker's name of a bus topic."""
        return self.options.topic_prefix + topic

    def _wire_group(self, group: str) -> str:
        """The broker's name of a consumer group (logs and metrics keep the bus's own name)."""
        return self.options.topic_prefix + group

    def _topic_configs(self, wire_topic: str) -> dict[str, str]:
        configs = {"max.message.bytes": str(self.options.max_message_bytes)}
        name = wire_topic.removeprefix(self.options.topic_prefix)
        if any(name in (str(t), dead_letter_topic(t)) for t in MEDIA_TOPICS):
            # These carry media bytes: they must not outlive their processing by much.
            configs["retention.ms"] = str(self.options.media_retention_ms)
        return configs

    def _ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics with this bus's partitions; existing topics are left alone.

        Args:
            topics: Names as the broker knows them (prefix included).
        """
        missing = [t for t in topics if t not in self._ready_topics]
        if not missing:
            return
        with self._admin_lock:
            admin = self._admin_client()
            spec = {
                topic: {
                    "num_partitions": self.options.partitions,
                    "replication_factor": self.options.replication,
                    "configs": self._topic_configs(topic),
                }
                for topic in missing
            }
            try:
                response = admin.create_topics(spec, raise_errors=False, wait_for_metadata=False)
            except self._errors.KafkaError as exc:
                raise TransientError(f"kafka cannot create topics {missing}: {exc}") from exc
            for result in _results(response):
                code = int(result.get("error_code", 0))
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    message = result.get("error_message") or f"error code {code}"
                    raise TransientError(f"kafka cannot create topic {result.get('name')!r}: {message}")
                if code == 0:
                    log.info(
                        "bus.topic_created",
                        topic=result.get("name"),
                        partitions=self.options.partitions,
                    )
        with self._lock:
            self._ready_topics.update(missing)

    # Publishing -------------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Queue ``message`` on its topic, keyed by its partition key; :meth:`flush` waits for acks.

        Raises:
            TransientError: If the broker cannot be reached or the send buffer stays full.
            PermanentError: If the encoded message is larger than ``max_message_bytes``.
        """
        topic, key, payload = encode_for(message)
        self._publish_raw(topic, key, payload)

    def _publish_raw(self, topic: str, key: str, payload: bytes) -> None:
        if len(payload) > self.options.max_message_bytes:
            raise PermanentError(
                f"encoded message of {len(payload)} bytes exceeds the bus limit of "
                f"{self.options.max_message_bytes} bytes"
            )
        wire = self._wire(topic)
        self._ensure_topics([wire])
        producer = self._producer_client()
        size = len(payload) + len(key)
        self._reserve(topic, size)
        try:
            future = producer.send(wire, key=key.encode(), value=payload)
        except BaseException as exc:
            self._unreserve(size)
            if isinstance(exc, self._errors.KafkaError):
                raise TransientError(f"kafka publish to {topic!r} failed: {exc}") from exc
            raise
        future.add_both(self._acknowledged, size)
        pending = self._pending()
        pending.append((topic, future))
        if len(pending) >= _PRUNE_PENDING_AT:
            # A thread that publishes a lot between flushes must not hoard finished futures;
            # failed ones stay so that the next flush still reports them.
            pending[:] = [(t, f) for t, f in pending if not (f.is_done and f.succeeded())]

    def _reserve(self, topic: str, size: int) -> None:
        """Wait until ``size`` more bytes fit in the send buffer, then claim them."""
        limit = self.options.buffer_bytes
        with self._buffer:
            if self._buffered + size > limit:
                started = time.monotonic()
                deadline = started + self.options.max_block_ms / 1000
                while self._buffered + size > limit:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        PUBLISH_WAIT_SECONDS.labels(topic, "buffer_full").inc(time.monotonic() - started)
                        ERRORS.labels("", ErrorKind.PUBLISH_BUFFER_FULL).inc()
                        raise TransientError(
                            f"kafka send buffer full: {self._buffered} of {limit} bytes unacknowledged "
                            f"after {self.options.max_block_ms} ms; is the broker slow or down?"
                        )
                    self._buffer.wait(left)
                PUBLISH_WAIT_SECONDS.labels(topic, "buffer_full").inc(time.monotonic() - started)
            self._buffered += size
            PUBLISH_BUFFER_BYTES.set(self._buffered)

    def _unreserve(self, size: int) -> None:
        with self._buffer:
            self._buffered -= size
            PUBLISH_BUFFER_BYTES.set(self._buffered)
            self._buffer.notify_all()

    def _acknowledged(self, size: int, _outcome: object) -> None:
        # Runs on the producer's I/O thread when a record is acknowledged or has failed.
        self._unreserve(size)

    @property
    def buffered_bytes(self) -> int:
        """Bytes published by this process and not yet acknowledged or failed."""
        with self._buffer:
            return self._buffered

    def _pending(self) -> list[tuple[str, Any]]:
        pending: list[tuple[str, Any]] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = []
            self._local.pending = pending
        return pending

    def _flush(self) -> None:
        """Wait until everything this thread published is acknowledged by all in-sync replicas.

        Raises:
            TransientError: If a publish of this thread failed since the last flush; the caller
                should publish again (or leave its input uncommitted, so it is redone).
        """
        pending = self._pending()
        if self._producer is None:
            pending.clear()
            return
        try:
            self._producer.flush(timeout=self.options.request_timeout_ms / 1000)
        except self._errors.KafkaError as exc:
            raise TransientError(f"kafka flush failed: {exc}") from exc
        failed = [(t, f.exception) for t, f in pending if f.is_done and f.failed()]
        unfinished = sum(1 for _, f in pending if not f.is_done)
        pending.clear()
        if failed or unfinished:
            topic, first = failed[0] if failed else ("?", "not acknowledged in time")
            raise TransientError(
                f"kafka did not acknowledge {len(failed) + unfinished} publish(es); first on {topic!r}: {first}"
            )

    # Consuming --------------------------------------------------------------------------

    def _member(self, group: str, topics: Sequence[str]) -> _Member:
        key = (group, tuple(sorted(self._wire(t) for t in topics)))
        members: dict[tuple[str, tuple[str, ...]], _Member] | None = getattr(self._local, "members", None)
        if members is None:
            members = {}
            self._local.members = members
        member = members.get(key)
        if member is not None:
            return member
        # Dead-letter topics too, before the first message: a topic created mid-batch is unknown to the
        # producer's metadata, and its first dead letter then waited out the whole flush timeout (30 s).
        self._ensure_topics([*key[1], *(self._wire(dead_letter_topic(t)) for t in topics)])
        consumer = self._connect(
            f"consumer of group {group!r}",
            self._kafka.KafkaConsumer,
            group_id=self._wire_group(group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            max_poll_interval_ms=self.options.group_max_poll_interval_ms,
            session_timeout_ms=self.options.session_timeout_ms,
            heartbeat_interval_ms=self.options.heartbeat_interval_ms,
            max_partition_fetch_bytes=self.options.max_message_bytes,
            fetch_max_bytes=self.options.fetch_max_bytes,
        )
        member = _Member(consumer=consumer, group=group, topics=key[1])
        consumer.subscribe(topics=list(key[1]), listener=_listener(self._kafka, member))
        members[key] = member
        with self._lock:
            self._members.append(member)
        return member

    def _fetch(self, topics: Sequence[str], group: str, max_messages: int, timeout_s: float) -> list[Delivery]:
        member = self._member(group, topics)
        try:
            polled = member.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max(1, max_messages))
        except self._errors.KafkaError as exc:
            if not getattr(exc, "retriable", False):
                raise TransientError(f"kafka fetch for group {group!r} failed: {exc}") from exc
            # Broker hiccups pass; the loop polls again after a pause instead of dying.
            log.warning("bus.fetch_failed", group=group, topics=list(topics), error=str(exc))
            time.sleep(timeout_s)
            return []
        out: list[Delivery] = []
        for partition, records in polled.items():
            if records and partition in member.released:
                # The released offset is being re-fetched (seek drops what was buffered
                # past it), so commits on this partition mean what they say again.
                del member.released[partition]
            for record in records:
                attempt = 1 + member.redeliveries.get((partition, record.offset), 0)
                out.append(
                    Delivery(
                        topic=record.topic.removeprefix(self.options.topic_prefix),
                        payload=record.value if record.value is not None else b"",
                        token=_Token(member, partition, record.offset),
                        attempt=attempt,
                    )
                )
        return out

    def _commit(self, group: str, delivery: Delivery) -> None:
        token = _token(delivery)
        member, partition = token.member, token.partition
        member.redeliveries.pop((partition, token.offset), None)
        held = member.released.get(partition)
        if held is not None and token.offset >= held:
            # Committing would mark the released message done; it comes back with this one.
            log.debug(
                "bus.commit_deferred",
                topic=delivery.topic,
                group=group,
                offset=token.offset,
                released=held,
            )
            return
        if partition not in member.consumer.assignment():
            log.warning(
                "bus.commit_skipped_revoked",
                topic=delivery.topic,
                group=group,
                partition=partition.partition,
                offset=token.offset,
            )
            return
        offsets = {partition: self._structs.OffsetAndMetadata(token.offset + 1, "", -1)}
        try:
            member.consumer.commit(offsets, timeout_ms=self.options.request_timeout_ms)
        except self._errors.KafkaError as exc:
            # A rebalance or coordinator move lost the commit; the new owner of the partition
            # gets the message again from the last committed offset. Crashing would gain nothing.
            log.warning(
                "bus.commit_failed",
                topic=delivery.topic,
                group=group,
                partition=partition.partition,
                offset=token.offset,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _commit_many(self, group: str, deliveries: Sequence[Delivery]) -> None:
        """Commit a finished batch with one request per consumer: each partition's highest offset.

        A batch is handled in offset order and every delivery in it is finished before this
        runs, so the highest finished offset of a partition covers the ones before it; the
        released-offset rule of :meth:`_commit` still holds back what lies past a rewind.
        """
        highest: dict[int, tuple[_Member, dict[Any, int]]] = {}
        for delivery in deliveries:
            token = _token(delivery)
            member, partition = token.member, token.partition
            member.redeliveries.pop((partition, token.offset), None)
            held = member.released.get(partition)
            if held is not None and token.offset >= held:
                log.debug("bus.commit_deferred", topic=delivery.topic, group=group, offset=token.offset, released=held)
                continue
            offsets = highest.setdefault(id(member), (member, {}))[1]
            offsets[partition] = max(token.offset, offsets.get(partition, -1))
        for member, offsets in highest.values():
            assigned = member.consumer.assignment()
            gone = [p for p in offsets if p not in assigned]
            if gone:
                log.warning("bus.commit_skipped_revoked", group=group, partitions=[p.partition for p in gone])
            commit = {
                p: self._structs.OffsetAndMetadata(offset + 1, "", -1) for p, offset in offsets.items() if p in assigned
            }
            if not commit:
                continue
            try:
                member.consumer.commit(commit, timeout_ms=self.options.request_timeout_ms)
            except self._errors.KafkaError as exc:
                # As in _commit: the partitions' next owner redoes these from the last commit.
                log.warning(
                    "bus.commit_failed", group=group, partitions=len(commit), error=f"{type(exc).__name__}: {exc}"
                )

    def _release(self, group: str, delivery: Delivery, *, count_attempt: bool = True) -> None:
        token = _token(delivery)
        member, partition = token.member, token.partition
        key = (partition, token.offset)
        if count_attempt:
            member.redeliveries[key] = member.redeliveries.get(key, 0) + 1
        if partition not in member.consumer.assignment():
            log.info("bus.release_revoked", topic=delivery.topic, group=group, offset=token.offset)
            return
        rewind = min(token.offset, member.released.get(partition, token.offset))
        member.released[partition] = rewind
        member.consumer.seek(partition, rewind)

    # Progress ---------------------------------------------------------------------------

    def lag(self, topic: str, group: str) -> int:
        """Messages of ``topic`` that ``group`` has not committed (0 for an unknown topic).

        Raises:
            TransientError: If the broker cannot be asked.
        """
        return sum(self.lag_by_partition(topic, group).values())

    def lag_by_partition(self, topic: str, group: str) -> dict[int, int]:
        """Uncommitted messages of ``topic`` for ``group``, per partition (empty for an unknown topic).

        Raises:
            TransientError: If the broker cannot be asked.
        """
        tp_cls = self._structs.TopicPartition
        admin_mod = require("kafka.admin", "kafka")
        try:
            with self._admin_lock:
                admin = self._admin_client()
                wire = self._wire(topic)
                described = admin.describe_topics([wire])
                partitions = [
                    tp_cls(wire, int(p["partition_index"]))
                    for t in described
                    if t.get("name") == wire and int(t.get("error_code", 0)) == 0
                    for p in t.get("partitions", [])
                ]
                if not partitions:
                    return {}
                latest = admin.list_partition_offsets({tp: admin_mod.OffsetSpec.LATEST for tp in partitions})
                earliest = admin.list_partition_offsets({tp: admin_mod.OffsetSpec.EARLIEST for tp in partitions})
                wire_group = self._wire_group(group)
                committed = admin.list_group_offsets({wire_group: partitions}).get(wire_group, {})
        except self._errors.KafkaError as exc:
            raise TransientError(f"kafka lag of {group!r} on {topic!r} unavailable: {exc}") from exc
        ends = self._high_watermarks({tp: int(latest[tp].offset) for tp in partitions})
        lags: dict[int, int] = {}
        for tp in partitions:
            done = committed.get(tp)
            start = int(done.offset) if done is not None and int(done.offset) >= 0 else int(earliest[tp].offset)
            lags[int(tp.partition)] = max(0, ends[tp] - start)
        return lags

    def _high_watermarks(self, listed: dict[Any, int]) -> dict[Any, int]:
        """End offsets as Fetch reports them, never below what ListOffsets said.

        Some Kafka-protocol brokers (tansu 0.6) answer ListOffsets with the base offset of
        the last record batch plus one, undercounting a partition whose last batch holds
        several records. A fetch from that offset carries the true high watermark; on Apache
        Kafka it returns no records, so the probe costs one empty round trip.
        """
        with self._probe_lock:
            try:
                probe = self._probe_consumer()
                # Re-assigning from empty forgets high watermarks from earlier probes.
                probe.assign([])
                probe.assign(list(listed))
                for tp, offset in listed.items():
                    probe.seek(tp, offset)
                deadline = time.monotonic() + self.options.request_timeout_ms / 1000
                while time.monotonic() < deadline and any(probe.highwater(tp) is None for tp in listed):
                    probe.poll(timeout_ms=50)
                marks = {tp: probe.highwater(tp) for tp in listed}
                probe.assign([])
            except self._errors.KafkaError as exc:
                raise TransientError(f"kafka high watermarks unavailable: {exc}") from exc
        return {tp: max(offset, marks[tp] if marks[tp] is not None else offset) for tp, offset in listed.items()}

    # Shutdown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Flush this thread's publishes, then close every client this bus opened.

        Consumers leave their groups, so the remaining members take over their partitions
        without waiting for a session timeout.
        """
        if self._closed:
            return
        try:
            if self._producer is not None:
                self._flush()
        finally:
            with self._lock:
                self._closed = True
                members, self._members = self._members, []
                producer, self._producer = self._producer, None
            limit_ms = self.options.request_timeout_ms
            # Bounded closes: a dead broker must not hang a shutdown.
            for member in members:
                _close_quietly("consumer", member.consumer.close, autocommit=False, timeout_ms=limit_ms)
            with self._probe_lock:
                probe, self._probe = self._probe, None
            with self._admin_lock:
                admin, self._admin = self._admin, None
            if probe is not None:
                _close_quietly("probe consumer", probe.close, autocommit=False, timeout_ms=limit_ms)
            if admin is not None:
                _close_quietly("admin client", admin.close)
            if producer is not None:
                _close_quietly("producer", producer.close, timeout=limit_ms / 1000)


def _close_quietly(name: str, close: Any, **kwargs: Any) -> None:
    try:
        close(**kwargs)
    except Exception as exc:  # closing must go on to the next client
        log.warning("bus.close_failed", client=name, error=f"{type(exc).__name__}: {exc}")


def _results(response: Any) -> list[dict[str, Any]]:
    """Per-topic results of a CreateTopics answer, however the client shaped it."""
    if isinstance(response, dict):
        topics = response.get("topics", [])
        return [t if isinstance(t, dict) else dict(vars(t)) for t in topics]
    return []


def _listener(kafka: Any, member: _Member) -> Any:
    """Build a rebalance listener that forgets rewinds of partitions that change owner.

    After a rebalance a partition restarts from its committed offset, which never passed a
    released delivery, so the rewind bookkeeping of the old assignment no longer applies.
    """

    class _Forget(kafka.ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            gone = set(revoked)
            for partition in gone:
                member.released.pop(partition, None)
            for key in [k for k in member.redeliveries if k[0] in gone]:
                del member.redeliveries[key]
            if gone:
                log.info("bus.partitions_revoked", group=member.group, partitions=len(gone))

        def on_partitions_assigned(self, assigned: Any) -> None:
            for partition in assigned:
                member.released.pop(partition, None)
            log.info("bus.partitions_assigned", group=member.group, partitions=len(assigned))

    return _Forget()
