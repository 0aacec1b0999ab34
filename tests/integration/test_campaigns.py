"""Campaigns end to end: the real CLI and crawler against a local site that counts every request.

The site serves a chain of pages (each shows one benign generated PNG from
``tests.fixtures.images`` and links to the next two), a robots.txt that forbids ``/private/``,
and a missing image. Pages can answer slowly, so a crawl can be paused, stopped or killed
midway. Campaign commands run as the installed ``orbweaver`` program, each in its own process,
against a SQLite store and an embedded bus under tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from core.messages import sha256_hex
from core.store import Store
from core.store.tables.crawler import Page
from crawler.campaigns import CampaignRecord, Campaigns, CampaignState, frontier_path_for
from crawler.run import CrawlSummary
from tests.fixtures.images import png_bytes
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")
PAGES = 30


@dataclass
class Site:
    """Pages /p/0.html ... /p/N.html, images /img/K.png, robots.txt; counts every request."""

    pages: int = PAGES
    page_delay_s: float = 0.0
    hits: Counter[str] = field(default_factory=Counter)
    fetches: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Hits by (path, Referer): an image shown on two pages is two sightings, fetched once each."""
    images: dict[str, bytes] = field(default_factory=lambda: {f"/img/{k}.png": png_bytes(k, (24, 16))
                                                              for k in range(5)})
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(self.hits)

    def page_paths(self) -> list[str]:
        return [f"/p/{n}.html" for n in range(self.pages)]

    def answer(self, path: str) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nDisallow: /private/\n"
        if path in self.images:
            return 200, "image/png", self.images[path]
        if path == "/":
            body = '<a href="/p/0.html">start</a> <a href="/private/secret.html">s</a> <img src="/img/missing.png">'
            return 200, "text/html", f"<html><body>{body}</body></html>".encode()
        if path == "/private/secret.html":
            return 200, "text/html", b"<html><body><img src='/img/0.png'></body></html>"
        if path.startswith("/p/") and path.endswith(".html") and path[3:-5].isdigit():
            n = int(path[3:-5])
            if n < self.pages:
                links = "".join(f'<a href="/p/{m}.html">{m}</a>' for m in range(n + 1, min(n + 3, self.pages)))
                return 200, "text/html", f"<html><body><img src='/img/{n % 5}.png'>{links}</body></html>".encode()
        return 404, "text/plain", b"not found"


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with site.lock:
                site.hits[self.path] += 1
                site.fetches[(self.path, self.headers.get("Referer", ""))] += 1
            status, content_type, body = site.answer(self.path)
            if content_type == "text/html" and site.page_delay_s:
                time.sleep(site.page_delay_s)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the hit counter is the record

    site.port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", site.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="campaign-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    return {
        **clean,
        "ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "state"),
        "ORBWEAVER_CRAWLER__OPERATOR": "Test Hotline",
        "ORBWEAVER_CRAWLER__CONTACT_URL": "https://hotline.example/crawler",
        "ORBWEAVER_CRAWLER__DOWNLOAD_DELAY_S": "0",
        "ORBWEAVER_CRAWLER__AUTOTHROTTLE": "false",
        "ORBWEAVER_CORE__LOG_LEVEL": "warning",
        **extra,
    }


def orbweaver(tmp_path: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORBWEAVER, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=cli_env(tmp_path, **env))


def create(tmp_path: Path, site: Site, *extra: str) -> str:
    result = orbweaver(tmp_path, "campaign", "create", "test", "--seed", site.url("/"), "--depth", "100",
                       "--allow-private", "127.0.0.1", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["id"])


def campaigns(tmp_path: Path) -> Campaigns:
    store = Store(f"sqlite:///{(tmp_path / 'state' / 'orbweaver.sqlite3').resolve()}")
    return Campaigns(store)


def record(tmp_path: Path, cid: str) -> CampaignRecord:
    book = campaigns(tmp_path)
    try:
        return book.get(cid)
    finally:
        book.store.dispose()


