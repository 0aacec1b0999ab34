"""Crawler stage link finder: the media, pages, stylesheets and frames that one HTML page or stylesheet names.

Pure functions over bytes and strings (no Scrapy, no network), shared by the spider, the renderer
and the tests. Hostile input is the normal case here: any markup, any bytes, any encoding must
produce a (possibly empty) answer, never an exception. Every URL returned is absolute http(s),
without its fragment, percent-encoded the way Scrapy will request it.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html  # type: ignore[import-untyped]  # lxml ships no stubs
import tinycss2
import tinycss2.ast
from lxml.etree import LxmlError, ParserError  # type: ignore[import-untyped]
from tinycss2.bytes import decode_stylesheet_bytes
from w3lib.encoding import html_to_unicode
from w3lib.url import safe_url_string

MAX_LINKS = 10_000
"""Most URLs kept per list of one page; past it :attr:`PageLinks.truncated` is set."""

MAX_URL_LENGTH = 8192
"""Longer URLs are dropped: no real image URL needs more, and they bloat every record they reach."""

MAX_SRCDOC_DEPTH = 2
"""``<iframe srcdoc>`` documents are parsed inline, to this nesting depth."""

MAX_CSS_RULE_DEPTH = 32
"""Nested CSS rule blocks (``@media`` in ``@supports`` in ...) followed to this depth."""

MAX_JSON_LD_BYTES = 256 * 1024
"""Larger JSON-LD scripts are skipped rather than parsed."""


class MediaSource(StrEnum):
    """Which form of markup named a media URL (values are stable: they are recorded)."""

    IMG = "img"
    """``<img src>`` and ``<input type=image src>``."""
    SRCSET = "srcset"
    """A candidate of ``<img srcset>``."""
    PICTURE = "picture"
    """``<picture><source srcset|src>``."""
    LAZY = "lazy"
    """A lazy-loading attribute: ``data-src``, ``data-srcset``, ``data-original``, ``data-bg``..."""
    INLINE_STYLE = "inline-style"
    """CSS ``url()`` in a ``style`` attribute."""
    STYLE_BLOCK = "style-block"
    """CSS ``url()`` in a ``<style>`` element."""
    STYLESHEET = "stylesheet"
    """CSS ``url()`` in a linked or imported stylesheet."""
    META = "meta"
    """``og:image``, ``twitter:image`` and similar metadata, ``<link rel=image_src>``, JSON-LD."""
    PRELOAD = "preload"
    """``<link rel=preload as=image href|imagesrcset>``."""
    VIDEO_POSTER = "video-poster"
    """``<video poster>``."""
    VIDEO_SOURCE = "video-source"
    """``<video src>`` and ``<video><source src>``."""
    LINK = "link"
    """``<a href>`` or ``<area href>`` to a file with a media extension."""
    EMBED = "embed"
    """``<object data>``, ``<embed src>``, SVG ``<image href>``, the ``background`` attribute."""
    RENDERED = "rendered"
    """A media response the browser received while rendering the page (see :mod:`crawler.render`)."""


class MediaKind(StrEnum):
    """What a response body is, by its magic bytes or, failing those, its Content-Type."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    BMP = "bmp"
    TIFF = "tiff"
    AVIF = "avif"
    HEIC = "heic"
    JXL = "jxl"
    ICO = "ico"
    SVG = "svg"
    """Vector: recorded as media, but no raster hash applies to it until it is rasterised."""
    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"
    MKV = "mkv"
    OTHER_IMAGE = "image"
    """An ``image/*`` Content-Type whose bytes no magic number above recognises."""
    OTHER_VIDEO = "video"
    """A ``video/*`` Content-Type whose bytes no magic number above recognises."""


@dataclass(frozen=True)
class MediaLink:
    """One media URL a page or stylesheet names, and the form that named it."""

    url: str
    source: str


