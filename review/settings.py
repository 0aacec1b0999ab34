"""Settings of the review stage (the analyst web app adds its own later)."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section


class ReviewSettings(Section):
    """When a match is confirmed without an analyst, and how the queue is ordered."""

    auto_confirm: bool = Field(
        default=True,
        description=(
            "Confirm a classified entry's confident match (the matcher's decision 'match', thresholds in "
            "[matcher] thresholds) without an analyst; false sends every match to analysts."
        ),
    )
