"""Settings of the review stage (the analyst web app adds its own later)."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section


class ReviewSettings(Section):
    """When a match is confirmed without an analyst, and how the queue is ordered."""

    auto_confirm_distance: dict[str, int] = Field(
        default_factory=lambda: {"md5": 0, "sha1": 0, "sha256": 0, "pdq": 10, "phash": 2},
        description=(
            "Per algorithm, the largest distance to a classified known entry at which a match is "
            "confirmed automatically; anything farther waits for analysts. Algorithms not listed never "
            "auto-confirm."
        ),
    )
    auto_confirm: bool = Field(default=True, description="Turn automatic confirmation off entirely.")
