"""Unit tests of the demo site's HTTP server, on free loopback ports."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from orbweaver.demo.site import ALLOW_ALL_ROBOTS, DemoServer, serve_site
from tests.fixtures.images import DemoSite, jpeg_bytes, png_bytes


def _get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def www(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(jpeg_bytes(1, (64, 48)))
    (tmp_path / "photos" / "b.jpeg").write_bytes(jpeg_bytes(2, (64, 48)))
    (tmp_path / "photos" / "c.png").write_bytes(png_bytes(3, (64, 48)))
    (tmp_path / "photos" / "d.gif").write_bytes(b"GIF89a")
    (tmp_path / "photos" / "e.webp").write_bytes(b"RIFF0000WEBP")
    (tmp_path / "photos" / "fake.jpg").write_bytes(b"<!DOCTYPE html><html></html>")
    (tmp_path / "section").mkdir()
    (tmp_path / "section" / "index.html").write_text("<html><body>section</body></html>")
    (tmp_path / "index.html").write_text("<html><body>home</body></html>")
    return tmp_path


@pytest.fixture
def server(www: Path) -> Iterator[DemoServer]:
    with serve_site(www) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/photos/a.jpg", "image/jpeg"),
        ("/photos/b.jpeg", "image/jpeg"),
        ("/photos/c.png", "image/png"),
        ("/photos/d.gif", "image/gif"),
        ("/photos/e.webp", "image/webp"),
        ("/photos/fake.jpg", "image/jpeg"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/section/", "text/html; charset=utf-8"),
    ],
)
def test_serves_files_with_content_type_by_extension(
    server: DemoServer, www: Path, path: str, content_type: str
) -> None:
    status, got_type, body = _get(server.base_url + path)
    assert status == 200
    assert got_type == content_type
    on_disk = www / path.lstrip("/")
    assert body == (on_disk / "index.html" if on_disk.is_dir() else on_disk).read_bytes()


def test_counts_requests_per_path(server: DemoServer) -> None:
    assert server.requests == 0
    _get(server.base_url + "/photos/a.jpg")
    _get(server.base_url + "/photos/a.jpg?x=1")
    _get(server.base_url + "/photos/a.jpg", method="HEAD")
    _get(server.base_url + "/missing.jpg")
    assert server.hits("/photos/a.jpg") == 3
    assert server.hits("/missing.jpg") == 1
    assert server.requests == server.hits() == 4
    assert server.hit_paths() == {"/photos/a.jpg": 3, "/missing.jpg": 1}
    server.reset()
    assert server.requests == 0


def test_head_has_headers_but_no_body(server: DemoServer) -> None:
    status, content_type, body = _get(server.base_url + "/photos/c.png", method="HEAD")
    assert (status, content_type, body) == (200, "image/png", b"")


def test_no_directory_listing_and_missing_files_are_404(server: DemoServer) -> None:
    assert _get(server.base_url + "/photos/")[0] == 404
    assert _get(server.base_url + "/nothing/here.jpg")[0] == 404
    # A folder without its slash is redirected to it, as a real server does.
    assert _get(server.base_url + "/section")[0] == 200


def test_robots_txt_allows_all_by_default(server: DemoServer) -> None:
    status, content_type, body = _get(server.base_url + "/robots.txt")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert body.decode() == ALLOW_ALL_ROBOTS


def test_robots_txt_can_be_set(www: Path) -> None:
    with serve_site(www, robots_txt="User-agent: *\nDisallow: /photos/\n") as running:
        assert b"Disallow: /photos/" in _get(running.base_url + "/robots.txt")[2]


def test_shuts_down_and_releases_the_port(www: Path) -> None:
    with serve_site(www) as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        assert _get(running.base_url + "/")[0] == 200
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    # The listening socket is closed: the port can be bound again at once (SO_REUSEADDR only
    # steps over the closed connection's TIME_WAIT, never over a live listener).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError), serve_site(tmp_path / "absent"):
        pass


def test_session_demo_site_is_served(demo_site: DemoSite) -> None:
    manifest, base_url = demo_site
    assert _get(base_url + "/")[0] == 200
    status, content_type, body = _get(base_url + manifest.planted[0].url_path)
    assert status == 200
    assert content_type.startswith("image/")
    assert body
    html_as_jpeg = next(b for b in manifest.bad_media if b.kind == "html_as_jpeg")
    status, content_type, _ = _get(base_url + html_as_jpeg.url_path)
    assert (status, content_type) == (200, "image/jpeg")
    empty = next(b for b in manifest.bad_media if b.kind == "empty")
    assert _get(base_url + empty.url_path)[:3:2] == (200, b"")