@dataclass(frozen=True)
class PageLinks:
    """Everything one HTML page names that the crawler may fetch next.

    ``pages`` are ``<a href>``/``<area href>`` targets (and ``<meta http-equiv=refresh>``) that
    are not media files; ``frames`` are ``<iframe src>``/``<frame src>`` documents. Scope is the
    caller's business: both lists hold every http(s) URL, on any host.
    """

    media: list[MediaLink] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    stylesheets: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    truncated: bool = False
    """Some list reached :data:`MAX_LINKS` and later URLs were dropped."""


@dataclass(frozen=True)
class StylesheetLinks:
    """What one stylesheet names: media in ``url()`` and further stylesheets in ``@import``."""

    media: list[MediaLink] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)


MEDIA_EXTENSIONS = frozenset(
    {
        "jpg", "jpeg", "jpe", "jfif", "pjpeg", "pjp", "png", "apng", "gif", "webp", "bmp", "dib",
        "tif", "tiff", "avif", "heic", "heif", "jxl", "svg", "svgz", "ico",
        "mp4", "m4v", "webm", "mov", "mkv", "ogv",
    }
)  # fmt: skip
"""File extensions that mark a link as a link to media."""

IMAGE_META_KEYS = frozenset(
    {
        "og:image", "og:image:url", "og:image:secure_url", "og:video", "og:video:url",
        "og:video:secure_url", "twitter:image", "twitter:image:src", "twitter:image:url",
        "twitter:image0", "twitter:image1", "twitter:image2", "twitter:image3",
        "image", "thumbnailurl", "contenturl", "msapplication-tileimage",
    }
)  # fmt: skip
"""``<meta property|name|itemprop>`` keys (lower-case) whose ``content`` is a media URL."""

LAZY_URL_ATTRS = frozenset(
    {
        "data-src", "data-original", "data-lazy-src", "data-lazy", "data-lazyload", "data-bg",
        "data-bg-src", "data-background", "data-background-image", "data-bgset", "data-image",
        "data-img", "data-img-src", "data-full", "data-full-src", "data-fullsrc", "data-hi-res",
        "data-hires", "data-highres", "data-large", "data-large-src", "data-large-file",
        "data-medium-file", "data-orig-file", "data-orig-src", "data-zoom", "data-zoom-image",
        "data-zoom-src", "data-echo", "data-poster", "data-thumb", "data-thumbnail",
        "data-defer-src", "data-deferred-src", "data-ll-src", "data-normal", "data-retina",
        "data-src-retina", "data-lowsrc", "data-pin-media", "data-flickity-lazyload",
        "data-owl-lazy", "data-lazy-original", "data-url-image", "data-photo", "data-picture",
    }
)  # fmt: skip
"""Lazy-loading attributes whose value is one media URL (or a CSS ``url()``) on any element."""

LAZY_SRCSET_ATTRS = frozenset({"data-srcset", "data-lazy-srcset", "data-original-set", "data-bgset"})
"""Lazy-loading attributes whose value is a ``srcset`` list."""

LAZY_NAME_HINTS = ("src", "img", "image", "bg", "background", "poster", "thumb", "lazy", "original", "photo", "zoom")
"""Other ``data-*`` attributes whose name holds one of these are taken when their value has a media extension."""

