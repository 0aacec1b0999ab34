"""Crawler stage scope rules: which page URLs a campaign follows (media may be hosted anywhere).

A campaign's scope is its seeds' hosts, their whole site (subdomains included), or a list of
domains, narrowed by URL include patterns and excluded patterns. The rules apply to pages (and
frames and stylesheets), never to media: images commonly live on a CDN, and an image shown on an
in-scope page is exactly what a campaign looks for. Every address is still subject to the
network safety checks of :mod:`crawler.middlewares`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from functools import cached_property
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ScopeMode(StrEnum):
    """Which hosts a campaign's pages may be on; values are storage keys."""

    HOST = "host"
    """Exactly the seeds' hosts."""
    SITE = "site"
    """The seeds' hosts and their subdomains (a leading ``www.`` is dropped first)."""
    DOMAINS = "domains"
    """The listed domains and their subdomains."""


def _normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def host_of(url: str) -> str:
    """Return the lower-case host name of a URL ('' if it has none or is malformed)."""
    try:
        return _normalise_host(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


class Scope(BaseModel):
    """What a campaign follows: a host rule plus URL include and exclude patterns.

    Patterns are Python regular expressions searched anywhere in the absolute URL.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: ScopeMode = Field(default=ScopeMode.HOST, description="Which hosts pages may be on.")
    domains: list[str] = Field(
        default_factory=list, description="Domains followed in 'domains' mode (subdomains included)."
    )
    include: list[str] = Field(
        default_factory=list, description="If any: a page URL must match one of these patterns."
    )
    exclude: list[str] = Field(default_factory=list, description="A page URL matching any of these is not followed.")

    @field_validator("domains")
    @classmethod
    def _clean_domains(cls, value: list[str]) -> list[str]:
        cleaned = [_normalise_host(d) for d in value]
        for domain in cleaned:
            if not domain or "/" in domain or ":" in domain or " " in domain:
                raise ValueError(f"not a domain name: {domain!r} (give names like 'example.org', no scheme or port)")
        return cleaned

    @field_validator("include", "exclude")
    @classmethod
    def _compile_check(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad URL pattern {pattern!r}: {exc}") from exc
        return value

    def rule(self, seeds: Iterable[str]) -> ScopeRule:
        """Return the compiled rule for a campaign with these seeds."""
        return ScopeRule(self, [host_of(s) for s in seeds])


class ScopeRule:
    """A :class:`Scope` compiled against a campaign's seed hosts.

    Args:
        scope: The scope.
        seed_hosts: Host names of the seeds.

    """

    def __init__(self, scope: Scope, seed_hosts: Iterable[str]) -> None:
        self.scope = scope
        hosts = frozenset(h for h in seed_hosts if h)
        if scope.mode is ScopeMode.HOST:
            self._exact = hosts
            self._domains: tuple[str, ...] = ()
        elif scope.mode is ScopeMode.SITE:
            self._exact = frozenset()
            self._domains = tuple(sorted({h.removeprefix("www.") for h in hosts}))
        else:
            self._exact = frozenset()
            self._domains = tuple(scope.domains)

    @cached_property
    def _include(self) -> list[re.Pattern[str]]:
        return [re.compile(p) for p in self.scope.include]

    @cached_property
    def _exclude(self) -> list[re.Pattern[str]]:
        return [re.compile(p) for p in self.scope.exclude]

    def host_allowed(self, host: str) -> bool:
        """Whether pages on ``host`` may be followed (before URL patterns)."""
        host = _normalise_host(host)
        return host in self._exact or any(_under(host, d) for d in self._domains)

    def refusal(self, url: str) -> str | None:
        """Say why a page URL is out of scope, or None if it may be followed."""
        host = host_of(url)
        if not self.host_allowed(host):
            return f"out of scope: host {host or '(none)'} is not in the campaign's {self.scope.mode.value} scope"
        if self._include and not any(p.search(url) for p in self._include):
            return "out of scope: matches no include pattern"
        for pattern in self._exclude:
            if pattern.search(url):
                return f"out of scope: matches exclude pattern {pattern.pattern!r}"
        return None

    def allows(self, url: str) -> bool:
        """Whether a page URL may be followed."""
        return self.refusal(url) is None
