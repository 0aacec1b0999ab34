"""Core helper: country and AS of an IP address from geoip2fast's bundled data (offline, no download).

The notifier finds a URL's host and hotline with it; review routes a new item to the organisation
covering its hosting country with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from core.optional import require

GEOIP_DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
"""The bundled file with IPv4 and IPv6 networks, their country and AS name."""


@dataclass(frozen=True)
class NetworkFacts:
    """What the offline IP data says about one address."""

    country: str | None
    asn_name: str | None
    asn_cidr: str | None
    private: bool = False


class GeoLookup:
    """AS name and country of an IP from geoip2fast's bundled data file (loaded once, offline)."""

    _lock = threading.Lock()
    _shared: Any = None

    def __init__(self, data_file: str = GEOIP_DATA_FILE) -> None:
        self.data_file = data_file

    def _db(self) -> Any:
        # geoip2fast keeps its tables in module globals, so one instance serves the process.
        with GeoLookup._lock:
            if GeoLookup._shared is None:
                module = require("geoip2fast", "notifier")
                GeoLookup._shared = module.GeoIP2Fast(verbose=False, geoip2fast_data_file=self.data_file)
            return GeoLookup._shared

    def lookup(self, ip: str) -> NetworkFacts:
        """Facts about ``ip``; empty ones for reserved or unknown networks."""
        result = self._db().lookup(ip)
        country = str(result.country_code or "")
        valid_country = len(country) == 2 and country.isalpha()
        return NetworkFacts(
            country=country.upper() if valid_country else None,
            asn_name=str(result.asn_name) or None,
            asn_cidr=str(result.asn_cidr) or None,
            private=bool(result.is_private),
        )
