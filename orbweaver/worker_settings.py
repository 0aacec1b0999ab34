"""Settings of ``orbweaver worker``: batch size, health thresholds, and where /metrics and /healthz are served.

Kept apart from :mod:`orbweaver.health` so that loading settings stays cheap for every command.
"""

from __future__ import annotations

from pydantic import Field

from core.settings import Section


class WorkerSettings(Section):
    """How ``orbweaver worker`` runs a stage: batch size, health thresholds, where metrics are served."""

    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the /metrics and /healthz server listens on (0.0.0.0 in a container).",
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of /metrics and /healthz; none serves nothing."
    )
    batch: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Deliveries fetched, handled and committed together; bounds what a worker holds in memory.",
    )
    poll_timeout_s: float = Field(default=0.5, gt=0, description="How long one fetch waits for new messages.")
    healthy_poll_age_s: float = Field(
        default=60.0,
        gt=0,
        description="/healthz fails when the consume loop has not fetched for this long (stuck handler or bus).",
    )
    check_every_s: float = Field(
        default=10.0, gt=0, description="How often consumer lag is refreshed and the bus and store are checked."
    )
