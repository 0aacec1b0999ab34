"""Settings of the review stage: automatic confirmation, and the analysts' workflow and scheme."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator

from core.messages import Classification
from core.settings import Section

RESERVED_SHORTCUTS = frozenset("bnqrsu")
"""Keys the review page uses for its own actions (break, next, queue, reveal, submit, undo)."""


class ClassOption(Section):
    """One choice an analyst can make, and the pipeline classification it stands for."""

    key: str = Field(description="Storage key of the choice (recorded with each decision); never rename one.")
    label: str = Field(description="What analysts read.")
    classification: Classification = Field(description="The pipeline classification this choice settles as.")
    jurisdiction: bool = Field(default=False, description="Whether the analyst must name a jurisdiction.")
    shortcut: str = Field(description="One key that picks this choice on the review page.")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", value):
            raise ValueError("a class key is 1-40 lowercase letters, digits or _ and starts with a letter")
        return value

    @field_validator("shortcut")
    @classmethod
    def _shortcut(cls, value: str) -> str:
        if len(value) != 1 or not value.isalnum():
            raise ValueError("a shortcut is one letter or digit")
        if value.lower() in RESERVED_SHORTCUTS:
            raise ValueError(f"shortcuts {', '.join(sorted(RESERVED_SHORTCUTS))} belong to the review page itself")
        return value.lower()


def _default_scheme() -> list[ClassOption]:
    c = Classification
    return [
        ClassOption(key="baseline_csam", label="Baseline CSAM (illegal everywhere)",
                    classification=c.BASELINE_CSAM, shortcut="1"),
        ClassOption(key="nationally_illegal", label="Nationally illegal", classification=c.NATIONALLY_ILLEGAL,
                    jurisdiction=True, shortcut="2"),
        ClassOption(key="harmful_abusive", label="Harmful-abusive", classification=c.HARMFUL_ABUSIVE, shortcut="3"),
        ClassOption(key="not_csam", label="Not CSAM (false positive)", classification=c.NOT_CSAM, shortcut="4"),
        ClassOption(key="unable_to_assess", label="Unable to assess", classification=c.UNABLE_TO_ASSESS,
                    shortcut="5"),
    ]


class ReviewSettings(Section):
    """When a match is confirmed without an analyst, and how the queue is ordered."""

    auto_confirm: bool = Field(
        default=True,
        description=(
            "Confirm a classified entry's confident match (the matcher's decision 'match', thresholds in "
            "[matcher] thresholds) without an analyst; false sends every match to analysts."
        ),
    )
    # --- analyst workflow (issue 5) ---
    required_assessments: int = Field(
        default=2,
        ge=1,
        le=9,
        description=(
            "Independent analyst assessments an item needs; when they all agree the item is settled, "
            "otherwise (or when one is 'unable to assess') a senior analyst decides."
        ),
    )
    scheme: list[ClassOption] = Field(
        default_factory=_default_scheme, description="The classification scheme analysts choose from."
    )
    same_media_distance: int = Field(
        default=10,
        ge=0,
        le=64,
        description=(
            "PDQ distance within which two media count as the same image: media near a classified item "
            "inherits its classification, and media near an allow-listed image is never queued."
        ),
    )
    local_hash_list: str | None = Field(
        default=None,
        description="Hash list that media confirmed by analysts is added to (none when empty).",
    )
    allow_list: bool = Field(
        default=True, description="Put media analysts judge not CSAM on the allow list so it is never queued again."
    )
    sweep_every_s: float = Field(
        default=60.0, gt=0,
        description="How often a running review stage sweeps: settles items whose media is already decided and "
        "announces decisions whose announcement the bus lost (the outbox marker is still unset).",
    )

    claim_minutes: float = Field(
        default=10.0, gt=0, le=24 * 60,
        description="How long an analyst viewing an item holds it: other analysts' queues skip it until then "
        "(each view renews it; a decision releases it).",
    )
    triage_retention_days: float = Field(
        default=30.0, gt=0, le=3650,
        description="How long a reported page's unmatched media waits in triage for analysts; past it the media "
        "is deleted and its item closed as expired (assessed media leaves triage at once).",
    )
    note_max_chars: int = Field(
        default=2000, ge=0, le=20000, description="Longest note an analyst may add to a decision (0: no notes)."
    )

    @model_validator(mode="after")
    def _scheme_is_consistent(self) -> Self:
        keys = [o.key for o in self.scheme]
        shortcuts = [o.shortcut for o in self.scheme]
        if not keys:
            raise ValueError("the classification scheme needs at least one choice")
        if len(set(keys)) != len(keys):
            raise ValueError("classification scheme keys must be unique")
        if len(set(shortcuts)) != len(shortcuts):
            raise ValueError("classification scheme shortcuts must be unique")
        return self

    def option(self, key: str) -> ClassOption | None:
        """The scheme's choice stored under ``key``, if any."""
        return next((o for o in self.scheme if o.key == key), None)
