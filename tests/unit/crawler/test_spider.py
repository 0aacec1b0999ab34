"""Unit tests of the site spider's requests, scope and error records (no network; links come from crawler.extract)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.http import HtmlResponse, Response
from twisted.python.failure import Failure

from crawler.items import AssetItem, MediaItem, PageItem
from crawler.middlewares import RefusedRequest
from crawler.scope import Scope, ScopeMode
from crawler.spiders.site import FetchKind, Meta, SiteSpider, clean_url, describe_failure

SITE = "http://site.example"


def spider(**kwargs: Any) -> SiteSpider:
    args: dict[str, Any] = {"campaign_id": "c1", "seeds": [f"{SITE}/"], "max_depth": 2}
    args.update(kwargs)
    return SiteSpider(**args)


def page(url: str, body: bytes | str, *, depth: int = 0, status: int = 200) -> HtmlResponse:
    request = Request(url, meta={Meta.DEPTH.value: depth})
    data = body.encode() if isinstance(body, str) else body
    return HtmlResponse(url, status=status, body=data, encoding="utf-8", request=request)


def split(outputs: list[Any]) -> tuple[list[PageItem], list[Request], list[Request]]:
    pages = [o for o in outputs if isinstance(o, PageItem)]
    media = [o for o in outputs if isinstance(o, Request) and o.meta[Meta.KIND.value] == "media"]
    links = [o for o in outputs if isinstance(o, Request) and o.meta[Meta.KIND.value] == "page"]
    return pages, media, links


def test_every_media_link_is_requested_once_per_page_with_its_page() -> None:
    html = """<html><body>
      <img src="/a.png"><img src="/a.png#dup"><img src="b.png">
      <img srcset="/c-1x.png 1x, /c-2x.png 2x" src="/c-1x.png">
      <picture><source srcset="/d.webp 100w"><img src="/d.png"></picture>
      <img data-src="/lazy.png" src="data:image/gif;base64,R0lGOD==">
      <img src="https://cdn.example/e.png"><img src="javascript:alert(1)"><img src="  ">
    </body></html>"""
    s = spider()
    pages, media, _ = split(list(s.parse(page(f"{SITE}/dir/index.html", html))))
    urls = [r.url for r in media]
    assert set(urls) == {
        f"{SITE}/a.png", f"{SITE}/dir/b.png", f"{SITE}/c-1x.png", f"{SITE}/c-2x.png", f"{SITE}/d.png",
        f"{SITE}/d.webp", f"{SITE}/lazy.png", "https://cdn.example/e.png",
    }
    assert len(urls) == len(set(urls))
    assert pages[0].media_found == len(urls)
    for r in media:
        # Dedupe is the frontier's (keyed on page and media URL), so the request is filterable.
        assert not r.dont_filter and r.priority == 1
        assert r.meta[Meta.PAGE_URL.value] == f"{SITE}/dir/index.html"
        assert "handle_httpstatus_list" not in r.meta  # the spider's own list applies
    assert 404 in SiteSpider.handle_httpstatus_list and 302 not in SiteSpider.handle_httpstatus_list


def test_stylesheets_are_fetched_and_their_media_and_imports_requested() -> None:
    s = spider()
    html = '<link rel="stylesheet" href="/css/site.css"><div style="background:url(/inline.png)"></div>'
    _, media, _ = split(list(s.parse(page(f"{SITE}/", html))))
    sheets = [o for o in s.parse(page(f"{SITE}/", html)) if isinstance(o, Request)
              and o.meta[Meta.KIND.value] == FetchKind.STYLESHEET]
    assert [r.url for r in media] == [f"{SITE}/inline.png"]
    assert [r.url for r in sheets] == [f"{SITE}/css/site.css"] and sheets[0].meta[Meta.PAGE_URL.value] == f"{SITE}/"
    request = Request(f"{SITE}/css/site.css", meta={Meta.PAGE_URL.value: f"{SITE}/", Meta.NESTING.value: 0})
    css = Response(request.url, body=b"@import 'more.css'; body{background:url(../bg.jpg)}",
                   headers={"Content-Type": "text/css"}, request=request)
    out = list(s.parse_stylesheet(css))
    (asset,) = [o for o in out if isinstance(o, AssetItem)]
    assert asset.media_found == 1 and asset.error is None
    requests = {o.url: o.meta[Meta.KIND.value] for o in out if isinstance(o, Request)}
    assert requests == {f"{SITE}/bg.jpg": FetchKind.MEDIA, f"{SITE}/css/more.css": FetchKind.STYLESHEET}
    media_request = next(o for o in out if isinstance(o, Request) and o.url.endswith("bg.jpg"))
    assert media_request.meta[Meta.PAGE_URL.value] == f"{SITE}/"  # the sighting's page is the HTML page


def test_a_link_without_extension_that_serves_an_image_becomes_a_media_item() -> None:
    s = spider()
    request = Request(f"{SITE}/photo?id=7", meta={Meta.DEPTH.value: 1, Meta.PAGE_URL.value: f"{SITE}/gallery"})
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    response = Response(request.url, body=png, headers={"Content-Type": "application/octet-stream"}, request=request)
    (item,) = list(s.parse(response))
    assert isinstance(item, MediaItem)
    assert item.page_url == f"{SITE}/gallery" and item.media_url == f"{SITE}/photo?id=7" and item.body == png


def test_frames_are_followed_in_scope_without_a_depth_hop_and_rendered_media_are_requested() -> None:
    s = spider(render=True)
    html = '<iframe src="/frame.html"></iframe><iframe src="http://other.example/f"></iframe><a href="/next">n</a>'
    response = page(f"{SITE}/", html, depth=2)
    response.meta[Meta.RENDERED_MEDIA.value] = [f"{SITE}/scripted.png"]
    _, media, links = split(list(s.parse(response)))
    assert [r.url for r in media] == [f"{SITE}/scripted.png"]
    # At the depth limit (2) the <a> is not followed, but the in-scope frame is, at the same depth.
    assert [(r.url, r.meta[Meta.DEPTH.value], r.meta[Meta.NESTING.value]) for r in links] == [
        (f"{SITE}/frame.html", 2, 1)
    ]
    assert links[0].meta[Meta.RENDER.value] is True


def test_scope_rules_pick_what_pages_are_followed() -> None:
    html = '<a href="/x">a</a><a href="http://sub.site.example/y">b</a><a href="http://www.site.example/z">c</a>'
    site_wide = spider(scope=Scope(mode=ScopeMode.SITE, exclude=["/x$"]))
    _, _, links = split(list(site_wide.parse(page(f"{SITE}/", html))))
    assert [r.url for r in links] == ["http://sub.site.example/y", "http://www.site.example/z"]
    as_json = spider(scope=Scope(mode=ScopeMode.HOST).model_dump_json())
    _, _, links = split(list(as_json.parse(page(f"{SITE}/", html))))
    assert [r.url for r in links] == [f"{SITE}/x"]
    assert [r.meta[Meta.PAGE_URL.value] for r in links] == [f"{SITE}/"]


def test_only_same_host_links_are_followed_within_depth() -> None:
    html = """<a href="/p1">1</a><a href="p2#x">2</a><a href="/p1">again</a>
      <a href="http://other.example/x">off</a><a href="http://sub.site.example/y">sub</a>
      <a href="mailto:a@b.c">m</a><a href="ftp://site.example/f">ftp</a>"""
    s = spider()
    _, _, links = split(list(s.parse(page(f"{SITE}/", html, depth=1))))
    assert [r.url for r in links] == [f"{SITE}/p1", f"{SITE}/p2"]
    assert all(r.meta[Meta.DEPTH.value] == 2 for r in links)
    # At the depth limit, media still load but links are not followed.
    _, media, deeper = split(list(s.parse(page(f"{SITE}/p1", '<img src="/x.png"><a href="/p3">3</a>', depth=2))))
    assert deeper == [] and len(media) == 1


def test_seeds_are_requested_at_depth_zero() -> None:
    s = spider(seeds=[f"{SITE}/", f"{SITE}/b"])
    seeds = _collect_start(s)
    assert [(r.url, r.meta[Meta.DEPTH.value]) for r in seeds] == [(f"{SITE}/", 0), (f"{SITE}/b", 0)]


def _collect_start(s: SiteSpider) -> list[Request]:
    import asyncio

    async def collect() -> list[Request]:
        return [r async for r in s.start()]

    return asyncio.run(collect())


def test_seeds_may_be_a_comma_separated_string() -> None:
    s = SiteSpider(campaign_id="c", seeds="http://a.example/, javascript:x ,http://b.example/p")
    assert s.seeds == ["http://a.example/", "http://b.example/p"]
    assert s.in_scope("http://b.example/other") and not s.in_scope("http://c.example/")
    with pytest.raises(ValueError, match="campaign_id"):
        SiteSpider(seeds="http://a.example/")


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><img src='/ok.png'><div><<table></td>\x00\xff\xfe<a href='/p'<p><b>",
        b"\x00\x01\x02\x03binary junk\xff\xfe",
        b"",
        b"<img src='/ok.png'>" * 3 + b"</html></html><<<<>>>>",
    ],
)
def test_malformed_html_does_not_raise(body: bytes) -> None:
    pages, _, _ = split(list(spider().parse(page(f"{SITE}/", body))))
    assert len(pages) == 1 and pages[0].http_status == 200


def test_error_pages_and_non_html_are_recorded_without_following() -> None:
    s = spider()
    pages, media, links = split(list(s.parse(page(f"{SITE}/gone", '<img src="/a.png">', status=404))))
    assert pages[0].error == "http 404" and media == [] and links == []
    request = Request(f"{SITE}/file.pdf", meta={Meta.DEPTH.value: 1})
    binary = Response(request.url, body=b"%PDF-1.4", headers={"Content-Type": "application/pdf"}, request=request)
    (item,) = list(s.parse(binary))
    assert isinstance(item, PageItem) and item.error == "not an HTML page (application/pdf)"
    redirected = page("http://elsewhere.example/", '<img src="/a.png">')
    (off,) = list(s.parse(redirected))
    assert isinstance(off, PageItem) and (off.error or "").startswith("redirected out of scope")


def media_response(url: str, status: int, body: bytes, **meta: Any) -> Response:
    request = Request(url, meta={Meta.PAGE_URL.value: f"{SITE}/", **meta})
    return Response(
        url,
        status=status,
        body=body,
        request=request,
        headers={"Content-Type": "image/png", "Server": "nginx", "Set-Cookie": "a=b", "CF-Ray": "abc"},
        ip_address=ipaddress.ip_address("93.184.216.34"),
    )


def test_media_responses_become_items() -> None:
    s = spider()
    (ok,) = list(s.parse_media(media_response(f"{SITE}/t.png", 200, b"png", redirect_urls=[f"{SITE}/r.png"])))
    assert ok.media_url == f"{SITE}/r.png" and ok.final_url == f"{SITE}/t.png"
    assert ok.body == b"png" and ok.error is None and ok.resolved_ip == "93.184.216.34"
    assert ok.headers == {"content-type": "image/png", "server": "nginx", "cf-ray": "abc"}
    (missing,) = list(s.parse_media(media_response(f"{SITE}/m.png", 404, b"nope")))
    assert missing.body is None and missing.error == "http 404" and missing.http_status == 404
    assert "png" not in repr(ok).replace(".png", "")  # bytes never reach a log line


def failure_for(exc: Exception, url: str = f"{SITE}/x.png") -> Failure:
    try:
        raise exc
    except Exception:
        failure = Failure()  # type: ignore[no-untyped-call]  # Twisted's own signature
    failure.request = Request(url, meta={Meta.PAGE_URL.value: f"{SITE}/", Meta.DEPTH.value: 1})  # type: ignore[attr-defined]
    return failure


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (
            RefusedRequest("refused: 10.0.0.1 is a private/loopback address"),
            "refused: 10.0.0.1 is a private/loopback address",
        ),
        (DownloadCancelledError("Expected to receive 9 bytes"), "too large: over the 1000 byte limit"),
        (DownloadTimeoutError("slow"), "timeout"),
        (IgnoreRequest("Forbidden by robots.txt"), "not fetched: Forbidden by robots.txt"),
        (OSError("boom"), "OSError: boom"),
    ],
)
def test_failures_are_described(exc: Exception, text: str) -> None:
    assert describe_failure(failure_for(exc), maxsize=1000) == text


def test_failed_media_and_pages_become_items_with_errors() -> None:
    s = spider()
    (media,) = list(s.media_failed(failure_for(DownloadTimeoutError("slow"))))
    assert isinstance(media, MediaItem)
    assert media.error == "timeout" and media.body is None and media.page_url == f"{SITE}/"
    (pg,) = list(s.page_failed(failure_for(RefusedRequest("refused: x"), f"{SITE}/p")))
    assert isinstance(pg, PageItem) and pg.error == "refused: x" and pg.depth == 1


def test_url_helpers() -> None:
    assert clean_url("http://h.example:99999/") is None
    assert clean_url("HTTP://h.example/a#b") == "http://h.example/a"
    assert clean_url("//cdn.example/x.png", page(f"{SITE}/", "")) == "http://cdn.example/x.png"
