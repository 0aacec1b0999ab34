"""Bus factory: picks the implementation by URL scheme (``embedded:`` or ``kafka://``)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from core.bus.base import Bus, ConsumeStats, Delivery, Handler
from core.errors import ConfigError

__all__ = ["Bus", "ConsumeStats", "Delivery", "Handler", "open_bus"]


def open_bus(url: str, *, client_id: str = "orbweaver") -> Bus:
    """Open a bus.

    Args:
        url: ``embedded:/path/bus.sqlite3[?lease_s=60]`` or
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
        lease = float(query.get("lease_s", ["60"])[0])
        return EmbeddedBus(path, lease_s=lease)
    if url.startswith("kafka://"):
        from core.bus.kafka import KafkaBus

        return KafkaBus.from_url(url, client_id=client_id)
    raise ConfigError(f"unsupported bus URL {url!r}: use embedded:/path or kafka://host:port")
