"""Bus factory: picks the implementation by URL scheme (``embedded:`` or ``kafka://``)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from core.bus.base import BatchHandler, Bus, ConsumeStats, Delivery, Handler
from core.bus.throttle import BacklogThrottle
from core.errors import ConfigError

__all__ = ["BacklogThrottle", "BatchHandler", "Bus", "ConsumeStats", "Delivery", "Handler", "open_bus"]


def open_bus(url: str, *, client_id: str = "orbweaver") -> Bus:
    """Open a bus.

    Args:
        url: ``embedded:/path/bus.sqlite3[?lease_s=60&max_topic_size=0&max_block_s=30]`` or
            ``kafka://host:port[,host:port][?partitions=6&...]``.
        client_id: Names this process to the broker.

    """
    if url.startswith("embedded:"):
        from core.bus.embedded import EmbeddedBus

        parts = urlsplit(url)
        path = parts.path
        if not path:
            raise ConfigError("embedded bus URL needs a file path: embedded:/path/bus.sqlite3")
        query = parse_qs(parts.query)
        known = {"lease_s": float, "max_topic_size": int, "max_block_s": float}
        unknown = sorted(set(query) - set(known))
        if unknown:
            raise ConfigError(f"unknown embedded bus URL parameter(s) {unknown}; known: {sorted(known)}")
        values: dict[str, float] = {}
        for name, kind in known.items():
            if name in query:
                try:
                    values[name] = kind(query[name][-1])
                except ValueError as exc:
                    raise ConfigError(f"embedded bus URL parameter {name}={query[name][-1]!r} is not a number") from exc
                if values[name] < 0:
                    raise ConfigError(f"embedded bus URL parameter {name} must not be negative")
        return EmbeddedBus(
            path,
            lease_s=values.get("lease_s", 60.0),
            max_topic_size=int(values.get("max_topic_size", 0)),
            max_block_s=values.get("max_block_s", 30.0),
        )
    if url.startswith("kafka://"):
        from core.bus.kafka import KafkaBus

        return KafkaBus.from_url(url, client_id=client_id)
    raise ConfigError(f"unsupported bus URL {url!r}: use embedded:/path or kafka://host:port")
