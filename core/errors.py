"""The one error root of the pipeline: every stage raises these, every consumer loop reads them."""

from __future__ import annotations


class OrbweaverError(Exception):
    """Root of every error orbweaver raises on purpose."""


class TransientError(OrbweaverError):
    """A failure that may pass if the same work is tried again later (network, lock, broker)."""


class PermanentError(OrbweaverError):
    """A failure that retrying cannot fix; the message goes to the dead-letter topic.

    Attributes:
        reason: A short, stable, human-readable reason recorded with the dead letter.

    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PoisonMessageError(PermanentError):
    """A bus message that cannot be decoded: unknown schema, wrong version or corrupt bytes."""


class ConfigError(OrbweaverError):
    """Settings that cannot be used: unknown keys, wrong types, unreachable URLs."""


class MissingExtraError(ConfigError):
    """An optional dependency is not installed; the message names the extra to install."""
