"""Notifier stage channels, registered by explicit, never-changing names."""

from __future__ import annotations

import os
import tempfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from core.errors import ConfigError, PermanentError, TransientError
from notifier.base import ChannelAbility, NoticeChannel, Receipt, RenderedNotice


def to_email(notice: RenderedNotice, sender: str, reply_to: str | None = None) -> EmailMessage:
    """An RFC 5322 message for a notice: plain text, optional HTML alternative, attachments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = notice.recipient
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = notice.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=notice.notice_id.replace("-", ""), domain="orbweaver.invalid")
    msg["Content-Language"] = notice.language
    for name, value in notice.headers.items():
        msg[name] = value
    msg.set_content(notice.text)
    if notice.html is not None:
        msg.add_alternative(notice.html, subtype="html")
    for filename, mime, content in notice.attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg


class OutboxChannel(NoticeChannel):
    """Writes each notice as an ``.eml`` file into a local outbox folder.

    The file name is the idempotency key, and it is written atomically, so a notice is either
    fully in the outbox or not at all, and never twice.
    """

    name = "outbox"
    abilities = frozenset({ChannelAbility.IDEMPOTENT, ChannelAbility.ATTACHMENTS})

    def __init__(self, folder: Path, sender: str, reply_to: str | None = None) -> None:
        self.folder = folder
        self.sender = sender
        self.reply_to = reply_to
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create outbox folder {folder}: {exc}") from exc

    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        """Write ``<idempotency_key>.eml`` unless it is already there."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in idempotency_key)
        if not safe:
            raise PermanentError("empty idempotency key")
        path = self.folder / f"{safe}.eml"
        if path.exists():
            return Receipt(reference=str(path), duplicate=True)
        data = bytes(to_email(notice, self.sender, self.reply_to))
        try:
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise TransientError(f"cannot write to outbox {self.folder}: {exc}") from exc
        return Receipt(reference=str(path))


CHANNELS: dict[str, type[NoticeChannel]] = {
    OutboxChannel.name: OutboxChannel,
}


def _check_unique() -> None:
    names = [cls.name for cls in CHANNELS.values()]
    if len(names) != len(set(names)) or any(k != v.name for k, v in CHANNELS.items()):
        raise RuntimeError(f"notice channel names must be unique and match their keys: {names}")


_check_unique()