def wait_until(check: Callable[[], bool], timeout_s: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def fetched_pages(site: Site) -> Counter[str]:
    counts = site.counts()
    return Counter({p: counts[p] for p in site.page_paths() if counts[p]})


def test_robots_exclusions_are_obeyed_and_an_override_is_recorded_with_its_reason(tmp_path: Path) -> None:
    with serve(Site(pages=3)) as site:
        cid = create(tmp_path, site)
        started = orbweaver(tmp_path, "campaign", "start", cid, "--json")
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout.splitlines()[-1])["state"] == "finished"
        assert site.counts()["/private/secret.html"] == 0
        assert site.counts()["/robots.txt"] >= 1
        assert fetched_pages(site) == Counter({p: 1 for p in site.page_paths()})
        status = json.loads(orbweaver(tmp_path, "campaign", "status", cid, "--json").stdout)
        assert status["robots"] == "obeyed" and status["state"] == "finished" and status["pages_fetched"] == 5

        bad = orbweaver(tmp_path, "campaign", "create", "x", "--seed", site.url("/"), "--ignore-robots", "  ")
        assert bad.returncode == 2 and "needs a reason" in bad.stderr
        reason = "lab copy of a site we operate; robots.txt there blocks all crawlers"
        override = create(tmp_path, site, "--ignore-robots", reason)
        assert orbweaver(tmp_path, "campaign", "start", override).returncode == 0
        assert site.counts()["/private/secret.html"] == 1
        status = json.loads(orbweaver(tmp_path, "campaign", "status", override, "--json").stdout)
        assert status["robots"] == "ignored" and status["robots_override_reason"] == reason
        shown = orbweaver(tmp_path, "campaign", "status", override, COLUMNS="200")
        assert "NOT obeyed" in shown.stdout and reason in shown.stdout


