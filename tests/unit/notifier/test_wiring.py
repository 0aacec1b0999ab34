"""The runtime builds the notifier's channels through the registry, and feeds it recheck results too."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from core.errors import ConfigError
from core.messages import RecheckOutcome, RecheckResult, Topic
from core.settings import load
from core.stages import StageName
from core.store.tables.notifier import NoticeItem, NoticeRecipient, Recheck
from notifier.channels import OutboxChannel, SmtpSettings, WebhookChannel
from notifier.hosting import HostingLookup, HotlineRecord
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from orbweaver.runtime import Runtime, build_stage, run_stage
from orbweaver.settings import Settings
from orbweaver.stages import BY_NAME
from tests.fixtures.clock import FakeClock
from tests.unit.notifier.helpers import confirmed, migrated_store
from tests.unit.notifier.test_hosting import TableGeo


def _settings(tmp_path: Path, **notifier: object) -> Settings:
    return load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state")},
        "notifier": {"outbox": {"dir": str(tmp_path / "outbox")}, **notifier},
    })


def test_channels_come_from_the_registry_by_the_names_in_settings(tmp_path: Path) -> None:
    rt = Runtime.open(_settings(tmp_path))
    try:
        stage = build_stage(StageName.NOTIFIER, rt)
        assert isinstance(stage, NotifierStage)
        assert {name: type(c) for name, c in stage.channels.items()} == {"outbox": OutboxChannel,
                                                                        "webhook": WebhookChannel}
        assert stage.hosting.cdns and stage.hosting.hotlines  # the built-in tables
    finally:
        rt.close()
    for notifier, problem in (({"channel": "smtp"}, r"\[notifier.smtp\] host"),
                              ({"channel": "webhook"}, "e-mail channel"),
                              ({"channel": "pigeon"}, "unknown notice channel")):
        rt = Runtime.open(_settings(tmp_path, **notifier))
        try:
            with pytest.raises(ConfigError, match=problem):
                build_stage(StageName.NOTIFIER, rt)
        finally:
            rt.close()


def test_the_notifier_worker_consumes_recheck_results(tmp_path: Path) -> None:
    assert Topic.RECHECK_RESULTS in BY_NAME[StageName.NOTIFIER].topics
    assert Topic.REVIEW_DECISIONS in BY_NAME[StageName.NOTIFIER].topics  # withdrawals (notifier.portal)
    rt = Runtime.open(_settings(tmp_path))
    try:
        rt.bus.publish(RecheckResult(media_url="http://x.test/a.jpg", expected_sha256="ab" * 32,
                                     outcome=RecheckOutcome.GONE))
        rt.bus.flush()
        stats = run_stage(StageName.NOTIFIER, rt, threading.Event(), max_messages=1)
        assert stats.handled == 1
        with rt.store.session() as s:
            assert s.scalars(select(Recheck.outcome)).one() == "gone"
    finally:
        rt.close()


def test_a_bounce_after_acceptance_escalates_to_the_hotline(tmp_path: Path) -> None:
    store = migrated_store(tmp_path)
    upsert_providers(store, [ProviderRecord(name="Host", abuse_email="abuse@host.test", cidrs=["203.0.113.0/24"])])
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, hotline_policy="none")
    hosting = HostingLookup(geo=TableGeo({"203.0.113.9": ("FR", None)}), hotline_policy="none",
                            hotlines={"FR": HotlineRecord(country="FR", name="Point de Contact",
                                                          email="intake@pdc.test")})
    from core.bus.embedded import EmbeddedBus

    stage = NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings,
                          OutboxChannel(tmp_path / "outbox", settings.sender), clock=FakeClock(), hosting=hosting)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    [notice_id] = stage.flush()
    assert stage.record_bounce(notice_id, "550 5.1.1 user unknown (DSN)") == ["Hotline FR: Point de Contact"]
    assert stage.record_bounce(notice_id, "again") == []  # escalated once
    [hotline_notice] = stage.flush()
    with store.session() as s:
        roles = sorted(s.scalars(select(NoticeRecipient.role)).all())
        assert roles == ["host", "hotline"]
        assert s.scalars(select(NoticeItem.status)).one() == "open"
    assert hotline_notice != notice_id


def test_a_flat_channel_key_of_earlier_releases_says_where_it_moved(tmp_path: Path) -> None:
    config = tmp_path / "orbweaver.toml"
    config.write_text('[notifier]\nchannel = "smtp"\nsmtp_host = "mail.test"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notifier\.smtp_host moved to \[notifier\.smtp\] host "
                                          r"\(environment: ORBWEAVER_NOTIFIER__SMTP__HOST\)"):
        load(Settings, config, environ={})
    with pytest.raises(ConfigError, match=r"notifier\.webhook_allow_private_hosts moved to \[notifier\.webhook\]"):
        load(Settings, environ={"ORBWEAVER_NOTIFIER__WEBHOOK_ALLOW_PRIVATE_HOSTS": '["127.0.0.1"]'})
    with pytest.raises(ConfigError, match=r"unknown setting 'notifier\.pigeon'"):
        load(Settings, environ={"ORBWEAVER_NOTIFIER__PIGEON": "1"})
    config.write_text('[notifier]\nchannel = "smtp"\n[notifier.smtp]\nhost = "mail.test"\nport = 587\n',
                      encoding="utf-8")
    smtp = load(Settings, config, environ={}).notifier.section("smtp", SmtpSettings)
    assert (smtp.host, smtp.port) == ("mail.test", 587)