SKIPPED_SCHEMES = ("data:", "javascript:", "mailto:", "tel:", "blob:", "about:", "vbscript:", "file:")
WHITESPACE = " \t\n\r\f"
_STRIPPED = "".join(chr(c) for c in range(0x21)) + "\x7f"
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_REFRESH_URL = re.compile(r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(['"]?)(.+?)\1\s*$""", re.IGNORECASE | re.DOTALL)
_CSS_URL_FUNCTIONS = frozenset({"url", "src"})
_CSS_IMAGE_SET = frozenset({"image-set", "-webkit-image-set", "-moz-image-set", "-o-image-set"})
_CSS_SKIPPED_AT_RULES = frozenset(
    {"font-face", "namespace", "charset", "font-feature-values", "property", "counter-style", "font-palette-values"}
)
_JSON_LD_KEYS = frozenset({"image", "thumbnailurl", "contenturl", "logo", "photo"})


def clean_url(raw: str, base: str) -> str | None:
    """Absolute, fetchable form of a URL found in markup, resolved against ``base``.

    Follows what browsers do with sloppy markup: leading and trailing control characters and
    spaces are stripped, tabs and newlines inside are removed, backslashes count as slashes.

    Returns:
        The URL without its fragment, or None for anything the crawler does not fetch
        (``data:``, ``javascript:``, fragment-only, other schemes, no host, a bad port).

    """
    link = _TAB_NEWLINE.sub("", raw.strip(_STRIPPED))
    if not link or link.startswith("#") or len(link) > MAX_URL_LENGTH:
        return None
    if link[:11].lower().startswith(SKIPPED_SCHEMES):
        return None
    head, sep, tail = link.partition("?")
    link = head.replace("\\", "/") + sep + tail
    try:
        own = urlsplit(link)
        if own.scheme.lower() in ("http", "https") and not own.hostname and link[len(own.scheme) + 1 :][:2] == "//":
            return None  # "http://" alone or "http://:80/": urljoin would quietly fall back to the base
        absolute, _fragment = urldefrag(urljoin(base, link))
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        _ = parts.port  # raises ValueError on a port that is not a number in range
        url = safe_url_string(absolute)
    except (ValueError, UnicodeError):
        return None
    return url if len(url) <= MAX_URL_LENGTH else None


def has_media_extension(url: str) -> bool:
    """Whether the URL's path ends in a media file extension (``.jpg``, ``.webm``...)."""
    path = urlsplit(url).path
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return False
    return last.rsplit(".", 1)[-1].lower() in MEDIA_EXTENSIONS


def srcset_urls(value: str) -> list[str]:
    """Candidate URLs of a ``srcset`` attribute, parsed as the HTML standard says browsers do.

    A candidate's URL runs to the next whitespace, so URLs may contain commas
    (``a.jpg?crop=1,2 2x``) and ``data:`` URLs stay whole; descriptors are skipped up to the next
    comma outside parentheses.
    """
    urls: list[str] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and (value[pos] in WHITESPACE or value[pos] == ","):
            pos += 1
        if pos >= end:
            break
        start = pos
        while pos < end and value[pos] not in WHITESPACE:
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while pos < end:
                char = value[pos]
                pos += 1
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth = max(0, depth - 1)
                elif char == "," and depth == 0:
                    break
        if url:
            urls.append(url)
    return urls


def _walk_css_tokens(tokens: Iterable[Any]) -> Iterator[str]:
    # An explicit stack, not recursion: hostile CSS nests blocks thousands deep.
    stack: list[Iterator[Any]] = [iter(tokens)]
    while stack:
        token = next(stack[-1], None)
        if token is None:
            stack.pop()
            continue
        if isinstance(token, tinycss2.ast.URLToken):
            yield token.value
        elif isinstance(token, tinycss2.ast.FunctionBlock):
            name = token.lower_name
            if name in _CSS_URL_FUNCTIONS:
                for arg in token.arguments:
                    if isinstance(arg, tinycss2.ast.StringToken):
                        yield arg.value
                        break
            else:
                if name in _CSS_IMAGE_SET:
                    # Inside image-set() a bare string is an image URL.
                    yield from (a.value for a in token.arguments if isinstance(a, tinycss2.ast.StringToken))
                stack.append(iter(token.arguments))
        elif isinstance(
            token,
            tinycss2.ast.ParenthesesBlock | tinycss2.ast.SquareBracketsBlock | tinycss2.ast.CurlyBracketsBlock,
        ):
            stack.append(iter(token.content))


def _import_target(prelude: list[Any]) -> str | None:
    for token in prelude:
        if isinstance(token, tinycss2.ast.WhitespaceToken | tinycss2.ast.Comment):
            continue
        if isinstance(token, tinycss2.ast.StringToken | tinycss2.ast.URLToken):
            return str(token.value)
        if isinstance(token, tinycss2.ast.FunctionBlock) and token.lower_name == "url":
            for arg in token.arguments:
                if isinstance(arg, tinycss2.ast.StringToken):
                    return str(arg.value)
        return None
    return None


def _walk_css_rules(rules: Iterable[Any], media: list[str], imports: list[str], depth: int = 0) -> None:
    for rule in rules:
        if isinstance(rule, tinycss2.ast.Declaration):
            media.extend(_walk_css_tokens(rule.value))
        elif isinstance(rule, tinycss2.ast.AtRule):
            keyword = rule.lower_at_keyword
            if keyword == "import":
                target = _import_target(rule.prelude)
                if target is not None:
                    imports.append(target)
            elif keyword in _CSS_SKIPPED_AT_RULES or rule.content is None:
                continue  # fonts and namespaces are not media
            elif depth < MAX_CSS_RULE_DEPTH:
                nested = tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)
                _walk_css_rules(nested, media, imports, depth + 1)
        elif isinstance(rule, tinycss2.ast.QualifiedRule) and depth < MAX_CSS_RULE_DEPTH:
            # parse_blocks_contents also yields nested rules (CSS nesting), walked the same way.
            nested = tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)
            _walk_css_rules(nested, media, imports, depth + 1)


def css_urls(css: str, *, inline: bool = False) -> tuple[list[str], list[str]]:
    r"""Raw URLs in a stylesheet (or, with ``inline``, a ``style`` attribute's declarations).

    Uses tinycss2's tokenizer, so quotes, escapes (``url(a\\ b.png)``, ``"\\61.png"``) and comments
    are read as browsers read them. ``@font-face`` and ``@namespace`` URLs are not media and are
    left out.

    Returns:
        ``(media, imports)``: URLs in ``url()``/``image-set()``, and ``@import`` targets; both
        as written (relative URLs unresolved).

    """
    media: list[str] = []
    imports: list[str] = []
    if inline:
        media.extend(_walk_css_tokens(tinycss2.parse_component_value_list(css, skip_comments=True)))
    else:
        rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
        _walk_css_rules(rules, media, imports)
    return media, imports


def decode_stylesheet(body: bytes, content_type: str | None = None) -> str:
    """Text of a stylesheet's bytes: BOM, then the Content-Type charset, then ``@charset``, then UTF-8."""
    charset = _charset_of(content_type)
    try:
        text, _encoding = decode_stylesheet_bytes(body, protocol_encoding=charset)
    except (LookupError, ValueError):
        return body.decode("utf-8", "replace")
    return str(text)


def extract_stylesheet(url: str, css: str | bytes, content_type: str | None = None) -> StylesheetLinks:
    """Media URLs and ``@import`` targets of one linked stylesheet, resolved against its own URL.

    Args:
        url: The stylesheet's final URL (its relative URLs resolve against it).
        css: Its text, or its bytes (decoded with :func:`decode_stylesheet`).
        content_type: Its Content-Type header, used only when ``css`` is bytes.

    """
    text = decode_stylesheet(css, content_type) if isinstance(css, bytes) else css
    raw_media, raw_imports = css_urls(text)
    media = _LinkList()
    for raw in raw_media:
        media.add_media(clean_url(raw, url), MediaSource.STYLESHEET)
    imports = _LinkList()
    for raw in raw_imports:
        imports.add(clean_url(raw, url))
    return StylesheetLinks(media=media.media(), imports=imports.urls())


def _charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("'\"")
            try:
                return codecs.lookup(charset).name if charset else None
            except LookupError:
                return None
    return None


def decode_html(body: bytes, content_type: str | None = None, encoding: str | None = None) -> str:
    """Text of an HTML body: BOM, then ``encoding`` or the Content-Type charset, then ``<meta>``, then a guess.

    The guess is w3lib's, a browser's: UTF-8 where the bytes are valid UTF-8, else the legacy encoding
    the bytes look like (windows-1252 for Western text).

    Undecodable bytes become U+FFFD; this never raises.
    """
    header = content_type or "text/html"
    if encoding:
        with contextlib.suppress(LookupError):
            header = f"text/html; charset={codecs.lookup(encoding).name}"
    try:
        _name, text = html_to_unicode(header, body)
    except (LookupError, ValueError, TypeError):
        return body.decode("utf-8", "replace")
    return text


class _LinkList:
    """URLs in first-seen order without repeats, capped at :data:`MAX_LINKS`."""

    def __init__(self) -> None:
        self._items: dict[str, str] = {}
        self.truncated = False

    def add(self, url: str | None, source: str = "") -> None:
        if url is None or url in self._items:
            return
        if len(self._items) >= MAX_LINKS:
            self.truncated = True
            return
        self._items[url] = source

    def add_media(self, url: str | None, source: MediaSource) -> None:
        self.add(url, source.value)

    def urls(self) -> list[str]:
        return list(self._items)

    def media(self) -> list[MediaLink]:
        return [MediaLink(url, source) for url, source in self._items.items()]


class _PageWalker:
    """One pass over a parsed document, filling the four lists."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.media = _LinkList()
        self.pages = _LinkList()
        self.stylesheets = _LinkList()
        self.frames = _LinkList()

    def url(self, raw: str | None) -> str | None:
        return None if raw is None else clean_url(raw, self.base)

    def add_media(self, raw: str | None, source: MediaSource) -> None:
        self.media.add_media(self.url(raw), source)

    def add_srcset(self, value: str | None, source: MediaSource) -> None:
        if value:
            for raw in srcset_urls(value):
                self.add_media(raw, source)

    def add_css(self, css: str, source: MediaSource, *, inline: bool) -> None:
        raw_media, raw_imports = css_urls(css, inline=inline)
        for raw in raw_media:
            self.add_media(raw, source)
        for raw in raw_imports:
            self.stylesheets.add(self.url(raw))

    def walk(self, root: Any, srcdoc_depth: int = 0) -> None:
        for element in root.iter():
            tag = element.tag
            if not isinstance(tag, str):
                continue  # comments and processing instructions
            handler = _TAG_HANDLERS.get(tag.lower())
            if handler is not None:
                handler(self, element, srcdoc_depth)
            self._any_element(element)

    def _any_element(self, element: Any) -> None:
        attrib = element.attrib
        style = attrib.get("style")
        if style and "url" in style.lower():
            self.add_css(style, MediaSource.INLINE_STYLE, inline=True)
        background = attrib.get("background")
        if background:
            self.add_media(background, MediaSource.EMBED)
        for name, value in attrib.items():
            if not name.startswith("data-") or not value:
                continue
            value = value.strip()
            if not value or value[0] in "{[":
                continue  # JSON configuration, not a URL
            if name in LAZY_SRCSET_ATTRS or name.endswith("srcset"):
                self.add_srcset(value, MediaSource.LAZY)
            elif "url(" in value.lower():
                self.add_css(value, MediaSource.LAZY, inline=True)
            elif name in LAZY_URL_ATTRS:
                self.add_media(value, MediaSource.LAZY)
            elif any(hint in name for hint in LAZY_NAME_HINTS) and not any(c in value for c in WHITESPACE):
                url = self.url(value)
                if url is not None and has_media_extension(url):
                    self.media.add_media(url, MediaSource.LAZY)

    # --- one method per element kind, dispatched through _TAG_HANDLERS ---

    def img(self, element: Any, _depth: int) -> None:
        in_picture = _media_container(element) == "picture"
        self.add_media(element.get("src"), MediaSource.IMG)
        self.add_srcset(element.get("srcset"), MediaSource.PICTURE if in_picture else MediaSource.SRCSET)
        self.add_media(element.get("lowsrc"), MediaSource.IMG)

    def input(self, element: Any, _depth: int) -> None:
        if (element.get("type") or "").strip().lower() == "image":
            self.add_media(element.get("src"), MediaSource.IMG)

    def source(self, element: Any, _depth: int) -> None:
        container = _media_container(element)
        source = MediaSource.VIDEO_SOURCE if container in ("video", "audio") else MediaSource.PICTURE
        self.add_media(element.get("src"), source)
        self.add_srcset(element.get("srcset"), source)

    def video(self, element: Any, _depth: int) -> None:
        self.add_media(element.get("poster"), MediaSource.VIDEO_POSTER)
        self.add_media(element.get("src"), MediaSource.VIDEO_SOURCE)

    def image(self, element: Any, _depth: int) -> None:
        # SVG <image>; the HTML parser keeps the xlink prefix in the attribute name.
        self.add_media(element.get("href") or element.get("xlink:href"), MediaSource.EMBED)

    def object(self, element: Any, _depth: int) -> None:
        self._embedded(element.get("data"), element.get("type"))

    def embed(self, element: Any, _depth: int) -> None:
        self._embedded(element.get("src"), element.get("type"))

    def _embedded(self, raw: str | None, mime: str | None) -> None:
        url = self.url(raw)
        if url is None:
            return
        kind = (mime or "").strip().lower()
        if kind.startswith(("image/", "video/")) or has_media_extension(url):
            self.media.add_media(url, MediaSource.EMBED)
        elif not kind or kind in ("text/html", "application/xhtml+xml"):
            self.frames.add(url)

    def anchor(self, element: Any, _depth: int) -> None:
        url = self.url(element.get("href"))
        if url is None:
            return
        if has_media_extension(url):
            self.media.add_media(url, MediaSource.LINK)
        else:
            self.pages.add(url)

    def frame(self, element: Any, depth: int) -> None:
        self.frames.add(self.url(element.get("src")))
        srcdoc = element.get("srcdoc")
        if srcdoc and element.tag == "iframe" and depth < MAX_SRCDOC_DEPTH:
            root = _parse_html(srcdoc.encode("utf-8"))
            if root is not None:
                self.walk(root, depth + 1)

    def meta(self, element: Any, _depth: int) -> None:
        content = element.get("content")
        if not content:
            return
        for attr in ("property", "name", "itemprop"):
            key = (element.get(attr) or "").strip().lower()
            if key in IMAGE_META_KEYS:
                self.add_media(content, MediaSource.META)
                return
        if (element.get("http-equiv") or "").strip().lower() == "refresh":
            match = _REFRESH_URL.match(content)
            if match and match.group(2).strip():
                self.pages.add(self.url(match.group(2)))

    def link(self, element: Any, _depth: int) -> None:
        rel = set((element.get("rel") or "").lower().split())
        href = element.get("href")
        kind = (element.get("as") or "").strip().lower()
        if "stylesheet" in rel or (rel & {"preload", "prefetch"} and kind == "style"):
            self.stylesheets.add(self.url(href))
        elif rel & {"preload", "prefetch"} and kind == "image":
            self.add_media(href, MediaSource.PRELOAD)
            self.add_srcset(element.get("imagesrcset"), MediaSource.PRELOAD)
        elif "image_src" in rel or (element.get("itemprop") or "").strip().lower() in IMAGE_META_KEYS:
            self.add_media(href, MediaSource.META)

    def style(self, element: Any, _depth: int) -> None:
        css = element.text_content()
        if css:
            self.add_css(css, MediaSource.STYLE_BLOCK, inline=False)

    def script(self, element: Any, _depth: int) -> None:
        if (element.get("type") or "").strip().lower() != "application/ld+json":
            return
        text = element.text_content()
        if not text or len(text) > MAX_JSON_LD_BYTES:
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return
        for raw in _json_ld_images(data):
            self.add_media(raw, MediaSource.META)


def _media_container(element: Any) -> str:
    """The nearest enclosing ``picture``, ``video`` or ``audio`` element's tag, or ``""``.

    libxml2 does not know that ``<source>`` is a void element, so it nests what follows a
    ``<source>`` (the fallback ``<img>``, further sources) inside it; the nearest container
    ancestor, not the parent, says what a ``<source>`` or ``<img>`` belongs to.
    """
    for steps, ancestor in enumerate(element.iterancestors()):
        tag = ancestor.tag.lower() if isinstance(ancestor.tag, str) else ""
        if tag in ("picture", "video", "audio"):
            return tag
        if tag not in ("source", "img") or steps > 64:
            return ""
    return ""


def _json_ld_images(data: Any) -> Iterator[str]:
    stack: list[tuple[Any, bool]] = [(data, False)]
    seen = 0
    while stack and seen < 10_000:
        node, wanted = stack.pop()
        seen += 1
        if isinstance(node, str):
            if wanted:
                yield node
        elif isinstance(node, list):
            stack.extend((item, wanted) for item in node)
        elif isinstance(node, dict):
            for key, value in node.items():
                key_l = str(key).lower()
                if wanted and key_l in ("url", "contenturl"):
                    stack.append((value, True))
                else:
                    stack.append((value, key_l in _JSON_LD_KEYS))


_TAG_HANDLERS: dict[str, Callable[[_PageWalker, Any, int], None]] = {
    "img": _PageWalker.img,
    "input": _PageWalker.input,
    "source": _PageWalker.source,
    "video": _PageWalker.video,
    "image": _PageWalker.image,
    "object": _PageWalker.object,
    "embed": _PageWalker.embed,
    "a": _PageWalker.anchor,
    "area": _PageWalker.anchor,
    "iframe": _PageWalker.frame,
    "frame": _PageWalker.frame,
    "meta": _PageWalker.meta,
    "link": _PageWalker.link,
    "style": _PageWalker.style,
    "script": _PageWalker.script,
}

_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)


def _parse_html(data: bytes) -> Any:
    try:
        return lxml.html.document_fromstring(data, parser=_PARSER)
    except (ParserError, LxmlError, ValueError):
        return None


def _document_base(root: Any, url: str) -> str:
    for element in root.iter("base"):
        href = element.get("href")
        if href is None:
            continue
        candidate = clean_url(href, url)
        # A base that is not http(s) (javascript:, data:) is ignored, as it yields nothing fetchable.
        return candidate if candidate is not None else url
    return url


def extract_page(url: str, body: bytes, content_type: str | None, encoding: str | None) -> PageLinks:
    """Every media URL, page link, stylesheet and frame an HTML page names.

    Args:
        url: The page's final URL (after redirects); relative URLs resolve against it or its
            ``<base href>``.
        body: The raw response body.
        content_type: The Content-Type header (its charset is honoured), if any.
        encoding: An encoding already decided by the caller (Scrapy's ``response.encoding``),
            used in place of the header's charset; a BOM still wins.

    Returns:
        The links, each list in document order without repeats. Malformed markup and broken
        encodings give whatever a browser would still find; nothing raises.

    """
    text = decode_html(body, content_type, encoding)
    if not text.strip():
        return PageLinks()
    root = _parse_html(text.encode("utf-8", "replace"))
    if root is None:
        return PageLinks()
    walker = _PageWalker(_document_base(root, url))
    walker.walk(root)
    return PageLinks(
        media=walker.media.media(),
        pages=walker.pages.urls(),
        stylesheets=walker.stylesheets.urls(),
        frames=walker.frames.urls(),
        truncated=any(
            lst.truncated for lst in (walker.media, walker.pages, walker.stylesheets, walker.frames)
        ),
    )


# --- what a response body is ---------------------------------------------------------------------

_ISO_BMFF_BRANDS: dict[bytes, MediaKind] = {
    b"avif": MediaKind.AVIF, b"avis": MediaKind.AVIF,
    b"heic": MediaKind.HEIC, b"heix": MediaKind.HEIC, b"hevc": MediaKind.HEIC, b"hevx": MediaKind.HEIC,
    b"heim": MediaKind.HEIC, b"heis": MediaKind.HEIC, b"mif1": MediaKind.HEIC, b"msf1": MediaKind.HEIC,
    b"qt  ": MediaKind.MOV,
}  # fmt: skip

_CONTENT_TYPES: dict[str, MediaKind] = {
    "image/jpeg": MediaKind.JPEG, "image/jpg": MediaKind.JPEG, "image/pjpeg": MediaKind.JPEG,
    "image/png": MediaKind.PNG, "image/apng": MediaKind.PNG, "image/x-png": MediaKind.PNG,
    "image/gif": MediaKind.GIF, "image/webp": MediaKind.WEBP, "image/bmp": MediaKind.BMP,
    "image/x-bmp": MediaKind.BMP, "image/x-ms-bmp": MediaKind.BMP, "image/tiff": MediaKind.TIFF,
    "image/avif": MediaKind.AVIF, "image/heic": MediaKind.HEIC, "image/heif": MediaKind.HEIC,
    "image/jxl": MediaKind.JXL, "image/x-icon": MediaKind.ICO, "image/vnd.microsoft.icon": MediaKind.ICO,
    "image/svg+xml": MediaKind.SVG, "video/mp4": MediaKind.MP4, "video/quicktime": MediaKind.MOV,
    "video/webm": MediaKind.WEBM, "video/x-matroska": MediaKind.MKV,
}  # fmt: skip

_SVG_ROOT = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]", re.IGNORECASE | re.DOTALL
)
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL)


def _magic(head: bytes) -> MediaKind | None:
    if head.startswith(b"\xff\xd8\xff"):
        return MediaKind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaKind.PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return MediaKind.GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return MediaKind.WEBP
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return MediaKind.TIFF
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return MediaKind.JXL
    # "BM" alone is too common a start of text; the DIB header size that follows confirms it.
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return MediaKind.BMP
    if head[4:8] == b"ftyp":
        return _iso_bmff(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaKind.WEBM if b"webm" in head[:64] else MediaKind.MKV
    if head.startswith(b"\x00\x00\x01\x00") and len(head) >= 6 and 0 < int.from_bytes(head[4:6], "little") <= 64:
        return MediaKind.ICO
    return None


def _iso_bmff(head: bytes) -> MediaKind:
    size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(size, len(head)), 4)}
    # Generic HEIF brands carry the AVIF brand among the compatible ones when the image is AV1.
    if major in (b"mif1", b"msf1") and compatible & {b"avif", b"avis"}:
        return MediaKind.AVIF
    return _ISO_BMFF_BRANDS.get(major, MediaKind.MP4)


def sniff_media(body: bytes, content_type: str | None) -> str | None:
    """What kind of media a response body is: by its magic bytes first, its Content-Type second.

    Servers lie about Content-Type in both directions (images as ``text/html`` or
    ``application/octet-stream``, error pages as ``image/png``), so the bytes decide when they
    can: a recognised magic number wins whatever the header says, and a body that is plainly
    HTML is never media.

    Args:
        body: The response body (the first few hundred bytes are enough).
        content_type: The Content-Type header, if any.

    Returns:
        A :class:`MediaKind` value, or None if the body is not media (or is empty).

    """
    if not body:
        return None
    head = body[:512]
    kind = _magic(head)
    if kind is not None:
        return kind.value
    if _SVG_ROOT.match(head):
        return MediaKind.SVG.value
    if _HTML_START.match(head):
        return None
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _CONTENT_TYPES:
        known = _CONTENT_TYPES[mime]
        # An SVG must look like XML; anything else under that label is not one.
        if known is MediaKind.SVG and not head.lstrip().startswith(b"<"):
            return None
        return known.value
    if mime.startswith("image/"):
        return MediaKind.OTHER_IMAGE.value
    if mime.startswith("video/"):
        return MediaKind.OTHER_VIDEO.value
    return None