def test_pause_and_resume_across_a_process_restart_fetch_everything_exactly_once(tmp_path: Path) -> None:
    with serve(Site(page_delay_s=0.3)) as site:
        cid = create(tmp_path, site, "--concurrency-per-host", "1")
        crawl = subprocess.Popen([ORBWEAVER, "campaign", "start", cid, "--json"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path))
        try:
            wait_until(lambda: len(fetched_pages(site)) >= 6, what="a few pages")
            paused = orbweaver(tmp_path, "campaign", "pause", cid, "--json")
            assert paused.returncode == 0, paused.stderr
            assert json.loads(paused.stdout)["state"] == "pausing"
            out, err = crawl.communicate(timeout=60)
        finally:
            if crawl.poll() is None:
                crawl.kill()
        assert crawl.returncode == 0, err
        assert json.loads(out.splitlines()[-1])["state"] == "paused"
        row = record(tmp_path, cid)
        assert row.state is CampaignState.PAUSED and row.queued > 0 and row.lease_owner is None
        before = fetched_pages(site)
        assert 6 <= len(before) < PAGES and set(before.values()) == {1}
        assert frontier_path_for(tmp_path / "state" / "frontiers", cid).resolve().exists()

        resumed = orbweaver(tmp_path, "campaign", "resume", cid, "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout.splitlines()[-1])["state"] == "finished"
    after = site.counts()
    # Every page was fetched exactly once over the two processes; an image at most once per
    # process (a run fetches a media URL once however many pages show it; /private/ never).
    assert fetched_pages(site) == Counter({p: 1 for p in site.page_paths()})
    assert 0 < sum(after[p] for p in site.images) < PAGES and all(after[p] <= 2 for p in site.images), after
    assert all(n == 1 for (path, _), n in site.fetches.items() if path != "/robots.txt"), site.fetches
    row = record(tmp_path, cid)
    assert row.state is CampaignState.FINISHED and row.pages_fetched == PAGES + 2 and row.run_count == 1
    assert not frontier_path_for(tmp_path / "state" / "frontiers", cid).resolve().exists()


def _crawl_until_killed(job_json: str) -> None:
    # Runs in a spawned child that the test kills with SIGKILL midway.
    from crawler.run import CrawlJob, crawl_in_this_process

    crawl_in_this_process(CrawlJob.model_validate_json(job_json))


def test_a_killed_crawl_resumes_and_refetches_only_what_was_in_flight(tmp_path: Path) -> None:
    from crawler.worker import prepare_run
    from orbweaver.runtime import crawl_infrastructure
    from orbweaver.settings import load_settings

    with serve(Site(page_delay_s=0.15)) as site:
        cid = create(tmp_path, site, "--concurrency", "2", "--concurrency-per-host", "2")
        settings = load_settings(overrides={"core": {"data_dir": str(tmp_path / "state")},
                                            "crawler": {"frontier_commit_interval_s": 0, "lease_s": 1.0}})
        book = campaigns(tmp_path)
        claimed = book.claim(cid, "doomed", lease_s=1.0)
        assert claimed is not None
        job = prepare_run(book, claimed, crawl_infrastructure(settings), owner="doomed")
        book.store.dispose()
        child = multiprocessing.get_context("spawn").Process(target=_crawl_until_killed, args=(job.model_dump_json(),))
        child.start()
        try:
            wait_until(lambda: len(fetched_pages(site)) >= 8, what="a few pages")
        finally:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=10)
        assert child.exitcode == -signal.SIGKILL
        killed_at = site.counts()
        assert record(tmp_path, cid).state is CampaignState.RUNNING  # as the dead process left it
        time.sleep(1.2)  # its lease runs out
        shown = json.loads(orbweaver(tmp_path, "campaign", "status", cid, "--json").stdout)
        assert shown["crashed"] is True
        resumed = orbweaver(tmp_path, "campaign", "resume", cid, "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout.splitlines()[-1])["state"] == "finished"
    assert fetched_pages(site).keys() == set(site.page_paths())
    with site.lock:
        fetches = {key: n for key, n in site.fetches.items() if key[0] != "/robots.txt"}
    refetched = sum(n - 1 for n in fetches.values())
    # At most the two requests in flight at the kill were fetched again; nothing that finished.
    assert refetched <= 2, {key: n for key, n in fetches.items() if n > 1}
    assert sum(killed_at[p] for p in site.page_paths()) >= 8


def test_stop_ends_a_running_crawl_and_drops_its_queue(tmp_path: Path) -> None:
    with serve(Site(page_delay_s=0.3)) as site:
        cid = create(tmp_path, site, "--concurrency-per-host", "1")
        crawl = subprocess.Popen([ORBWEAVER, "campaign", "start", cid, "--json"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path))
        try:
            wait_until(lambda: len(fetched_pages(site)) >= 3, what="a few pages")
            stopped = orbweaver(tmp_path, "campaign", "stop", cid, "--json")
            assert json.loads(stopped.stdout)["state"] == "stopping", stopped.stderr
            out, err = crawl.communicate(timeout=60)
        finally:
            if crawl.poll() is None:
                crawl.kill()
        assert json.loads(out.splitlines()[-1])["state"] == "stopped", err
        count = len(fetched_pages(site))
        assert count < PAGES
        row = record(tmp_path, cid)
        assert row.state is CampaignState.STOPPED and row.queued == 0
        assert not frontier_path_for(tmp_path / "state" / "frontiers", cid).resolve().exists()
        refused = orbweaver(tmp_path, "campaign", "resume", cid)
        assert refused.returncode == 1 and "cannot be started" in refused.stderr
        time.sleep(0.5)
        assert len(fetched_pages(site)) == count


def test_crawl_json_prints_one_object_per_media_fetch_and_a_summary_last(tmp_path: Path) -> None:
    with serve(Site(pages=4)) as site:
        result = orbweaver(tmp_path, "crawl", site.url("/"), "--depth", "2", "--max-pages", "4",
                           "--allow-private", "127.0.0.1", "--json")
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
    *media, last = lines
    summary = last["summary"]
    assert summary["state"] == "finished" and summary["pages"] == 4 and summary["media"] == 2
    assert summary["errors"] == 2  # the missing image and the robots-forbidden page
    by_url = {(m["page_url"], m["media_url"]): m for m in media}
    missing = by_url[(site.url("/"), site.url("/img/missing.png"))]
    assert missing == {"media_url": site.url("/img/missing.png"), "final_url": site.url("/img/missing.png"),
                       "page_url": site.url("/"), "status": 404, "error": "http 404"}
    ok = by_url[(site.url("/p/1.html"), site.url("/img/1.png"))]
    assert ok["status"] == 200 and ok["sha256"] == sha256_hex(site.images["/img/1.png"]) and "error" not in ok
    assert len(media) == 3 and all(set(m) <= {"media_url", "final_url", "page_url", "status", "sha256", "error"}
                                   for m in media)
    # The one-off crawl published to the bus like any campaign.
    from core.bus.embedded import EmbeddedBus
    from core.messages import Topic

    bus = EmbeddedBus(tmp_path / "state" / "bus.sqlite3")
    assert bus.topic_size(Topic.MEDIA_FETCHED) == 2
    bus.close()


def test_crawl_without_an_operator_is_refused_with_a_reason(tmp_path: Path) -> None:
    result = orbweaver(tmp_path, "crawl", "http://127.0.0.1:9/", ORBWEAVER_CRAWLER__OPERATOR="")
    assert result.returncode == 2 and "operator" in result.stderr


def test_the_crawler_worker_runs_queued_campaigns_and_rechecks_and_exits_on_sigterm(tmp_path: Path) -> None:
    from core.bus.embedded import EmbeddedBus
    from core.messages import RecheckOutcome, RecheckRequest, RecheckResult, Topic, decode

    with serve(Site(pages=5)) as site:
        cid = create(tmp_path, site, "--queue")
        bus = EmbeddedBus(tmp_path / "state" / "bus.sqlite3")
        image = site.images["/img/1.png"]
        bus.publish(RecheckRequest(media_url=site.url("/img/1.png"), sha256=sha256_hex(image), notice_id="n1"))
        bus.flush()
        env = cli_env(tmp_path, ORBWEAVER_CRAWLER__WORKER_POLL_S="0.3",
                      ORBWEAVER_CRAWLER__ALLOW_PRIVATE_HOSTS='["127.0.0.1"]')
        worker = subprocess.Popen([ORBWEAVER, "worker", "crawler"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        try:
            wait_until(lambda: record(tmp_path, cid).state is CampaignState.FINISHED, what="the campaign to finish")
            wait_until(lambda: bus.topic_size(Topic.RECHECK_RESULTS) == 1, what="the recheck result")
            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert worker.returncode == 0, err
        assert json.loads(out.splitlines()[-1]) == {"stage": "crawler", "campaign_runs": 1}
        assert fetched_pages(site) == Counter({p: 1 for p in site.page_paths()})
        (result,) = [decode(p) for p in bus.read_topic(Topic.RECHECK_RESULTS)]
        bus.close()
        assert isinstance(result, RecheckResult) and result.outcome is RecheckOutcome.PRESENT
        assert result.media_url == site.url("/img/1.png")



class SocksServer:
    """A minimal SOCKS5 proxy (RFC 1928/1929) on loopback that records every CONNECT target."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username, self.password = username, password
        self.connects: list[tuple[str, int]] = []
        self.refused_auth = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="socks", daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            if self.username is not None:
                if 2 not in methods:
                    writer.write(b"\x05\xff")
                    return
                writer.write(b"\x05\x02")
                _, ulen = await reader.readexactly(2)
                user = await reader.readexactly(ulen)
                (plen,) = await reader.readexactly(1)
                password = await reader.readexactly(plen)
                if (user.decode(), password.decode()) != (self.username, self.password):
                    self.refused_auth += 1
                    writer.write(b"\x01\x01")
                    return
                writer.write(b"\x01\x00")
            else:
                writer.write(b"\x05\x00")
            _, _command, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
            elif atyp == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode()
            else:
                writer.write(b"\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00")
                return
            port = int.from_bytes(await reader.readexactly(2), "big")
            self.connects.append((host, port))
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
            writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    def __enter__(self) -> SocksServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        async def shut() -> None:
            self._server.close()
            await self._server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def socks_crawl(tmp_path: Path, seed: str, proxy: str, allow: tuple[str, ...] | list[str] = ()
                ) -> tuple[CrawlSummary, list[Page]]:
    from crawler.run import CrawlJob, run_crawl
    from crawler.settings import CrawlerSettings

    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    job = CrawlJob(
        campaign_id="socks", seeds=[seed], bus_url=f"embedded:{tmp_path / 'bus.sqlite3'}", store_url=store_url,
        blobs_url=str(tmp_path / "blobs"), inline_media_limit=100_000, proxy=proxy,
        settings=CrawlerSettings(download_delay_s=0, autothrottle=False, max_depth=10,
                                 allow_private_hosts=["127.0.0.1", "localhost", *allow]),
    )
    summary = run_crawl(job)
    store = Store(store_url)
    with store.session() as s:
        pages = list(s.scalars(select(Page)))
    store.dispose()
    return summary, pages


def test_a_socks5h_proxy_carries_every_request_with_the_host_name_resolved_by_the_proxy(tmp_path: Path) -> None:
    with serve(Site(pages=4)) as site, SocksServer("crawler", "s3cret") as proxy:
        seed = f"http://localhost:{site.port}/"
        summary, pages = socks_crawl(tmp_path, seed, f"socks5h://crawler:s3cret@127.0.0.1:{proxy.port}")
    assert summary.reason == "finished" and summary.pages == 6 and summary.media == 4
    assert {p.url for p in pages} >= {f"http://localhost:{site.port}/p/{n}.html" for n in range(4)}
    # Every connection went through the proxy, which was asked for the host by name.
    assert proxy.connects and set(proxy.connects) == {("localhost", site.port)}
    assert site.counts()["/robots.txt"] == 1 and proxy.refused_auth == 0


def test_a_socks_proxy_that_refuses_us_fails_the_fetches_with_a_reason(tmp_path: Path) -> None:
    with serve(Site(pages=2)) as site, SocksServer("crawler", "s3cret") as proxy:
        summary, pages = socks_crawl(tmp_path, site.url("/"), f"socks5://crawler:wrong@127.0.0.1:{proxy.port}")
    assert site.counts() == Counter()  # nothing reached the site directly
    assert proxy.refused_auth >= 1
    (page,) = pages
    assert page.error is not None and "SOCKS" in page.error, page.error
    assert summary.pages == 1 and summary.errors >= 1


class CountingListener:
    """A TCP listener that counts connections and answers each as a SOCKS5 proxy that accepts no method."""

    def __init__(self, host: str) -> None:
        self.connections = 0
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="counting-listener", daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                conn.recv(256)
                conn.sendall(b"\x05\xff")

    def __enter__(self) -> CountingListener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.mark.parametrize("scheme", ["socks5h", "http"])
def test_a_proxy_at_a_private_address_literal_is_refused_at_creation_and_at_connect(tmp_path: Path,
                                                                                    scheme: str) -> None:
    from core.errors import ConfigError
    from crawler.campaigns import parse_spec

    with serve(Site(pages=2)) as site, CountingListener("127.0.0.2") as listener:
        proxy = f"{scheme}://127.0.0.2:{listener.port}"
        refusal = "proxy 127.0.0.2: refused: 127.0.0.2 is a private/loopback address"
        spec = {"name": "p", "seeds": [site.url("/")], "operator": "Test", "contact_url": "https://op.example/",
                "proxy": proxy, "allow_private_hosts": ["127.0.0.1"]}
        with pytest.raises(ConfigError, match="invalid campaign") as err:
            parse_spec(spec)
        assert refusal in str(err.value)
        created = subprocess.run(
            [ORBWEAVER, "campaign", "create", "p", "--seed", site.url("/"), "--operator", "Test",
             "--contact-url", "https://op.example/", "--proxy", proxy, "--allow-private", "127.0.0.1"],
            env={**os.environ, "ORBWEAVER_CONFIG": "", "ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "data")},
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert created.returncode != 0 and refusal in created.stderr, created.stderr
        # A crawl that gets the proxy anyway (a spec stored before this check) connects nowhere.
        summary, pages = socks_crawl(tmp_path, site.url("/"), proxy)
        assert listener.connections == 0
    assert site.counts() == Counter()
    (page,) = pages
    assert page.error is not None and page.error.startswith(refusal), page.error
    assert summary.pages == 1 and summary.errors >= 1


def test_a_proxy_at_a_private_address_is_used_when_the_allow_list_names_it(tmp_path: Path) -> None:
    from crawler.campaigns import parse_spec

    with serve(Site(pages=2)) as site, CountingListener("127.0.0.2") as listener:
        proxy = f"socks5h://127.0.0.2:{listener.port}"
        parse_spec({"name": "p", "seeds": [site.url("/")], "operator": "Test", "contact_url": "https://op.example/",
                    "proxy": proxy, "allow_private_hosts": ["127.0.0.1", "127.0.0.2"]})
        _, pages = socks_crawl(tmp_path, site.url("/"), proxy, allow=["127.0.0.2"])
        assert listener.connections >= 1
    (page,) = pages
    assert page.error is not None and "SOCKS" in page.error, page.error  # the listener accepts no method


def test_leases_and_recurrence_hold_on_postgresql(fresh_postgres_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from crawler.campaigns import parse_spec

    now = [datetime(2026, 3, 1, 8, 0, tzinfo=UTC)]
    store = Store(fresh_postgres_url)
    store.migrate()
    book = Campaigns(store, clock=lambda: now[0])
    spec = parse_spec({"name": "pg", "seeds": ["http://site.example/"], "operator": "Test Hotline",
                       "contact_url": "https://hotline.example/", "recurrence_hours": 2})
    cid = book.create(spec, queued=True).id
    first = book.claim_next("w1", 30)
    assert first is not None and book.claim_next("w2", 30) is None
    assert book.heartbeat(cid, "w1", 30, {"pages_fetched": 3}) is CampaignState.RUNNING
    now[0] += timedelta(seconds=31)
    taken = book.claim_next("w2", 30)
    assert taken is not None and taken.lease_owner == "w2" and book.heartbeat(cid, "w1", 30) is None
    assert book.release(cid, "w2", CampaignState.FINISHED, "done") is CampaignState.FINISHED
    assert book.get(cid).next_run_at == now[0] + timedelta(hours=2)
    now[0] += timedelta(hours=2)
    assert book.promote_due() == [cid] and book.get(cid).state is CampaignState.QUEUED
    store.dispose()
