"""Contract test kit of notice channels: every registered channel inherits these checks.

Delivering a key once reaches the receiver once; delivering the same key again is reported as a
duplicate and reaches nobody; another key is another delivery; notices never carry media.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import Store
from notifier.base import ChannelAbility, NoticeChannel, RenderedNotice
from notifier.channels import CHANNELS, OutboxChannel, SmtpChannel, StoreJournal, WebhookChannel
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
    @pytest.fixture(autouse=True)
    def _setup(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "outbox"
        self.channel = OutboxChannel(self.folder, "notices@op.test")
        self.recipient = "abuse@host.test"

    def received(self) -> int:
        return len(list(self.folder.glob("*.eml")))


class TestSmtpChannel(ChannelContract):
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
