"""Notifier stage: signing of webhook notices, and the check a receiver runs (HMAC-SHA256).

The sender computes ``HMAC-SHA256(secret, "<timestamp>." + body)`` over the exact body bytes
and sends two headers:

    X-Orbweaver-Timestamp: 1772366400          (Unix seconds, UTC)
    X-Orbweaver-Signature: v1=<64 hex digits>

A receiver recomputes the HMAC with its copy of the secret, compares in constant time, and
rejects timestamps further than a tolerance (default five minutes) from its clock, so a
captured request cannot be replayed later. ``Idempotency-Key`` (the delivery's key) lets it
drop a redelivery of a notice it already has.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

TIMESTAMP_HEADER = "X-Orbweaver-Timestamp"
SIGNATURE_HEADER = "X-Orbweaver-Signature"
VERSION = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The two signature headers for a body sent at ``now``."""
    timestamp = int(now.timestamp())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"{VERSION}={sign(secret, timestamp, body)}"}


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: datetime, tolerance_s: float = 300.0) -> bool:
    """Whether a received webhook is signed with ``secret`` and fresh (what a receiver runs).

    Args:
        secret: The shared secret.
        headers: The request headers (any capitalisation).
        body: The exact body bytes received.
        now: The receiver's clock.
        tolerance_s: Largest accepted difference between the timestamp and ``now``.

    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    offered = [part.split("=", 1)[1] for part in lowered.get(SIGNATURE_HEADER.lower(), "").split(",")
               if part.strip().startswith(f"{VERSION}=")]
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in offered)
