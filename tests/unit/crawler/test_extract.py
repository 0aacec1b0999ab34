"""Unit tests of the crawler's link finder: every form of media markup, and hostile input."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from crawler.extract import (
    MAX_LINKS,
    MediaKind,
    MediaLink,
    MediaSource,
    PageLinks,
    clean_url,
    css_urls,
    decode_html,
    extract_page,
    extract_stylesheet,
    has_media_extension,
    sniff_media,
    srcset_urls,
)

PAGE = "http://site.test/dir/page.html"


def page(body: str | bytes, content_type: str | None = "text/html", encoding: str | None = None) -> PageLinks:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return extract_page(PAGE, data, content_type, encoding)


def media(body: str | bytes, **kwargs: str | None) -> dict[str, str]:
    return {m.url: m.source for m in page(body, **kwargs).media}


def u(path: str) -> str:
    return f"http://site.test{path}"


# --- each form of markup -------------------------------------------------------------------------


def test_img_src_relative_absolute_and_protocol_relative() -> None:
    got = media('<img src="a.png"><img src="/b.png"><img src="//cdn.test/c.png"><img src="https://x.test/d.png">')
    assert got == {
        u("/dir/a.png"): "img",
        u("/b.png"): "img",
        "http://cdn.test/c.png": "img",
        "https://x.test/d.png": "img",
    }


def test_srcset_every_candidate_on_img_and_picture_sources() -> None:
    got = media(
        '<img src="s.png" srcset="s1.png 1x, s2.png 2x" sizes="(max-width: 600px) 480px, 800px">'
        "<picture><source media='(min-width: 800px)' srcset='p-large.webp 1600w, p-med.webp 800w'"
        " sizes='100vw' type='image/webp'><source srcset='p.avif'><img src='p.jpg' srcset='p2.jpg 2x'></picture>"
    )
    assert got == {
        u("/dir/s.png"): "img",
        u("/dir/s1.png"): "srcset",
        u("/dir/s2.png"): "srcset",
        u("/dir/p-large.webp"): "picture",
        u("/dir/p-med.webp"): "picture",
        u("/dir/p.avif"): "picture",
        u("/dir/p.jpg"): "img",
        u("/dir/p2.jpg"): "picture",
    }


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
        ("a.png,b.png", ["a.png,b.png"]),  # no whitespace: one URL, as browsers read it
        ("a.png, b.png", ["a.png", "b.png"]),
        ("  a.png  ,  , b.png 100w ,", ["a.png", "b.png"]),
        ("c.jpg?crop=1,2 2x, d.jpg 3x", ["c.jpg?crop=1,2", "d.jpg"]),
        ("e.jpg (foo, bar) 1x, f.jpg", ["e.jpg", "f.jpg"]),
        ("data:image/png;base64,AAAA 1x, g.png 2x", ["data:image/png;base64,AAAA", "g.png"]),
        ("", []),
        (",,,", []),
        ("h.png\n1x,\ti.png\t2x", ["h.png", "i.png"]),
    ],
)
def test_srcset_parser(srcset: str, expected: list[str]) -> None:
    assert srcset_urls(srcset) == expected


@pytest.mark.parametrize(
    "attr",
    [
        "data-src", "data-original", "data-lazy-src", "data-lazy", "data-bg", "data-background",
        "data-background-image", "data-image", "data-full-src", "data-hi-res", "data-zoom-image",
        "data-echo", "data-thumb", "data-lowsrc", "data-orig-file", "data-large-file",
    ],
)  # fmt: skip
def test_lazy_loading_attributes(attr: str) -> None:
    got = media(f'<img src="data:image/gif;base64,R0lGOD=" {attr}="/lazy/real"><div {attr}="/lazy/div"></div>')
    assert got == {u("/lazy/real"): "lazy", u("/lazy/div"): "lazy"}


def test_lazy_srcset_css_values_and_unknown_data_attributes() -> None:
    got = media(
        '<img data-srcset="l1.jpg 1x, l2.jpg 2x"><img data-lazy-srcset="l3.jpg 300w">'
        "<div data-bg=\"url('l4.jpg')\"></div><div data-bg-image='l5.webp'></div>"
        "<div data-hero-img='https://cdn.test/l6.png?v=1'></div>"
        '<div data-config=\'{"src": "x.png"}\'></div><div data-tooltip-src="not an url.png"></div>'
        '<div data-image-id="12345"></div><div data-title="a.png"></div>'
    )
    assert got == {
        u("/dir/l1.jpg"): "lazy",
        u("/dir/l2.jpg"): "lazy",
        u("/dir/l3.jpg"): "lazy",
        u("/dir/l4.jpg"): "lazy",
        u("/dir/l5.webp"): "lazy",
        "https://cdn.test/l6.png?v=1": "lazy",
    }


def test_css_url_in_inline_style_attributes() -> None:
    got = media(
        "<div style=\"background: url('i1.jpg') no-repeat, url(i2.png)\"></div>"
        '<div style="background-image: url(&quot;i3.gif&quot;)"></div>'
        "<span style='BACKGROUND:URL(i4.png)'></span>"
        '<div style="background-image: image-set(\'i5.png\' 1x, url(i6.png) 2x)"></div>'
        '<p style="fill: url(#gradient); color: red"></p>'
    )
    assert got == {
        u("/dir/i1.jpg"): "inline-style",
        u("/dir/i2.png"): "inline-style",
        u("/dir/i3.gif"): "inline-style",
        u("/dir/i4.png"): "inline-style",
        u("/dir/i5.png"): "inline-style",
        u("/dir/i6.png"): "inline-style",
    }


def test_style_blocks_with_quotes_escapes_comments_imports_and_nested_rules() -> None:
    links = page(
        "<style>"
        '@import "imp1.css"; @import url(imp2.css) screen; @import url("imp3.css");'
        ".a { background: url( 'q1.png' ) }"
        '.b { background: url("q\\32 .png") }'  # CSS escape: \32 is "2"
        ".c { background: url(q\\ 3.png) }"  # escaped space inside an unquoted url
        "/* .d { background: url(commented.png) } */"
        "@media (min-width: 10px) { @supports (display: grid) { .e { background: url(q4.png) } } }"
        "@font-face { font-family: x; src: url(font.woff2) format('woff2') }"
        ".f { .g { background: url(q5.png) } }"
        ".h { list-style: url(q6.gif); cursor: url(q7.cur), auto; mask: url(#m) }"
        "@keyframes k { from { background: url(q8.png) } }"
        "</style>"
    )
    assert {m.url: m.source for m in links.media} == {
        u("/dir/q1.png"): "style-block",
        u("/dir/q2.png"): "style-block",
        u("/dir/q%203.png"): "style-block",
        u("/dir/q4.png"): "style-block",
        u("/dir/q5.png"): "style-block",
        u("/dir/q6.gif"): "style-block",
        u("/dir/q7.cur"): "style-block",
        u("/dir/q8.png"): "style-block",
    }
    assert links.stylesheets == [u("/dir/imp1.css"), u("/dir/imp2.css"), u("/dir/imp3.css")]


def test_linked_stylesheets_and_preloaded_styles() -> None:
    links = page(
        '<link rel="stylesheet" href="/s1.css"><link rel="alternate stylesheet" href="s2.css">'
        '<link rel=preload as=style href=s3.css><link rel="icon" href="/favicon.ico"><link rel=canonical href=/c>'
    )
    assert links.stylesheets == [u("/s1.css"), u("/dir/s2.css"), u("/dir/s3.css")]
    assert links.media == []


def test_extract_stylesheet_resolves_against_the_stylesheet_and_follows_imports() -> None:
    got = extract_stylesheet(
        "http://cdn.test/css/main.css",
        "@import 'more.css'; @import url(/abs.css);\n"
        ".x { background: url(../img/a.png) } .y { background: url('//other.test/b.png') }"
        "@font-face { src: url(f.woff) }",
    )
    assert got.imports == ["http://cdn.test/css/more.css", "http://cdn.test/abs.css"]
    assert got.media == [
        MediaLink("http://cdn.test/img/a.png", MediaSource.STYLESHEET),
        MediaLink("http://other.test/b.png", MediaSource.STYLESHEET),
    ]


def test_extract_stylesheet_decodes_bytes_by_bom_header_and_charset_rule() -> None:
    latin = '@charset "iso-8859-1"; .x { background: url(caf\xe9.png) }'.encode("latin-1")
    assert extract_stylesheet("http://c.test/s.css", latin).media[0].url == "http://c.test/caf%C3%A9.png"
    header = ".x { background: url(caf\xe9.png) }".encode("latin-1")
    got = extract_stylesheet("http://c.test/s.css", header, "text/css; charset=latin-1")
    assert got.media[0].url == "http://c.test/caf%C3%A9.png"
    bom = "\ufeff.x { background: url(caf\xe9.png) }".encode("utf-16")
    assert extract_stylesheet("http://c.test/s.css", bom).media[0].url == "http://c.test/caf%C3%A9.png"


@pytest.mark.parametrize(
    "meta",
    [
        '<meta property="og:image" content="/m.jpg">',
        '<meta property="og:image:url" content="/m.jpg">',
        '<meta property="og:image:secure_url" content="/m.jpg">',
        '<meta property="OG:IMAGE" content="/m.jpg">',
        '<meta name="twitter:image" content="/m.jpg">',
        '<meta name="twitter:image:src" content="/m.jpg">',
        '<meta property="twitter:image:url" content="/m.jpg">',
        '<meta itemprop="image" content="/m.jpg">',
        '<meta property="og:video:secure_url" content="/m.jpg">',
        '<link rel="image_src" href="/m.jpg">',
        '<link itemprop="thumbnailUrl" href="/m.jpg">',
    ],
)
def test_image_metadata(meta: str) -> None:
    assert media(f"<html><head>{meta}</head><body></body></html>") == {u("/m.jpg"): "meta"}


def test_json_ld_images() -> None:
    got = media(
        '<script type="application/ld+json">{"@type": "Article", "image": ["/j1.jpg", {"@type": "ImageObject",'
        ' "url": "/j2.jpg"}], "thumbnailUrl": "/j3.jpg", "author": {"name": "x", "url": "/about"}}</script>'
        '<script type="application/ld+json">{not json</script><script>var image = "/js.jpg";</script>'
    )
    assert got == {u("/j1.jpg"): "meta", u("/j2.jpg"): "meta", u("/j3.jpg"): "meta"}


def test_preload_image_with_imagesrcset() -> None:
    got = media(
        '<link rel="preload" as="image" href="/hero.jpg" imagesrcset="/hero-1x.jpg 1x, /hero-2x.jpg 2x">'
        '<link rel="preload" as="font" href="/font.woff2">'
    )
    assert got == {u("/hero.jpg"): "preload", u("/hero-1x.jpg"): "preload", u("/hero-2x.jpg"): "preload"}


def test_video_poster_and_sources() -> None:
    got = media(
        '<video poster="/poster.jpg" src="/v0.mp4"><source src="/v1.webm" type="video/webm">'
        '<source src="/v2.mp4"><track src="/subs.vtt"></video>'
    )
    assert got == {
        u("/poster.jpg"): "video-poster",
        u("/v0.mp4"): "video-source",
        u("/v1.webm"): "video-source",
        u("/v2.mp4"): "video-source",
    }


def test_links_to_media_files_are_media_other_links_are_pages() -> None:
    links = page(
        '<a href="/full/1.JPG">1</a><a href="2.jpeg?dl=1">2</a><a href="/v.webm">v</a>'
        '<a href="/gallery/">g</a><a href="next.html#top">n</a><a href="/img.php?id=3">php</a>'
        '<map><area href="/3.png"><area href="/map-page"></map>'
        '<a href="mailto:x@y.test">m</a><a href="javascript:void(0)">j</a><a href="#top">t</a>'
        '<a href="ftp://f.test/x.png">f</a><a href="tel:123">t</a>'
        '<meta http-equiv="refresh" content="5; url=/refreshed.html">'
    )
    assert {m.url: m.source for m in links.media} == {
        u("/full/1.JPG"): "link",
        u("/dir/2.jpeg?dl=1"): "link",
        u("/v.webm"): "link",
        u("/3.png"): "link",
    }
    assert links.pages == [
        u("/gallery/"),
        u("/dir/next.html"),
        u("/img.php?id=3"),
        u("/map-page"),
        u("/refreshed.html"),
    ]


def test_other_embeddings() -> None:
    got = media(
        '<body background="/bg.gif"><input type="image" src="/btn.png"><input type="text" src="/no.png">'
        '<table background="/tbg.png"><tr><td background="/td.png"></td></tr></table>'
        '<svg><image href="/svg1.png"/><image xlink:href="/svg2.png"/></svg>'
        '<object data="/obj.png" type="image/png"></object><embed src="/emb.svg">'
        '<img lowsrc="/low.jpg">'
    )
    assert got == {
        u("/bg.gif"): "embed",
        u("/btn.png"): "img",
        u("/tbg.png"): "embed",
        u("/td.png"): "embed",
        u("/svg1.png"): "embed",
        u("/svg2.png"): "embed",
        u("/obj.png"): "embed",
        u("/emb.svg"): "embed",
        u("/low.jpg"): "img",
    }


def test_frames_and_srcdoc() -> None:
    links = page(
        '<iframe src="/frame1.html"></iframe><frameset><frame src="frame2.html"></frameset>'
        '<iframe srcdoc="&lt;img src=&quot;/in-srcdoc.png&quot;&gt;&lt;a href=/from-srcdoc&gt;x&lt;/a&gt;"></iframe>'
        '<iframe src="javascript:alert(1)"></iframe><iframe src="about:blank"></iframe>'
        '<object data="/embedded.html"></object>'
    )
    assert links.frames == [u("/frame1.html"), u("/dir/frame2.html"), u("/embedded.html")]
    assert links.media == [MediaLink(u("/in-srcdoc.png"), "img")]
    assert links.pages == [u("/from-srcdoc")]


def test_noscript_fallback_images_are_found() -> None:
    got = media('<img class="lazy" data-src="/l.jpg"><noscript><img src="/ns.jpg"></noscript>')
    assert got == {u("/l.jpg"): "lazy", u("/ns.jpg"): "img"}


# --- base, entities, URL clean-up ----------------------------------------------------------------


def test_base_href_applies_to_everything_and_only_the_first_counts() -> None:
    links = page(
        '<head><base href="https://cdn.test/base/"><base href="/ignored/"></head>'
        '<img src="a.png"><a href="p.html">p</a><div style="background:url(b.png)"></div>'
        "<style>.x{background:url(c.png)}</style><link rel=stylesheet href=s.css>"
    )
    assert [m.url for m in links.media] == [
        "https://cdn.test/base/a.png",
        "https://cdn.test/base/b.png",
        "https://cdn.test/base/c.png",
    ]
    assert links.pages == ["https://cdn.test/base/p.html"]
    assert links.stylesheets == ["https://cdn.test/base/s.css"]


def test_relative_and_unusable_base_href() -> None:
    assert media('<base href="../other/"><img src="a.png">') == {u("/other/a.png"): "img"}
    assert media('<base href="javascript:alert(1)"><img src="a.png">') == {u("/dir/a.png"): "img"}
    assert media('<base target="_blank"><base href="/b/"><img src="a.png">') == {u("/b/a.png"): "img"}


def test_html_entities_in_urls_are_decoded() -> None:
    got = media(
        '<img src="/i.png?a=1&amp;b=2"><img src="/j.png?a=1&#38;b=3"><img src="/k&#x2E;png">'
        '<img srcset="/l.png?x=1&amp;y=2 2x"><div style="background:url(&apos;/m.png&apos;)"></div>'
        '<img src="/caf&eacute;.png">'
    )
    assert got == {
        u("/i.png?a=1&b=2"): "img",
        u("/j.png?a=1&b=3"): "img",
        u("/k.png"): "img",
        u("/l.png?x=1&y=2"): "srcset",
        u("/m.png"): "inline-style",
        u("/caf%C3%A9.png"): "img",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  /a.png \n", u("/a.png")),
        ("/a\n.p\tng", u("/a.png")),
        ("\\\\cdn.test\\img\\a.png", "http://cdn.test/img/a.png"),
        ("/a b.png", u("/a%20b.png")),
        ("http://bücher.test/ä.png", "http://xn--bcher-kva.test/%C3%A4.png"),
        ("/a.png#frag", u("/a.png")),
        ("HTTP://SITE.TEST/A.png", "http://site.test/A.png"),
        ("data:image/png;base64,AAAA", None),
        ("DATA:image/png;base64,AAAA", None),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("#only-fragment", None),
        ("", None),
        ("   ", None),
        ("ftp://x.test/a.png", None),
        ("file:///etc/passwd", None),
        ("http://x.test:99999/a.png", None),
        ("http://x.test:port/a.png", None),
        ("http://", None),
        ("https://:80/x.png", None),
        ("/" + "a" * 9000, None),
    ],
)
def test_clean_url(raw: str, expected: str | None) -> None:
    assert clean_url(raw, PAGE) == expected


def test_has_media_extension() -> None:
    assert has_media_extension("http://x.test/a/b.JPEG?x=1")
    assert has_media_extension("http://x.test/v.webm")
    assert not has_media_extension("http://x.test/a.jpg/")
    assert not has_media_extension("http://x.test/page.html")
    assert not has_media_extension("http://x.test/photo?format=.jpg")
    assert not has_media_extension("http://x.test/")


def test_repeats_keep_first_source_and_document_order() -> None:
    links = page('<img src="/a.png"><a href="/a.png">a</a><img data-src="/b.png"><img src="/b.png">')
    assert links.media == [MediaLink(u("/a.png"), "img"), MediaLink(u("/b.png"), "lazy")]


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n\t ",
        b"\x00" * 1000,
        bytes(range(256)) * 40,
        b"<",
        b"<img src=",
        b"<img src='/unterminated.png",
        b"<html><body><div><<table></td>\x00\xff\xfe<a href='/p'<img src=\"\"><p>unclosed <b><i></body",
        b"<?xml version='1.0' encoding='utf-8'?><html><body><img src='/x.png'></body></html>",
        b"<!DOCTYPE html><html><head><meta charset='no-such-charset'></head><body><img src='/x.png'>",
        b"<svg><foreignObject><img src='/x.png'></foreignObject></svg>",
        b"<img src='/a.png' " + b"x" * 100_000 + b">",
        b"<style>" + b"{" * 50_000 + b"url(/deep.png)" + b"}" * 50_000 + b"</style>",
        b"<div style='" + b"(" * 50_000 + b"url(/deep.png)" + b"'></div>",
        b'<script type="application/ld+json">' + b"[" * 50_000 + b"]" * 50_000 + b"</script>",
        b"\xef\xbb\xbf<img src='/bom.png'>",
        "<img src='/utf16.png'>".encode("utf-16"),
        b"<img src='/\xff\xfe.png'>",
    ],
)
def test_hostile_bodies_never_raise(body: bytes) -> None:
    for content_type in ("text/html", "text/html; charset=utf-8", "text/html; charset=bogus", None):
        links = extract_page(PAGE, body, content_type, None)
        assert isinstance(links, PageLinks)
        assert all(m.url.startswith("http://") for m in links.media)


def test_deeply_nested_markup_still_yields_what_a_parser_can_reach() -> None:
    body = "<div>" * 20_000 + '<img src="/deep.png">' + "</div>" * 20_000 + '<img src="/after.png">'
    links = page(body)
    assert isinstance(links, PageLinks)  # libxml2 caps nesting; what lies past the cap may be lost


def test_link_lists_are_capped() -> None:
    body = "".join(f'<img src="/i{n}.png"><a href="/p{n}">p</a>' for n in range(MAX_LINKS + 50))
    links = page(body)
    assert len(links.media) == MAX_LINKS and len(links.pages) == MAX_LINKS
    assert links.truncated
    assert not page('<img src="/one.png">').truncated


@pytest.mark.parametrize(
    ("body", "content_type", "encoding"),
    [
        ('<meta charset="iso-8859-1"><img src="/caf\xe9.png">'.encode("latin-1"), "text/html", None),
        ('<img src="/caf\xe9.png">'.encode("latin-1"), "text/html; charset=ISO-8859-1", None),
        ('<img src="/caf\xe9.png">'.encode("latin-1"), "text/html", "latin-1"),
        ('<img src="/caf\xe9.png">'.encode("cp1252"), "text/html", None),  # undeclared: guessed
        ('<img src="/caf\xe9.png">'.encode(), "text/html; charset=bogus-charset", None),
        ('<meta charset="utf-8"><img src="/caf\xe9.png">'.encode("utf-16"), "text/html", None),  # BOM wins
        ('<meta http-equiv="Content-Type" content="text/html; charset=windows-1252"><img src="/caf\xe9.png">'.encode(
            "cp1252"), None, None),
    ],
)
def test_encodings_from_header_meta_bom_and_guess(body: bytes, content_type: str | None, encoding: str | None) -> None:
    assert [m.url for m in page(body, content_type=content_type, encoding=encoding).media] == [u("/caf%C3%A9.png")]


def test_header_charset_wins_over_meta_and_broken_bytes_become_replacement() -> None:
    body = '<meta charset="iso-8859-1"><img src="/\u00e9t\u00e9.png">'.encode()
    assert [m.url for m in page(body, content_type="text/html; charset=utf-8").media] == [u("/%C3%A9t%C3%A9.png")]
    broken = b'<meta charset="utf-8"><img src="/ok.png"><img src="/bad\xc3\x28.png">'
    urls = [m.url for m in page(broken).media]
    assert urls[0] == u("/ok.png") and urls[1].startswith(u("/bad"))
    assert "\ufffd" in decode_html(b"\xc3\x28", "text/html; charset=utf-8")


# --- CSS tokenizer corner cases -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a{background:url(x.png)}", ["x.png"]),
        ("a{background:url( 'x y.png' )}", ["x y.png"]),
        ('a{background:url("x\\"q.png")}', ['x"q.png']),
        ("a{background:url(x\\).png)}", ["x).png"]),
        ("a{/* url(no.png) */background:url(yes.png)}", ["yes.png"]),
        ("a{background:url(bad url.png)}", []),
        ("a{background:u\\72l(esc.png)}", ["esc.png"]),
        ("a{background:url(unterminated.png", ["unterminated.png"]),
        ("a{content:'url(no.png)'}", []),
        ("a{background:src('s.png')}", ["s.png"]),
        ("a{background:-webkit-image-set('w1.png' 1x, 'w2.png' 2x)}", ["w1.png", "w2.png"]),
    ],
)
def test_css_tokenizer_cases(css: str, expected: list[str]) -> None:
    got, _imports = css_urls(css)
    assert got == expected


# --- what a body is -------------------------------------------------------------------------------


def _image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tiff"),
     ("ICO", "ico")],
)
def test_sniff_by_magic_bytes_whatever_the_content_type(fmt: str, kind: str) -> None:
    data = _image_bytes(fmt)
    for content_type in (None, "text/html", "application/octet-stream", "image/png"):
        assert sniff_media(data, content_type) == kind


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", MediaKind.AVIF),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", MediaKind.AVIF),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", MediaKind.HEIC),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", MediaKind.MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", MediaKind.MOV),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm", MediaKind.WEBM),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", MediaKind.MKV),
        (b"\xff\x0a\xfa\x7f", MediaKind.JXL),
        (b'<?xml version="1.0"?>\n<!-- c --><svg xmlns="http://www.w3.org/2000/svg"></svg>', MediaKind.SVG),
        (b"  <svg width='1'></svg>", MediaKind.SVG),
    ],
)
def test_sniff_containers_and_svg(head: bytes, kind: MediaKind) -> None:
    assert sniff_media(head, None) == kind


def test_sniff_falls_back_to_content_type_and_refuses_html_and_empty() -> None:
    assert sniff_media(b"\x01\x02unknown", "image/jpeg; charset=binary") == "jpeg"
    assert sniff_media(b"\x01\x02unknown", "IMAGE/X-Exotic") == "image"
    assert sniff_media(b"\x01\x02unknown", "video/x-flv") == "video"
    assert sniff_media(b"\x01\x02unknown", "video/mp4") == "mp4"
    assert sniff_media(b"\x01\x02unknown", "application/octet-stream") is None
    assert sniff_media(b"\x01\x02unknown", None) is None
    assert sniff_media(b"<!DOCTYPE html><html><body>Not found</body></html>", "image/png") is None
    assert sniff_media(b"<html><body>soft 404", "image/jpeg") is None
    assert sniff_media(b"", "image/png") is None
    assert sniff_media(b"not xml at all", "image/svg+xml") is None
    assert sniff_media(b"BM this is text", "text/plain") is None
    assert sniff_media(b"RIFF\x00\x00\x00\x00WAVEfmt ", None) is None
