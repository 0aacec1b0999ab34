"""Notifier stage channels, registered by explicit, never-changing names: outbox, smtp, webhook.

Every channel is idempotent by the delivery's key. The outbox names its file after the key;
SMTP and webhook channels write the key to a sent journal (in the store) the moment the remote
side accepted, so a crash between sending and recording the delivery does not send it again.
The SMTP Message-ID and the webhook ``Idempotency-Key`` header carry the same key, so a
receiver that deduplicates can also catch the one window left (accepted, then killed before
the journal write).
"""

from __future__ import annotations

import http.client
import json
import os
import smtplib
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import SplitResult, urlsplit

import structlog
from pydantic import Field

from core.errors import ConfigError, PermanentError, TransientError
from core.messages import utcnow
from core.store import Store, insert_ignore
from core.store.tables.notifier import SentJournal
from crawler.pinned import pinned_connection
from crawler.safety import AllowList, IPAddress, addresses_of, check_addresses, parse_ip
from notifier.base import ChannelAbility, ChannelSettings, NoticeChannel, Receipt, RenderedNotice
from notifier.settings import NotifierSettings
from notifier.webhook import signature_headers

log = structlog.get_logger(__name__)

GetAddrInfo = Callable[..., Sequence[tuple[Any, ...]]]
"""``socket.getaddrinfo``'s signature (tests inject a fake DNS)."""


def _safe(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    if not safe:
        raise PermanentError("empty idempotency key")
    return safe


def message_id(idempotency_key: str, sender: str) -> str:
    """The Message-ID of a notice e-mail: derived from the delivery's key, so every retry carries the same one."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "orbweaver.invalid"
    return f"<{_safe(idempotency_key)}@{domain}>"


def to_email(
    notice: RenderedNotice, sender: str, reply_to: str | None = None, *, idempotency_key: str | None = None
) -> EmailMessage:
    """An RFC 5322 message: text and HTML as multipart/alternative, X-ARF reports attached (multipart/mixed)."""
    msg = EmailMessage()
    # The address stays the deployment's own (its SPF/DKIM); the organisation speaks through name and Reply-To.
    msg["From"] = formataddr((notice.sender_name, parseaddr(sender)[1])) if notice.sender_name else sender
    msg["To"] = notice.recipient
    reply_to = notice.reply_to or reply_to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = notice.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(idempotency_key or notice.notice_id, sender)
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in notice.headers.items():
        msg[name] = value
    msg.set_content(notice.text)
    if notice.html is not None:
        msg.add_alternative(notice.html, subtype="html")
    for filename, mime, content in notice.attachments:
        maintype, subtype = mime.split("/", 1)
        if maintype in ("image", "video", "audio"):
            raise PermanentError(f"refusing to attach media ({mime}) to a notice")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    # Last: set_content and add_attachment move or drop Content-* headers of the top part.
    msg["Content-Language"] = notice.language
    return msg


class StoreJournal:
    """The sent journal in the store: which idempotency keys a remote receiver has accepted."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    def sent(self, key: str) -> str | None:
        """The reference recorded for ``key``, or None if it was never accepted."""
        with self.store.session() as s:
            row = s.get(SentJournal, key)
            return None if row is None else (row.reference or key)

    def record(self, key: str, channel: str, reference: str) -> None:
        """Remember that ``key`` was accepted (idempotent)."""
        with self.store.session() as s:
            insert_ignore(s, SentJournal, {"idempotency_key": key, "channel": channel, "reference": reference,
                                           "sent_at": self.clock()}, ["idempotency_key"])


class OutboxSettings(ChannelSettings):
    """``[notifier.outbox]``: the outbox channel's folder."""

    dir: Path = Field(
        default=Path(".orbweaver/outbox"),
        description="Folder where the outbox channel writes .eml notices; unset: data_dir/outbox.",
    )


class OutboxChannel(NoticeChannel):
    """Writes each notice as an ``.eml`` file into a local outbox folder.

    The file name is the idempotency key, and it is written atomically, so a notice is either
    fully in the outbox or not at all, and never twice.
    """

    name = "outbox"
    abilities = frozenset({ChannelAbility.IDEMPOTENT, ChannelAbility.ATTACHMENTS, ChannelAbility.EMAIL})
    settings_model = OutboxSettings

    def __init__(self, folder: Path, sender: str, reply_to: str | None = None) -> None:
        self.folder = folder
        self.sender = sender
        self.reply_to = reply_to
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create outbox folder {folder}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: NotifierSettings, store: Store) -> Self:
        """The outbox folder of ``[notifier.outbox]``."""
        return cls(settings.section(cls.name, OutboxSettings).dir, settings.sender, settings.reply_to)

    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        """Write ``<idempotency_key>.eml`` unless it is already there."""
        path = self.folder / f"{_safe(idempotency_key)}.eml"
        if path.exists():
            return Receipt(reference=str(path), duplicate=True)
        data = bytes(to_email(notice, self.sender, self.reply_to, idempotency_key=idempotency_key))
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


