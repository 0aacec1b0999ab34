"""Blob store for matched media (evidence), reported media in triage, and short-lived staging of fetched bodies.

Fetched bodies wait under ``staging/`` between hashing and the matcher (the crawler stages those
too large to ride inside a bus message, the hashing stage the rest), so only keys travel on
``media.hashed``; the matcher moves a matched body to ``evidence/``, an unmatched body of a reported
page to ``triage/`` (until analysts assess it or its retention ends), and deletes the others.
Keys are plain relative paths; implementations are chosen by URL scheme.
"""

from __future__ import annotations

import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from core.errors import ConfigError, PermanentError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,511}$")


def evidence_key(sha256: str) -> str:
    """Where a matched piece of media is kept, by its SHA-256."""
    return f"evidence/{sha256[:2]}/{sha256}"


def triage_key(sha256: str) -> str:
    """Where unmatched media of a reported page waits for analysts' triage (deleted once assessed or expired)."""
    return f"triage/{sha256[:2]}/{sha256}"


def staging_key(message_id: str) -> str:
    """Where a fetched body waits until the matcher keeps or drops it (``message_id``: the fetch's)."""
    return f"staging/{message_id}"


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root or confuse S3."""
    if not _KEY.match(key) or ".." in key.split("/") or "//" in key:
        raise PermanentError(f"invalid blob key {key!r}")
    return key


class BlobStore(ABC):
    """Bytes by key."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there, atomically."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``.

        Raises:
            KeyError: If there is none.

        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` holds bytes."""

    def move(self, src: str, dst: str) -> None:
        """Promote bytes from one key to another (staging to evidence)."""
        self.put(dst, self.get(src))
        self.delete(src)


class LocalBlobStore(BlobStore):
    """Blobs as files under one folder, written atomically (temp file then rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        """Write atomically, so a crash never leaves half a file under the key."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """Read the file under ``key``."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def delete(self, key: str) -> None:
        """Unlink the file under ``key``."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def move(self, src: str, dst: str) -> None:
        """Rename within the folder (atomic on one file system)."""
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._path(src), target)
        except FileNotFoundError:
            raise KeyError(src) from None


def open_blobs(url: str, *, s3_endpoint_url: str | None = None) -> BlobStore:
    """Open a blob store by URL: a folder path, ``file:///folder`` or ``s3://bucket/prefix``."""
    if url.startswith("s3://"):
        from core.blobs_s3 import S3BlobStore

        return S3BlobStore.from_url(url, endpoint_url=s3_endpoint_url)
    if url.startswith("file://"):
        return LocalBlobStore(url[len("file://") :])
    if "://" in url:
        raise ConfigError(f"unsupported blob store URL {url!r}: use a folder, file:// or s3://")
    return LocalBlobStore(url)
