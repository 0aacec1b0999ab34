"""Crawler stage guarded HTTP connections: pinned to a checked address, under one deadline for the whole exchange.

Used where a plain ``http.client`` exchange runs outside Scrapy: the removal check
(:mod:`crawler.recheck`) and webhook delivery (:mod:`notifier.channels`). The caller resolves the
host and checks every address with :mod:`crawler.safety`; the connection then goes to the checked
address only, whatever the name resolves to by then (no DNS rebinding), and TLS still verifies
the certificate against the host name.

A socket timeout bounds each ``recv`` alone, so a server that sends one header byte every few
seconds would keep a fetch alive forever. Here every socket operation (connect, TLS handshake,
send, each read of the status line, the headers and the body) gets only the time left before
one deadline fixed when the exchange began; once it has passed, the next operation raises
:class:`TimeoutError`.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from typing import Any, cast


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (``time.monotonic`` time).

    Raises:
        TimeoutError: If it has passed.

    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out: the fetch's deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """Raw reader over a socket whose every read waits at most until the deadline."""

    def __init__(self, owner: DeadlineSocket) -> None:
        super().__init__()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock = self._owner.sock
        sock.settimeout(remaining(self._owner.deadline))
        return sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.reader_closed()


class DeadlineSocket:
    """The parts of a socket ``http.client`` uses, each operation bounded by the deadline.

    Args:
        sock: A connected socket (plain or TLS).
        deadline: ``time.monotonic`` time after which every operation raises :class:`TimeoutError`.

    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        # Like a socket's makefile(): the connection may close its end while a response still
        # reads (a "Connection: close" answer); the socket closes when the last user is done.
        self._readers = 0
        self._closing = False

    def sendall(self, data: bytes) -> None:
        """Send all of ``data`` before the deadline."""
        self.sock.settimeout(remaining(self.deadline))
        self.sock.sendall(data)

    def makefile(self, mode: str = "rb", *_: Any, **__: Any) -> io.BufferedReader:
        """A buffered binary reader whose reads end at the deadline (``http.client`` reads responses so)."""
        if mode != "rb":
            raise ValueError(f"only binary reading is supported, not {mode!r}")
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def reader_closed(self) -> None:
        """A reader from :meth:`makefile` was closed."""
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self.sock.close()

    def close(self) -> None:
        """Close the socket, once no reader from :meth:`makefile` is open any more."""
        self._closing = True
        if self._readers <= 0:
            self.sock.close()


def _connect(address: str, port: int, deadline: float) -> socket.socket:
    return socket.create_connection((address, port), remaining(deadline))


class PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever its host name resolves to now.

    Args:
        host: The host name (sent in ``Host``).
        port: The port.
        address: The checked address to connect to.
        deadline: ``time.monotonic`` time by which the whole exchange must be over.

    """

    def __init__(self, host: str, port: int, address: str, deadline: float) -> None:
        super().__init__(host, port, timeout=max(0.001, deadline - time.monotonic()))
        self.address = address
        self.deadline = deadline

    def connect(self) -> None:
        """Connect to the checked address before the deadline."""
        # http.client only sends, reads through makefile() and closes: the stand-in covers all three.
        self.sock = cast(Any, DeadlineSocket(_connect(self.address, self.port, self.deadline), self.deadline))


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is verified against the host name.

    Args:
        host: The host name (SNI, certificate check and ``Host``).
        port: The port.
        address: The checked address to connect to.
        deadline: ``time.monotonic`` time by which the whole exchange must be over.
        context: The TLS context.

    """

    def __init__(self, host: str, port: int, address: str, deadline: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=max(0.001, deadline - time.monotonic()), context=context)
        self.address = address
        self.deadline = deadline
        self.tls = context

    def connect(self) -> None:
        """Connect and finish the TLS handshake before the deadline."""
        raw = _connect(self.address, self.port, self.deadline)
        try:
            # The handshake runs under the socket's timeout as one bounded operation.
            raw.settimeout(remaining(self.deadline))
            wrapped = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = cast(Any, DeadlineSocket(wrapped, self.deadline))


def pinned_connection(
    scheme: str, host: str, port: int, address: str, deadline: float, tls: ssl.SSLContext
) -> http.client.HTTPConnection:
    """The pinned connection for a URL's scheme: HTTPS (``tls`` verifies ``host``) or plain HTTP.

    Args:
        scheme: ``https``, else plain HTTP.
        host: The URL's host name.
        port: The port.
        address: The checked address to connect to.
        deadline: ``time.monotonic`` time by which the whole exchange must be over.
        tls: The TLS context for HTTPS.

    """
    if scheme == "https":
        return PinnedHTTPSConnection(host, port, address, deadline, tls)
    return PinnedHTTPConnection(host, port, address, deadline)