class SmtpSettings(ChannelSettings):
    """``[notifier.smtp]``: the SMTP server and login of the smtp channel."""

    host: str | None = Field(default=None, description="SMTP server of the smtp channel.")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP port (587 with STARTTLS, 465 with TLS).")
    security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="none, starttls, or tls (implicit TLS)."
    )
    username: str | None = Field(default=None, description="SMTP AUTH user name (no AUTH when empty).")
    password: str | None = Field(default=None, description="SMTP AUTH password.")
    timeout_s: float = Field(default=30.0, gt=0, description="Socket timeout of one SMTP conversation.")


class SmtpChannel(NoticeChannel):
    """Sends notices through an SMTP server (plain, STARTTLS or implicit TLS; optional AUTH).

    A 4xx answer or a network failure is transient (retried with backoff); a 5xx answer to the
    sender, a recipient or the data is permanent (a bounce: the notice escalates).
    """

    name = "smtp"
    abilities = frozenset({ChannelAbility.IDEMPOTENT, ChannelAbility.ATTACHMENTS, ChannelAbility.EMAIL})
    settings_model = SmtpSettings

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        reply_to: str | None = None,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 30.0,
        journal: StoreJournal | None = None,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ConfigError(f"smtp security must be none, starttls or tls, not {security!r}")
        self.host, self.port, self.sender, self.reply_to = host, port, sender, reply_to
        self.security, self.username, self.password, self.timeout_s = security, username, password, timeout_s
        self.journal = journal

    @classmethod
    def from_settings(cls, settings: NotifierSettings, store: Store) -> Self:
        """The SMTP server of ``[notifier.smtp]``; it must be named."""
        own = settings.section(cls.name, SmtpSettings)
        if not own.host:
            raise ConfigError("the smtp channel needs [notifier.smtp] host (ORBWEAVER_NOTIFIER__SMTP__HOST)")
        return cls(own.host, own.port, sender=settings.sender, reply_to=settings.reply_to, security=own.security,
                   username=own.username, password=own.password, timeout_s=own.timeout_s,
                   journal=StoreJournal(store))

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
        if self.username:
            client.login(self.username, self.password or "")
        return client

    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        """Send one notice e-mail unless its key is in the sent journal."""
        reference = message_id(idempotency_key, self.sender)
        if self.journal is not None and self.journal.sent(idempotency_key) is not None:
            return Receipt(reference=reference, duplicate=True)
        msg = to_email(notice, self.sender, self.reply_to, idempotency_key=idempotency_key)
        try:
            with self._connect() as client:
                refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise TransientError(f"recipient deferred: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc)
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise PermanentError(f"SMTP {exc.smtp_code}: {text}") from exc
            raise TransientError(f"SMTP {exc.smtp_code}: {text}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise PermanentError(f"recipient refused: {refused}")
        if self.journal is not None:
            self.journal.record(idempotency_key, self.name, reference)
        return Receipt(reference=reference)


class WebhookSettings(ChannelSettings):
    """``[notifier.webhook]``: the webhook channel's time budget and private-host allow list."""

    timeout_s: float = Field(
        default=30.0, gt=0, description="Budget of one whole webhook POST: connect, TLS, sending and the answer."
    )
    allow_private_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Hosts, addresses or networks a webhook may be at although they are not public (labs, tests). "
            "Every other webhook host must resolve to public addresses only; redirects are never followed."
        ),
    )


