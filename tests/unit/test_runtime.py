"""The runtime's stage table agrees with the stages themselves."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.settings import load
from core.store.tables.notifier import Provider
from hashing.stage import HashingStage
from matcher.stage import MatchingStage
from notifier.stage import NotifierStage
from orbweaver.runtime import STAGE_GROUPS, STAGE_TOPICS, Runtime, StageName, build_stage
from orbweaver.settings import Settings
from review.stage import ReviewStage


def test_every_stage_has_a_topic_and_the_group_its_class_declares() -> None:
    classes = {StageName.HASHING: HashingStage, StageName.MATCHING: MatchingStage,
               StageName.REVIEW: ReviewStage, StageName.NOTIFIER: NotifierStage}
    assert set(STAGE_TOPICS) == set(STAGE_GROUPS) == set(StageName) == set(classes)
    for name, cls in classes.items():
        assert STAGE_GROUPS[name] == cls.group
    assert len(set(STAGE_GROUPS.values())) == len(STAGE_GROUPS)


def test_notifier_loads_the_provider_directory_named_in_settings(tmp_path: Path) -> None:
    directory = tmp_path / "providers.toml"
    directory.write_text(
        '[[provider]]\nname = "Listed Host"\nabuse_email = "abuse@listed.test"\ndomains = ["listed.test"]\n'
    )
    settings = load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state")},
        "notifier": {"providers_file": str(directory), "outbox_dir": str(tmp_path / "outbox")},
    })
    rt = Runtime.open(settings)
    try:
        build_stage(StageName.NOTIFIER, rt)
        with rt.store.session() as s:
            email = s.scalars(select(Provider.abuse_email).where(Provider.name == "Listed Host")).one()
        assert email == "abuse@listed.test"
    finally:
        rt.close()
