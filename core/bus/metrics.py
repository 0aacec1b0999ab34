"""Prometheus metrics of the bus, shared by every stage's consume loop and every publisher.

Metric names start with ``orbweaver_bus_``; stage-specific metrics live in each stage's module
as ``orbweaver_<group>_…``, where ``<group>`` is the stage's consumer group (``hashing``,
``matcher``, ``review``, ``notifier``). The ``group`` label here carries the same name, so a
dashboard joins the two by it. Everything is registered once, at import, in the default
registry that ``orbweaver worker`` serves on ``/metrics``.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram


class Outcome(StrEnum):
    """What became of one delivery in the consume loop (a metric label value; never rename)."""

    OK = "ok"
    """Handled and committed."""
    TRANSIENT = "transient"
    """Given back for another delivery (handler or transport failed, may pass)."""
    DEAD_LETTERED = "dead_lettered"
    """Moved to the dead-letter topic with its reason, then committed."""


class ErrorKind(StrEnum):
    """Where a consume loop or publisher met a failure (a metric label value; never rename)."""

    HANDLER_TRANSIENT = "handler_transient"
    HANDLER_UNEXPECTED = "handler_unexpected"
    FETCH = "fetch"
    FLUSH = "flush"
    COMMIT = "commit"
    DEAD_LETTER = "dead_letter"
    BATCH = "batch"
    """A batch handler failed; its messages were handled one at a time instead."""
    PUBLISH_BUFFER_FULL = "publish_buffer_full"


MESSAGES = Counter(
    "orbweaver_bus_messages_total",
    "Deliveries finished by a consume loop, by consumer group, topic and outcome",
    ["group", "topic", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "orbweaver_bus_handle_seconds",
    "Time from handing a delivery to its handler until its outcome is known (retries included)",
    ["group", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ERRORS = Counter(
    "orbweaver_bus_errors_total",
    "Failures met by consume loops and publishers, by consumer group (empty for publishers) and kind",
    ["group", "kind"],
)
CONSUMER_LAG = Gauge(
    "orbweaver_bus_consumer_lag",
    "Messages of a topic partition not yet committed by a consumer group (refreshed periodically)",
    ["group", "topic", "partition"],
)
LAST_POLL = Gauge(
    "orbweaver_bus_last_poll_timestamp_seconds",
    "Unix time of the consume loop's last successful fetch, by consumer group",
    ["group"],
)
PUBLISH_WAIT_SECONDS = Counter(
    "orbweaver_bus_publish_wait_seconds_total",
    "Time publishers spent waiting for room: a full send buffer or a downstream backlog over its limit",
    ["topic", "reason"],
)
PUBLISH_BUFFER_BYTES = Gauge(
    "orbweaver_bus_publish_buffer_bytes",
    "Bytes published but not yet acknowledged by the broker (bounded by the bus's buffer_bytes)",
)
