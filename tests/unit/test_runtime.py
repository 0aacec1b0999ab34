"""The stage registry the runtime reads, and how it builds and runs a stage from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.messages import Topic
from core.settings import load
from core.stages import Host, StageName
from core.store.tables.notifier import Provider
from crawler.recheck import RecheckStage
from hashing.stage import HashingStage
from matcher.stage import MatchingStage
from notifier.stage import NotifierStage
from orbweaver.runtime import Runtime, build_stage
from orbweaver.settings import Settings
from orbweaver.stages import BY_NAME, STAGES, WORKER_STAGES, check_stages
from review.stage import ReviewStage


def test_every_stage_is_registered_once_under_its_one_name() -> None:
    assert [spec.name for spec in STAGES] == list(StageName)  # pipeline order
    assert len({spec.group for spec in STAGES}) == len(STAGES)
    for spec in STAGES:
        assert spec.group == str(spec.name)  # one name: stage, group, worker argument
    # The groups deployed consumers have committed offsets under; renaming one restarts it from nothing.
    assert {spec.group for spec in STAGES} == {"recheck", "hashing", "matcher", "review", "notifier"}
    assert [str(spec.name) for spec in WORKER_STAGES] == ["hashing", "matcher", "review", "notifier"]
    assert BY_NAME[StageName.RECHECK].host is Host.CRAWLER
    assert BY_NAME[StageName.NOTIFIER].topics == (Topic.NOTICE_REQUESTS, Topic.RECHECK_RESULTS, Topic.REVIEW_DECISIONS)
    # Batch handlers and deferred flushes for the stages that publish as their last act, only.
    assert {spec.name for spec in STAGES if spec.batched} == {StageName.HASHING, StageName.MATCHER}
    assert {spec.name for spec in STAGES if spec.defer_flush} == {StageName.HASHING, StageName.MATCHER}


def test_the_registry_check_refuses_a_missing_or_doubled_stage() -> None:
    with pytest.raises(ValueError, match="twice"):
        check_stages((*STAGES, STAGES[0]))
    with pytest.raises(ValueError, match="without a registered spec"):
        check_stages(STAGES[1:])


def test_each_spec_builds_its_stage_from_the_runtime(tmp_path: Path) -> None:
    settings = load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state")}, "notifier": {"outbox": {"dir": str(tmp_path / "outbox")}},
    })
    classes = {StageName.RECHECK: RecheckStage, StageName.HASHING: HashingStage, StageName.MATCHER: MatchingStage,
               StageName.REVIEW: ReviewStage, StageName.NOTIFIER: NotifierStage}
    rt = Runtime.open(settings)
    try:
        for name, cls in classes.items():
            stage = build_stage(name, rt)
            try:
                assert type(stage) is cls
            finally:
                stage.close()
        with pytest.raises(LookupError, match="int"):
            rt.section(int)  # type: ignore[type-var]
    finally:
        rt.close()


def test_notifier_loads_the_provider_directory_named_in_settings(tmp_path: Path) -> None:
    directory = tmp_path / "providers.toml"
    directory.write_text(
        '[[provider]]\nname = "Listed Host"\nabuse_email = "abuse@listed.test"\ndomains = ["listed.test"]\n'
    )
    settings = load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state")},
        "notifier": {"providers_file": str(directory), "outbox": {"dir": str(tmp_path / "outbox")}},
    })
    rt = Runtime.open(settings)
    try:
        build_stage(StageName.NOTIFIER, rt)
        with rt.store.session() as s:
            email = s.scalars(select(Provider.abuse_email).where(Provider.name == "Listed Host")).one()
        assert email == "abuse@listed.test"
    finally:
        rt.close()