class WebhookChannel(NoticeChannel):
    """POSTs the notice as JSON to the recipient's webhook URL, signed with HMAC-SHA256.

    Headers: ``Idempotency-Key`` (the delivery's key), ``X-Orbweaver-Timestamp`` and
    ``X-Orbweaver-Signature: v1=<hex>``, the HMAC-SHA256 under the provider's secret of
    ``<timestamp>.<body>`` (see :mod:`notifier.webhook`). 2xx is delivered; 408, 425, 429 and 5xx
    are transient; other answers are permanent, redirects included (never followed).

    Args:
        timeout_s: Budget of the whole POST: connect, TLS, sending and the answer.
        journal: The sent journal (idempotency across crashes).
        clock: Where the signature's timestamp comes from.
        allow_private_hosts: Hosts, addresses or networks a webhook may be at although they are not
            public (labs, tests); ``[notifier.webhook] allow_private_hosts``.
        getaddrinfo: Name resolution function (``socket.getaddrinfo``'s signature).
    """

    name = "webhook"
    abilities = frozenset({ChannelAbility.IDEMPOTENT, ChannelAbility.PER_PROVIDER})
    settings_model = WebhookSettings

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        journal: StoreJournal | None = None,
        clock: Callable[[], datetime] = utcnow,
        allow_private_hosts: Iterable[str] = (),
        getaddrinfo: GetAddrInfo = socket.getaddrinfo,
    ) -> None:
        self.timeout_s = timeout_s
        self.journal = journal
        self.clock = clock
        self.allow = AllowList.parse(allow_private_hosts)
        self.getaddrinfo = getaddrinfo
        self._tls = ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: NotifierSettings, store: Store) -> Self:
        """A webhook channel with the settings' timeout and allow list, and the store's sent journal."""
        own = settings.section(cls.name, WebhookSettings)
        return cls(timeout_s=own.timeout_s, journal=StoreJournal(store), allow_private_hosts=own.allow_private_hosts)

    @staticmethod
    def body(notice: RenderedNotice) -> bytes:
        """The JSON body for a notice (stable key order, so a retry sends the same bytes)."""
        payload = {
            "notice_id": notice.notice_id,
            "language": notice.language,
            "subject": notice.subject,
            "text": notice.text,
            "html": notice.html,
            **notice.data,
        }
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")

    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        """POST one notice unless its key is in the sent journal.

        The POST goes only to an address of the webhook's host that passed the crawler's address
        check (:mod:`crawler.safety`, with :attr:`allow` as the allow list), pinned for the whole
        exchange, and a redirect is never followed: the webhook URL is the provider's, but who
        answers it may send us anywhere, an internal address included.

        Raises:
            PermanentError: On a bad URL or missing secret, a refused address, a redirect, or an
                answer that retrying will not change.
            TransientError: On a network failure, a time-out, or 408, 425, 429 and 5xx answers.

        """
        url = notice.recipient
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise PermanentError(f"webhook URL is not a URL: {url!r}: {exc}") from exc
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise PermanentError(f"webhook URL must be http(s): {url!r}")
        if not notice.signing_secret:
            raise PermanentError("webhook recipient has no shared secret; notices are only sent signed")
        if self.journal is not None and (ref := self.journal.sent(idempotency_key)) is not None:
            return Receipt(reference=ref, duplicate=True)
        body = self.body(notice)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": idempotency_key,
            "User-Agent": "orbweaver-notifier",
            **signature_headers(notice.signing_secret, body, self.clock()),
        }
        status, answer = self._post(url, parts, body, headers)
        if 300 <= status < 400:
            # Nothing of the answer is kept: only the webhook's own host is trusted to answer.
            raise PermanentError(f"webhook {url}: HTTP {status} redirect not followed (webhooks are never "
                                 "redirected; the provider must give the URL that accepts the POST)")
        if status in (408, 425, 429) or status >= 500:
            raise TransientError(f"webhook {url}: HTTP {status}")
        if not 200 <= status < 300:
            raise PermanentError(f"webhook {url}: HTTP {status}")
        reference = f"{url} {status} {answer[:200]}".strip()
        if self.journal is not None:
            self.journal.record(idempotency_key, self.name, reference)
        return Receipt(reference=reference)

    def _addresses(self, url: str, host: str, port: int) -> list[IPAddress]:
        literal = parse_ip(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = self.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise TransientError(f"webhook {url}: cannot resolve {host}: {exc}") from exc
            addresses = list(addresses_of(infos))
            if not addresses:
                raise TransientError(f"webhook {url}: no address for {host}")
        reason = check_addresses(host, addresses, self.allow)
        if reason is not None:
            raise PermanentError(f"webhook {url}: {reason}")
        return addresses

    def _post(self, url: str, parts: SplitResult, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST to a checked address of the URL's host; the status, and the first 2,000 characters of a 2xx answer."""
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise PermanentError(f"webhook URL has a bad port: {url!r}") from exc
        addresses = self._addresses(url, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        deadline = time.monotonic() + self.timeout_s
        refused: OSError | None = None
        for address in addresses:
            connection = pinned_connection(parts.scheme, host, port, str(address), deadline, self._tls)
            try:
                connection.request("POST", target, body=body, headers=headers)
                response = connection.getresponse()
                status = int(response.status)
                answer = response.read(2000).decode("utf-8", "replace") if 200 <= status < 300 else ""
                return status, answer
            except ConnectionRefusedError as exc:
                refused = exc
            except TimeoutError as exc:
                raise TransientError(f"webhook {url}: timed out after {self.timeout_s:g} s") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise TransientError(f"webhook {url}: {type(exc).__name__}: {exc}") from exc
            finally:
                connection.close()
        raise TransientError(f"webhook {url}: connection refused") from refused


CHANNELS: dict[str, type[NoticeChannel]] = {
    OutboxChannel.name: OutboxChannel,
    SmtpChannel.name: SmtpChannel,
    WebhookChannel.name: WebhookChannel,
}
"""Every notice channel by its storage name. A new channel is one class and one line here: its
settings subsection ``[notifier.<name>]``, its place in :func:`build_channels` and the contract
tests follow from the class's ``name``, ``abilities`` and ``settings_model``."""

EMAIL_CHANNELS = frozenset(name for name, cls in CHANNELS.items() if ChannelAbility.EMAIL in cls.abilities)
"""Channels that deliver to e-mail addresses (``[notifier] channel`` picks one of them)."""


def _check_registry() -> None:
    names = [cls.name for cls in CHANNELS.values()]
    if len(names) != len(set(names)) or any(k != v.name for k, v in CHANNELS.items()):
        raise RuntimeError(f"notice channel names must be unique and match their keys: {names}")
    for cls in CHANNELS.values():
        # Exactly one way to be reached: a channel either takes e-mail addresses or a provider's own target.
        if (ChannelAbility.EMAIL in cls.abilities) == (ChannelAbility.PER_PROVIDER in cls.abilities):
            raise RuntimeError(f"notice channel {cls.name!r} must be either an e-mail or a per-provider channel")


_check_registry()


def build_channels(settings: NotifierSettings, store: Store) -> dict[str, NoticeChannel]:
    """The channels a notifier uses: its e-mail channel (``settings.channel``) and every enabled per-provider one.

    Each is built from its own subsection ``[notifier.<name>]``.

    Raises:
        ConfigError: If ``settings.channel`` is not a registered, enabled e-mail channel, or a channel
            is unusable.

    """
    if settings.channel not in CHANNELS:
        raise ConfigError(f"unknown notice channel {settings.channel!r}; known: {sorted(CHANNELS)}")
    if settings.channel not in EMAIL_CHANNELS:
        raise ConfigError(f"notifier.channel must be an e-mail channel ({sorted(EMAIL_CHANNELS)}), "
                          f"not {settings.channel!r}; webhooks are chosen per provider")
    chosen = CHANNELS[settings.channel]
    if not settings.section(chosen.name, chosen.settings_model).enabled:
        raise ConfigError(f"notifier.channel names {chosen.name!r}, but [notifier.{chosen.name}] enabled is false")
    names = [settings.channel] + [
        name for name, cls in CHANNELS.items()
        if ChannelAbility.PER_PROVIDER in cls.abilities and settings.section(name, cls.settings_model).enabled
    ]
    return {name: CHANNELS[name].from_settings(settings, store) for name in names}
