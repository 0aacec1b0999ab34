"""Removal checks against real local servers: every outcome, its evidence, the bus stage and the command.

The media server runs on 127.0.0.1 (allowed); 127.0.0.2 counts connections and must see none.
Host names resolve through the fake DNS of tests/fixtures/fakedns.py.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError
from core.messages import (
    HashSetChange,
    RecheckOutcome,
    RecheckRequest,
    RecheckResult,
    Topic,
    decode,
    derive_id,
    sha256_hex,
)
from crawler.recheck import SPEC, RecheckStage, SafeFetcher, recheck, recheck_many
from crawler.safety import AllowList
from orbweaver.cli import main
from tests.fixtures.fakedns import ENV as FAKE_DNS_ENV
from tests.fixtures.fakedns import getaddrinfo as fake_getaddrinfo
from tests.fixtures.servers import free_port
from tests.fixtures.traps import Route, TrapServer, html, serve, shape_png

pytestmark = pytest.mark.integration

ORIGINAL = shape_png((220, 40, 40))
REPLACED = shape_png((40, 40, 220))
ORIGINAL_SHA = sha256_hex(ORIGINAL)


@dataclass
class Servers:
    site: TrapServer
    private: TrapServer
    fetcher: SafeFetcher


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    private = TrapServer("127.0.0.2")
    site = TrapServer("127.0.0.1")
    with serve(private), serve(site), pytest.MonkeyPatch.context() as mp:
        r = site.routes
        r["/present.png"] = Route(body=ORIGINAL, content_type="image/png")
        r["/no-type.bin"] = Route(body=ORIGINAL, content_type="application/octet-stream")
        r["/changed.png"] = Route(body=REPLACED, content_type="image/png")
        r["/gone404.png"] = Route(404, b"not found", "text/plain")
        r["/gone410.png"] = Route(410, b"gone", "text/plain")
        r["/legal451.png"] = Route(451, b"unavailable", "text/plain")
        r["/soft404.png"] = Route(body=html("<h1>This image was removed</h1>"))
        r["/forbidden.png"] = Route(403, b"no", "text/plain")
        r["/error500.png"] = Route(500, b"oops", "text/plain")
        r["/moved.png"] = Route(301, location="/present.png", extra_headers={"X-Cache": "HIT"})
        r["/to-private.png"] = Route(302, location=f"http://127.0.0.2:{private.port}/x.png")
        r["/loop.png"] = Route(302, location="/loop.png")
        r["/gzip.png"] = Route(
            body=gzip.compress(ORIGINAL), content_type="image/png", extra_headers={"Content-Encoding": "gzip"}
        )
        r["/stall.png"] = Route(body=b"x" * 100, content_type="image/png", stall_s=30)
        r["/huge.png"] = Route(content_type="image/png", stream_bytes=300 * 1024 * 1024, send_length=False)
        for n in range(8):
            r[f"/hop{n}.png"] = Route(302, location=f"/hop{n + 1}.png")
        mp.setenv(
            FAKE_DNS_ENV,
            json.dumps(
                {
                    "media.test": ["127.0.0.1"],
                    "gone.test": ["NXDOMAIN"],
                    "flaky.test": ["SERVFAIL"],
                    "private.test": ["127.0.0.2"],
                    # Pinning: the first answer is checked and used; a later one is never asked for.
                    "rebind.test": ["127.0.0.1", "127.0.0.2"],
                }
            ),
        )
        fetcher = SafeFetcher(
            AllowList.parse(["127.0.0.1"]),
            user_agent="orbweaver-test/0.1 (+https://example.org/orbweaver-test)",
            timeout_s=2.0,
            max_bytes=1_000_000,
            max_redirects=3,
            getaddrinfo=fake_getaddrinfo,
        )
        yield Servers(site, private, fetcher)
        assert private.connections == 0


def check(servers: Servers, path_or_url: str, expected: str | None = ORIGINAL_SHA) -> Any:
    url = path_or_url if "://" in path_or_url else servers.site.url(path_or_url)
    return recheck(url, expected, servers.fetcher)


def test_present_with_evidence(servers: Servers) -> None:
    got = check(servers, "/present.png")
    assert got.outcome == RecheckOutcome.PRESENT
    assert got.http_status == 200 and got.observed_sha256 == ORIGINAL_SHA and got.size == len(ORIGINAL)
    assert got.final_url == servers.site.url("/present.png") and got.resolved_ip == "127.0.0.1"
    assert got.headers["server"] == "orbweaver-trap" and got.headers["content-type"] == "image/png"
    assert got.media_kind == "png" and got.checked_at.tzinfo is not None
    assert check(servers, "/no-type.bin").outcome == RecheckOutcome.PRESENT  # judged by bytes, not by type


def test_present_after_redirect_and_compressed(servers: Servers) -> None:
    moved = check(servers, "/moved.png")
    assert moved.outcome == RecheckOutcome.PRESENT
    assert moved.final_url == servers.site.url("/present.png")
    assert moved.redirects == [servers.site.url("/moved.png")]
    assert check(servers, "/gzip.png").observed_sha256 == ORIGINAL_SHA


def test_changed_reports_the_new_hash(servers: Servers) -> None:
    got = check(servers, "/changed.png")
    assert got.outcome == RecheckOutcome.CHANGED
    assert got.observed_sha256 == sha256_hex(REPLACED) and got.expected_sha256 == ORIGINAL_SHA


@pytest.mark.parametrize(
    ("target", "detail"),
    [
        ("/gone404.png", "http 404"),
        ("/gone410.png", "http 410"),
        ("/legal451.png", "http 451"),
        ("/soft404.png", "no media at this URL any more (200, text/html; charset=utf-8"),
        ("http://gone.test/x.png", "dns: cannot resolve gone.test"),
        ("connection-refused", "connection refused"),
    ],
)
def test_gone(servers: Servers, target: str, detail: str) -> None:
    if target == "connection-refused":
        target = f"http://127.0.0.1:{free_port()}/x.png"
    got = check(servers, target)
    assert got.outcome == RecheckOutcome.GONE, got
    assert got.detail is not None and got.detail.startswith(detail), got.detail


@pytest.mark.parametrize(
    ("target", "detail"),
    [
        ("/forbidden.png", "http 403"),
        ("/error500.png", "http 500"),
        ("/stall.png", "timeout"),
        ("/huge.png", "too large: over the 1000000 byte limit"),
        ("/loop.png", "redirect loop back to"),
        ("/hop0.png", "more than 3 redirects"),
        ("http://flaky.test/x.png", "dns: cannot resolve flaky.test"),
        ("http://private.test:9/x.png", "refused: 127.0.0.2 is a private/loopback address"),
        ("/to-private.png", "refused: 127.0.0.2 is a private/loopback address"),
        ("ftp://media.test/x.png", "refused: 'ftp://media.test/x.png' is not an http(s) URL"),
    ],
)
def test_errors_prove_nothing(servers: Servers, target: str, detail: str) -> None:
    got = check(servers, target)
    assert got.outcome == RecheckOutcome.ERROR, got
    assert got.detail is not None and got.detail.startswith(detail), got.detail


def test_connection_is_pinned_to_the_checked_address(servers: Servers) -> None:
    got = check(servers, f"http://rebind.test:{servers.site.port}/present.png")
    assert got.outcome == RecheckOutcome.PRESENT and got.resolved_ip == "127.0.0.1"
    assert servers.private.connections == 0


def test_without_a_reference_hash_any_media_is_present(servers: Servers) -> None:
    got = check(servers, "/changed.png", expected=None)
    assert got.outcome == RecheckOutcome.PRESENT and got.detail == "media served; no reference hash"


def test_many_keep_order(servers: Servers) -> None:
    urls = [servers.site.url(p) for p in ("/present.png", "/gone404.png", "/changed.png")]
    got = recheck_many([(u, ORIGINAL_SHA) for u in urls], servers.fetcher, workers=3)
    assert [g.media_url for g in got] == urls
    assert [g.outcome for g in got] == [RecheckOutcome.PRESENT, RecheckOutcome.GONE, RecheckOutcome.CHANGED]


def test_stage_answers_each_request_on_the_bus(servers: Servers, tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    requests = [
        RecheckRequest(media_url=servers.site.url("/present.png"), sha256=ORIGINAL_SHA, notice_id="n1"),
        RecheckRequest(media_url=servers.site.url("/gone410.png"), sha256=ORIGINAL_SHA, notice_id="n2"),
        RecheckRequest(media_url=servers.site.url("/changed.png"), sha256=ORIGINAL_SHA),
    ]
    bus.publish_many(requests)
    stage = RecheckStage(bus, servers.fetcher)
    stats = bus.consume(Topic.RECHECK_REQUESTS, SPEC.group, stage.handle, max_messages=3, poll_timeout_s=0.1)
    assert stats.handled == 3
    results = [decode(p) for p in bus.read_topic(Topic.RECHECK_RESULTS)]
    assert all(isinstance(r, RecheckResult) for r in results)
    by_url = {r.media_url: r for r in results if isinstance(r, RecheckResult)}
    present = by_url[servers.site.url("/present.png")]
    assert present.outcome == RecheckOutcome.PRESENT and present.notice_id == "n1"
    assert present.observed_sha256 == ORIGINAL_SHA and present.headers["server"] == "orbweaver-trap"
    assert present.final_url == servers.site.url("/present.png") and present.resolved_ip == "127.0.0.1"
    assert by_url[servers.site.url("/gone410.png")].outcome == RecheckOutcome.GONE
    changed = by_url[servers.site.url("/changed.png")]
    assert changed.outcome == RecheckOutcome.CHANGED and changed.observed_sha256 == sha256_hex(REPLACED)
    # A redelivered request yields the same result id (consumers can drop the repeat).
    assert present.message_id == derive_id(requests[0].message_id, "recheck")
    with pytest.raises(PermanentError):
        stage.handle(HashSetChange(hash_set="x", generation=1))
    bus.close()


def test_command_json_and_table(servers: Servers, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(
        "# reported media\n"
        f"{servers.site.url('/present.png')} {ORIGINAL_SHA}\n\n"
        f"{servers.site.url('/gone404.png')} {ORIGINAL_SHA.upper()}\n"
    )
    runner = CliRunner()
    env = {"ORBWEAVER_CRAWLER__ALLOW_PRIVATE_HOSTS": '["127.0.0.1"]', "ORBWEAVER_CONFIG": ""}
    result = runner.invoke(
        main,
        ["recheck", "--json", "--file", str(listing), "--sha256", ORIGINAL_SHA, servers.site.url("/changed.png")],
        env=env,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [line.get("outcome") for line in lines[:-1]] == ["changed", "present", "gone"]
    assert lines[-1] == {"summary": {"checked": 3, "changed": 1, "gone": 1, "present": 1}}
    assert lines[1]["observed_sha256"] == ORIGINAL_SHA and lines[1]["http_status"] == 200
    table = runner.invoke(main, ["recheck", servers.site.url("/gone404.png")], env=env)
    assert table.exit_code == 0 and "gone" in table.output and "http 404" in table.output
    refused = runner.invoke(main, ["recheck", "--json", servers.site.url("/present.png")], env={"ORBWEAVER_CONFIG": ""})
    assert json.loads(refused.output.splitlines()[0])["detail"] == "refused: 127.0.0.1 is a private/loopback address"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no URLs to recheck"),
        (["not-a-url"], "argument line 1: expected 'URL [SHA256]'"),
        (["--sha256", "abc", "http://x.test/a.png"], "is not a SHA-256"),
    ],
)
def test_command_rejects_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["recheck", *args], env={"ORBWEAVER_CONFIG": ""})
    assert result.exit_code != 0
    assert message in (result.output + str(result.exception)), result.output


@contextmanager
def header_dripper(interval_s: float = 1.0) -> Iterator[str]:
    """A loopback server answering every request with a status line, then one header byte per ``interval_s``, forever.

    Yields its base URL; it drips until the block ends.
    """
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while not stop.wait(interval_s):
                    conn.sendall(b"a")
            except OSError:
                pass  # the client gave up, as it should

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, name="header-dripper", daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()


def test_command_gives_up_on_headers_dripped_one_byte_at_a_time() -> None:
    # The deadline is the property under test: it must cover the headers, not only the body.
    timeout_s = 3.0
    env = {"ORBWEAVER_CONFIG": "", "ORBWEAVER_CRAWLER__ALLOW_PRIVATE_HOSTS": '["127.0.0.1"]',
           "ORBWEAVER_CRAWLER__DOWNLOAD_TIMEOUT_S": str(timeout_s)}
    outcome: dict[str, Any] = {}
    with header_dripper(interval_s=1.0) as base:

        def run() -> None:
            outcome["result"] = CliRunner().invoke(main, ["recheck", "--json", f"{base}/drip.png"], env=env)

        # In a thread, so a hang fails the test here instead of hanging it (the dripper's end
        # closes the connection, which then lets the thread finish).
        worker = threading.Thread(target=run, name="recheck-cli", daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(timeout=10 * timeout_s)
        elapsed = time.monotonic() - started
        assert not worker.is_alive(), f"recheck still running after {elapsed:.0f} s with a {timeout_s} s timeout"
    result = outcome["result"]
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.splitlines()[0])
    assert first["outcome"] == "error" and first["http_status"] is None
    assert first["detail"] == "timeout: no complete answer within 3 s", first
    assert elapsed < 3 * timeout_s, f"recheck took {elapsed:.1f} s with a {timeout_s} s timeout"
