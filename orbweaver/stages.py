"""The stage registry (top of the pipeline, beside the runtime): every bus consumer, one line each.

Each stage declares itself (:class:`core.stages.StageSpec`) next to its class; the runtime, the
CLI, the demo, the health monitor and the k8s/KEDA tests read this list and nothing else.
A new stage is its module's ``SPEC`` plus one line here (and its name in ``StageName``).
"""

from __future__ import annotations

from core.stages import Host, StageName, StageSpec
from crawler import recheck
from hashing import stage as hashing
from matcher import stage as matcher
from notifier import stage as notifier
from review import stage as review

STAGES: tuple[StageSpec, ...] = (
    recheck.SPEC,
    hashing.SPEC,
    matcher.SPEC,
    review.SPEC,
    notifier.SPEC,
)


def check_stages(stages: tuple[StageSpec, ...]) -> dict[StageName, StageSpec]:
    """Prove every stage is registered once under its own name; return them by name.

    Raises:
        ValueError: If a name is missing or registered twice.
    """
    by_name: dict[StageName, StageSpec] = {}
    for spec in stages:
        if spec.name in by_name:
            raise ValueError(f"stage {spec.name} is registered twice")
        by_name[spec.name] = spec
    missing = set(StageName) - set(by_name)
    if missing:
        raise ValueError(f"stages without a registered spec: {sorted(missing)}")
    return by_name


BY_NAME = check_stages(STAGES)
"""Every stage's spec by name (checked when this module loads)."""

WORKER_STAGES: tuple[StageSpec, ...] = tuple(s for s in STAGES if s.host is Host.WORKER)
"""The stages that run as ``orbweaver worker <name>`` (threads of the embedded demo)."""
