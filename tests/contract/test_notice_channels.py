"""Contract test kit of notice channels: every registered channel inherits these checks.

The registry-wide checks run for every entry of ``notifier.channels.CHANNELS`` by themselves: a
settings subsection of its own, closed to unknown keys and overridable from the environment, a
place in ``build_channels`` by its abilities, and a delivery contract class below (a new channel
fails here until it has one). The delivery contract: delivering a key once reaches the receiver
once; delivering the same key again is reported as a duplicate and reaches nobody; another key is
another delivery.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import describe, load
from core.store import Store
from notifier.base import ChannelAbility, ChannelSettings, NoticeChannel, RenderedNotice
from notifier.channels import (
    CHANNELS,
    EMAIL_CHANNELS,
    OutboxChannel,
    SmtpChannel,
    StoreJournal,
    WebhookChannel,
    build_channels,
)
from notifier.settings import NotifierSettings
from tests.fixtures.smtp import SmtpServer
from tests.unit.notifier.helpers import migrated_store
from tests.unit.notifier.http_servers import Behaviour, http_server


class ChannelContract:
    """Inherit and provide ``channel``, ``recipient`` and ``received``."""

    channel: NoticeChannel
    recipient: str

    def received(self) -> int:
        raise AssertionError("implement received()")

    def notice(self, notice_id: str = "OW-20260301-00000001") -> RenderedNotice:
        return RenderedNotice(notice_id=notice_id, recipient=self.recipient, subject=f"[{notice_id}] Takedown",
                              text="text", html="<p>html</p>", language="en", signing_secret="k",
                              attachments=(("xarf-1.json", "application/json", b"{}"),),
                              data={"items": []})

    def test_registered_under_its_own_name(self) -> None:
        assert CHANNELS[self.channel.name] in type(self.channel).__mro__
        assert ChannelAbility.IDEMPOTENT in self.channel.abilities

    def test_one_key_is_delivered_once(self) -> None:
        first = self.channel.deliver(self.notice(), "OW-20260301-00000001.key")
        again = self.channel.deliver(self.notice(), "OW-20260301-00000001.key")
        assert not first.duplicate and again.duplicate
        assert self.received() == 1
        self.channel.deliver(self.notice("OW-20260301-00000002"), "OW-20260301-00000002.key")
        assert self.received() == 2


class TestOutboxChannel(ChannelContract):
    covers = OutboxChannel

    @pytest.fixture(autouse=True)
    def _setup(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "outbox"
        self.channel = OutboxChannel(self.folder, "notices@op.test")
        self.recipient = "abuse@host.test"

    def received(self) -> int:
        return len(list(self.folder.glob("*.eml")))


class TestSmtpChannel(ChannelContract):
    covers = SmtpChannel

    @pytest.fixture(autouse=True)
    def _setup(self, tmp_path: Path, smtp_server: SmtpServer) -> None:
        self.server = smtp_server
        store: Store = migrated_store(tmp_path)
        self.channel = SmtpChannel(smtp_server.host, smtp_server.port, sender="notices@op.test",
                                   journal=StoreJournal(store), timeout_s=5)
        self.recipient = "abuse@host.test"

    def received(self) -> int:
        return len(self.server.received)


class TestWebhookChannel(ChannelContract):
    covers = WebhookChannel

    @pytest.fixture(autouse=True)
    def _setup(self, tmp_path: Path) -> Iterator[None]:
        self.behaviour = Behaviour()
        with http_server(self.behaviour) as base:
            self.channel = WebhookChannel(journal=StoreJournal(migrated_store(tmp_path)), timeout_s=5,
                                          allow_private_hosts=["127.0.0.1"])
            self.recipient = f"{base}/hook"
            yield

    def received(self) -> int:
        return len(self.behaviour.requests)


REGISTERED = sorted(CHANNELS.items())


@pytest.mark.parametrize(("name", "cls"), REGISTERED, ids=[name for name, _ in REGISTERED])
class TestRegisteredChannel:
    """Checks every registered channel gets without writing a line of test."""

    def test_has_a_delivery_contract_test(self, name: str, cls: type[NoticeChannel]) -> None:
        covered = {getattr(sub, "covers", None) for sub in ChannelContract.__subclasses__()}
        assert cls in covered, f"channel {name!r} has no ChannelContract subclass in this module"

    def test_owns_a_closed_subsection_of_the_notifier_settings(self, name: str, cls: type[NoticeChannel]) -> None:
        assert issubclass(cls.settings_model, ChannelSettings) and cls.settings_model is not ChannelSettings
        defaults = NotifierSettings().section(name, cls.settings_model)
        assert defaults == cls.settings_model()
        with pytest.raises(ConfigError, match=rf"unknown setting 'notifier\.{name}\.no_such_key'"):
            load(NotifierSettings, environ={}, overrides={name: {"no_such_key": 1}})

    def test_subsection_is_read_from_the_environment(self, name: str, cls: type[NoticeChannel]) -> None:
        # NotifierSettings loaded alone is the root, so its subsections sit one level up from the app's.
        settings = load(NotifierSettings, environ={f"ORBWEAVER_{name.upper()}__ENABLED": "false"})
        assert settings.section(name, cls.settings_model).enabled is False
        keys = {key for key, *_ in describe(NotifierSettings)}
        assert {f"{name}.{field}" for field in cls.settings_model.model_fields} <= keys

    def test_is_built_by_its_abilities(self, name: str, cls: type[NoticeChannel], tmp_path: Path) -> None:
        store = migrated_store(tmp_path)
        email = name if name in EMAIL_CHANNELS else "outbox"
        settings = NotifierSettings(channel=email, outbox={"dir": tmp_path / "outbox"})
        try:
            built = build_channels(settings, store)
        except ConfigError:
            # A channel that needs a server named in its subsection (smtp) refuses defaults at start.
            assert name in EMAIL_CHANNELS
            return
        assert type(built[name]) is cls
        if ChannelAbility.PER_PROVIDER in cls.abilities:
            off = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, **{name: {"enabled": False}})
            assert name not in build_channels(off, store)
