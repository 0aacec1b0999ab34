"""Request body limits on every route, against the web app served by a real uvicorn on loopback.

A large multipart upload to the anonymous sign-in form must be refused with 413 before the form parser
spools its file part to a temporary file. The temporary folder is pointed at a test folder, and a sampler
thread watches what the process holds open there (the form parser's spool files are unlinked at once, so
only ``/proc/self/fd`` shows them) while the upload streams in.
"""

from __future__ import annotations

import os
import select
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import PASSWORD, make_settings
from tests.unit.web.seed import csrf_of

pytestmark = pytest.mark.integration

FORM_LIMIT = 65_536
UPLOAD = 24 * 1024 * 1024
"""Bytes of file data each upload offers: well past the form parser's 1 MiB in-memory spool."""
CHUNK = 256 * 1024
BOUNDARY = "orbweaverbodylimit"


class Spool:
    """Samples the largest amount of data the process holds open in a folder, in a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spool-sampler", daemon=True)

    def held(self) -> int:
        """Bytes in files of the folder, open (deleted or not) or lying in it."""
        total = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith(self.folder + "/"):
                    total += os.stat(f"/proc/self/fd/{fd}").st_size
            except OSError:
                continue  # closed between the listing and the look
        for path in Path(self.folder).rglob("*"):
            if path.is_file():
                total += path.stat().st_size
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, self.held())
            time.sleep(0.002)

    def __enter__(self) -> Spool:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.most = max(self.most, self.held())


class Served(ServedApp):
    """The web app under uvicorn, with a small form limit."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, make_settings(tmp_path, form_max_request_bytes=FORM_LIMIT))
        self.start()


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def served(tmp_path: Path, spool_dir: Path) -> Iterator[Served]:
    app = Served(tmp_path)
    yield app
    app.stop()


def _upload(port: int, *, content_length: int | None) -> int:
    """POST a multipart file to /login, chunked or with ``content_length`` declared; the answer's status.

    The body is sent until the server answers or closes, so a server that stops reading early is not waited on;
    a server still waiting for the rest of a declared body 10 s after the last byte gives -1.
    """
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    framing = (f"Content-Length: {content_length}" if content_length is not None
               else "Transfer-Encoding: chunked")
    request = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n").encode()
    data = b"\x00" * CHUNK
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        pieces = [head] + [data] * (UPLOAD // CHUNK)
        for piece in pieces:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered before the body was done
            try:
                sock.sendall(piece if content_length is not None else b"%x\r\n%b\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            if content_length is None:
                tail = f"\r\n--{BOUNDARY}--\r\n".encode()
                sock.sendall(b"%x\r\n%b\r\n0\r\n\r\n" % (len(tail), tail))
        try:
            while b"\r\n" not in answer:
                got = sock.recv(4096)
                if not got:
                    break
                answer += got
        except ConnectionResetError:
            pass
        except TimeoutError:
            return -1
    assert answer.startswith(b"HTTP/1.1 "), f"no answer from the server: {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1])


def test_a_chunked_upload_to_sign_in_gets_413_and_nothing_is_spooled(served: Served, spool_dir: Path) -> None:
    with Spool(spool_dir) as spool:
        status = _upload(served.port, content_length=None)
    # Without the limit the form parser writes the file part here as it arrives (up to 24 MiB).
    assert spool.most < FORM_LIMIT, f"{spool.most} bytes were spooled to the temporary folder"
    assert status == 413


def test_a_declared_huge_upload_to_sign_in_gets_413_before_its_body(served: Served, spool_dir: Path) -> None:
    # The length claims 3 GiB (and only 24 MiB ever come): answered from the header alone.
    with Spool(spool_dir) as spool:
        status = _upload(served.port, content_length=3 * 1024**3)
    assert spool.most < FORM_LIMIT, f"{spool.most} bytes were spooled to the temporary folder"
    assert status == 413


def test_a_body_longer_than_its_declared_length_is_counted(served: Served, spool_dir: Path) -> None:
    # An ASGI server that passes on more than Content-Length said (the test client does) meets the byte count.
    from fastapi.testclient import TestClient

    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="upload"; filename="big.bin"\r\n\r\n').encode()
    body += b"\x00" * (4 * 1024 * 1024) + f"\r\n--{BOUNDARY}--\r\n".encode()
    with Spool(spool_dir) as spool, TestClient(served.app) as client:
        answer = client.post("/login", content=body, headers={
            "content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": "1000"})
    assert spool.most < FORM_LIMIT, f"{spool.most} bytes were spooled to the temporary folder"
    assert answer.status_code == 413
    assert "larger than 65536 bytes" in answer.text


def test_signing_in_still_works_under_the_limit(served: Served) -> None:
    served.app.state.ctx.accounts.create_user("ana", PASSWORD, ["analyst"], actor="test")
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", follow_redirects=False) as client:
        form = client.get("/login")
        answer = client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf_token": csrf_of(form.text),
                                             "next": "/"})
    assert answer.status_code == 303, answer.text
    assert "session" in "".join(answer.headers.get_list("set-cookie")).lower()
