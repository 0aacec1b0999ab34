"""The runtime's stage table agrees with the stages themselves."""

from __future__ import annotations

from hashing.stage import HashingStage
from matcher.stage import MatchingStage
from notifier.stage import NotifierStage
from orbweaver.runtime import STAGE_GROUPS, STAGE_TOPICS, StageName
from review.stage import ReviewStage


def test_every_stage_has_a_topic_and_the_group_its_class_declares() -> None:
    classes = {StageName.HASHING: HashingStage, StageName.MATCHING: MatchingStage,
               StageName.REVIEW: ReviewStage, StageName.NOTIFIER: NotifierStage}
    assert set(STAGE_TOPICS) == set(STAGE_GROUPS) == set(StageName) == set(classes)
    for name, cls in classes.items():
        assert STAGE_GROUPS[name] == cls.group
    assert len(set(STAGE_GROUPS.values())) == len(STAGE_GROUPS)
