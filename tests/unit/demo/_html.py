"""A forgiving link and image extractor for the demo-site tests (stdlib html.parser)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        elif tag == "img" and values.get("src"):
            self.images.append(str(values["src"]))


def extract(page_path: str, html: str) -> tuple[list[str], list[str]]:
    """Links and image sources of a page, resolved to URL paths."""
    collector = _Collector()
    collector.feed(html)
    collector.close()

    def resolve(ref: str) -> str:
        return urlsplit(urljoin(f"http://site{page_path}", ref)).path

    return [resolve(r) for r in collector.links], [resolve(r) for r in collector.images]
