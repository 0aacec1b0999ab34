"""Scope rules: which page URLs a campaign follows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crawler.scope import Scope, ScopeMode, host_of

SEEDS = ["http://www.site.example/", "https://blog.other.example:8443/start"]


@pytest.mark.parametrize(
    ("scope", "url", "allowed"),
    [
        (Scope(), "http://www.site.example/a", True),
        (Scope(), "http://WWW.Site.Example./b", True),
        (Scope(), "https://blog.other.example/p", True),  # ports and schemes do not matter
        (Scope(), "http://site.example/", False),
        (Scope(), "http://cdn.site.example/x", False),
        (Scope(mode=ScopeMode.SITE), "http://site.example/", True),
        (Scope(mode=ScopeMode.SITE), "http://cdn.site.example/x", True),
        (Scope(mode=ScopeMode.SITE), "http://evilsite.example/", False),
        (Scope(mode=ScopeMode.SITE), "http://site.example.evil.test/", False),
        (Scope(mode=ScopeMode.SITE), "http://other.example/", False),
        (Scope(mode=ScopeMode.DOMAINS, domains=["site.example"]), "http://a.b.site.example/", True),
        (Scope(mode=ScopeMode.DOMAINS, domains=["site.example"]), "https://blog.other.example/", False),
        (Scope(include=[r"/gallery/"]), "http://www.site.example/gallery/1", True),
        (Scope(include=[r"/gallery/"]), "http://www.site.example/about", False),
        (Scope(exclude=[r"\?sort=", r"/logout$"]), "http://www.site.example/list?sort=asc", False),
        (Scope(exclude=[r"\?sort=", r"/logout$"]), "http://www.site.example/logout", False),
        (Scope(exclude=[r"\?sort=", r"/logout$"]), "http://www.site.example/list", True),
        (Scope(), "not a url", False),
        (Scope(), "http://[::1/", False),
    ],
)
def test_scope_rules(scope: Scope, url: str, allowed: bool) -> None:
    rule = scope.rule(SEEDS)
    assert rule.allows(url) is allowed
    assert (rule.refusal(url) is None) is allowed


def test_refusals_say_why() -> None:
    rule = Scope(include=["/a"], exclude=["/a/private"]).rule(SEEDS)
    assert "host other.test" in (rule.refusal("http://other.test/a") or "")
    assert rule.refusal("http://www.site.example/b") == "out of scope: matches no include pattern"
    assert "exclude pattern '/a/private'" in (rule.refusal("http://www.site.example/a/private/x") or "")


def test_bad_scopes_are_rejected() -> None:
    with pytest.raises(ValidationError, match="bad URL pattern"):
        Scope(include=["[a-"])
    with pytest.raises(ValidationError, match="not a domain name"):
        Scope(mode=ScopeMode.DOMAINS, domains=["site.example:80"])
    with pytest.raises(ValidationError):
        Scope.model_validate({"mode": "host", "domain": ["x"]})


def test_host_of() -> None:
    assert host_of("http://User@Example.ORG.:80/x") == "example.org"
    assert host_of("mailto:x@y") == "" and host_of("http://[bad") == ""
