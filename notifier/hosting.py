"""Notifier stage: who hosts a URL, and whom else to tell (CDN, hotline).

URL → host name → DNS A/AAAA (unless the crawler recorded the IP) → AS name and country from
geoip2fast's bundled data (offline) → abuse contact from RDAP (cached in the store) → a
provider record. The operator's provider directory overrides and enriches every step. CDNs are
recognised from the AS and the response headers the crawler recorded (a data file, not code),
and a country → hotline table says which hotline also hears of it.

Nothing here downloads data: the IP data ships inside the geoip2fast package, RDAP is queried
only at a configured base URL, and the IANA bootstrap is read only from a configured local file.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog
from babel.languages import get_official_languages
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConfigError, TransientError
from core.geo import GEOIP_DATA_FILE as GEOIP_DATA_FILE
from core.geo import GeoLookup
from core.geo import NetworkFacts as NetworkFacts
from core.messages import utcnow
from core.optional import require
from core.store import Store
from core.store.tables.notifier import Provider, RdapAnswer
from notifier.i18n import SOURCE_LANGUAGE, negotiate
from notifier.settings import NotifierSettings
from notifier.states import NoticeRole, ProviderChannel, ProviderKind

log = structlog.get_logger(__name__)

DATA_DIR = Path(__file__).parent / "data"


# ---------------------------------------------------------------- DNS


class HostResolver(Protocol):
    """Resolves a host name to its addresses (A and AAAA), IPv4 first."""

    def resolve(self, host: str) -> list[str]:
        """Addresses of ``host``; empty if it has none (NXDOMAIN counts as none)."""


class SocketResolver:
    """The system resolver (``getaddrinfo``)."""

    def resolve(self, host: str) -> list[str]:
        """Addresses of ``host`` via the operating system."""
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return []
            raise TransientError(f"DNS lookup of {host} failed: {exc}") from exc
        return _ordered({str(info[4][0]) for info in infos})


class DnspythonResolver:
    """dnspython's stub resolver (A and AAAA queries), optionally with explicit name servers."""

    def __init__(self, nameservers: Sequence[str] = (), port: int = 53, timeout_s: float = 5.0) -> None:
        resolver_mod = require("dns.resolver", "notifier")
        self._dns = resolver_mod
        self._exception = require("dns.exception", "notifier")
        self.resolver = resolver_mod.Resolver(configure=not nameservers)
        if nameservers:
            self.resolver.nameservers = list(nameservers)
            self.resolver.port = port
        self.resolver.lifetime = timeout_s

    def resolve(self, host: str) -> list[str]:
        """Addresses of ``host`` from A and AAAA answers."""
        found: set[str] = set()
        for rdtype in ("A", "AAAA"):
            try:
                answer = self.resolver.resolve(host, rdtype)
            except (self._dns.NXDOMAIN, self._dns.NoAnswer, self._dns.NoNameservers):
                continue
            except self._exception.Timeout as exc:
                raise TransientError(f"DNS lookup of {host} timed out") from exc
            found.update(rr.to_text() for rr in answer)
        return _ordered(found)


class NoResolver:
    """Resolves nothing: only crawler-recorded addresses are used."""

    def resolve(self, host: str) -> list[str]:
        """Always empty."""
        return []


def _ordered(addresses: set[str]) -> list[str]:
    return sorted(addresses, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))


# ---------------------------------------------------------------- offline IP data


# ---------------------------------------------------------------- RDAP


@dataclass(frozen=True)
class RdapContact:
    """The abuse contact of the network an IP belongs to, from RDAP."""

    network_name: str | None
    handle: str | None
    organisation: str | None
    abuse_emails: tuple[str, ...]
    country: str | None
    server: str


def _vcard_values(entity: Mapping[str, Any], prop: str) -> list[str]:
    card = entity.get("vcardArray")
    if not isinstance(card, list) or len(card) < 2 or not isinstance(card[1], list):
        return []
    out = []
    for entry in card[1]:
        if isinstance(entry, list) and len(entry) >= 4 and entry[0] == prop:
            value = entry[3]
            if isinstance(value, str) and value.strip():
                text = value.strip()
                # Registries publish e-mails as mailto: URIs too; a notice sent to "mailto:x@y" bounces.
                if prop == "email" and text[:7].lower() == "mailto:":
                    text = text[7:].strip()
                if text:
                    out.append(text)
    return out


def _entities(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every entity in an RDAP answer, nested ones included (abuse contacts often nest)."""
    found: list[Mapping[str, Any]] = []
    stack = list(node.get("entities") or [])
    while stack:
        entity = stack.pop(0)
        if isinstance(entity, Mapping):
            found.append(entity)
            stack.extend(entity.get("entities") or [])
    return found


def parse_rdap_ip(body: Mapping[str, Any], server: str) -> RdapContact:
    """The abuse contact of an RDAP ``ip network`` answer (RFC 9083): ``abuse`` role entities' e-mails."""
    abuse: list[str] = []
    organisation: str | None = None
    for entity in _entities(body):
        roles = {str(r).lower() for r in entity.get("roles") or []}
        if "abuse" in roles:
            abuse.extend(e for e in _vcard_values(entity, "email") if e not in abuse)
        if organisation is None and roles & {"registrant", "administrative"}:
            names = _vcard_values(entity, "fn") or _vcard_values(entity, "org")
            organisation = names[0] if names else None
    country = body.get("country")
    return RdapContact(
        network_name=str(body["name"]) if body.get("name") else None,
        handle=str(body["handle"]) if body.get("handle") else None,
        organisation=organisation,
        abuse_emails=tuple(abuse),
        country=str(country).upper() if isinstance(country, str) and len(country) == 2 else None,
        server=server,
    )


def load_bootstrap(path: Path) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """Networks and RDAP base URLs from a local copy of IANA's bootstrap file(s) (RFC 9224).

    ``path`` is one file (``ipv4.json`` or ``ipv6.json``) or a folder holding them.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    table: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            for prefixes, urls in data["services"]:
                base = next((u for u in urls if u.startswith("https://")), urls[0])
                for prefix in prefixes:
                    table.append((ipaddress.ip_network(prefix, strict=False), base.rstrip("/")))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ConfigError(f"RDAP bootstrap file {file} is not usable: {exc}") from exc
    table.sort(key=lambda row: row[0].prefixlen, reverse=True)
    return table


Fetch = Callable[[str, float], tuple[int, dict[str, Any]]]
"""GET a URL with a timeout; (HTTP status, JSON body or {})."""


def http_get_json(url: str, timeout_s: float) -> tuple[int, dict[str, Any]]:
    """GET an RDAP URL (``application/rdap+json``).

    Raises:
        TransientError: On a network failure, a 429 or a 5xx answer.

    """
    request = urllib.request.Request(url, headers={"Accept": "application/rdap+json, application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = int(response.status)
            raw = response.read(4 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TransientError(f"RDAP {url}: HTTP {exc.code}") from exc
        return exc.code, {}
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise TransientError(f"RDAP {url}: {exc}") from exc
    try:
        body = json.loads(raw)
    except ValueError:
        return status, {}
    return status, body if isinstance(body, dict) else {}


class RdapClient:
    """Queries RDAP for an IP's abuse contact; answers are cached in the store for a time to live.

    Args:
        store: Where answers are cached (``rdap_cache``).
        base_url: RDAP service for every IP, unless the bootstrap names one.
        bootstrap: Networks → RDAP base URLs (from :func:`load_bootstrap`); longest prefix wins.
        fetch: Injectable HTTP GET (tests answer from a local server through the default one).
        clock: Injectable time source.

    """

    def __init__(
        self,
        store: Store,
        *,
        base_url: str | None,
        bootstrap: Sequence[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = (),
        ttl_s: float = 7 * 86400.0,
        timeout_s: float = 10.0,
        fetch: Fetch = http_get_json,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.base_url = base_url.rstrip("/") if base_url else None
        self.bootstrap = list(bootstrap)
        self.ttl = timedelta(seconds=ttl_s)
        self.timeout_s = timeout_s
        self.fetch = fetch
        self.clock = clock

    def server_for(self, ip: str) -> str | None:
        """The RDAP base URL responsible for ``ip``."""
        address = ipaddress.ip_address(ip)
        for network, base in self.bootstrap:
            if address.version == network.version and address in network:
                return base
        return self.base_url

    def lookup_ip(self, ip: str) -> RdapContact | None:
        """The abuse contact of ``ip``'s network, or None if RDAP has none (or is not configured).

        Raises:
            TransientError: If the RDAP server cannot be reached (nothing is cached then).

        """
        server = self.server_for(ip)
        if server is None:
            return None
        url = f"{server}/ip/{ip}"
        now = self.clock()
        with self.store.session() as s:
            cached = s.get(RdapAnswer, url)
            if cached is not None and cached.fetched_at + self.ttl > now:
                status, body = cached.status, dict(cached.body)
            else:
                status, body = self.fetch(url, self.timeout_s)
                if cached is None:
                    s.add(RdapAnswer(query=url, status=status, body=body, fetched_at=now))
                else:
                    cached.status, cached.body, cached.fetched_at = status, body, now
        if status != 200 or not body:
            return None
        return parse_rdap_ip(body, server)


# ---------------------------------------------------------------- CDNs and hotlines


class _HeaderRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    contains: str | None = None


class CdnRecord(BaseModel):
    """One CDN of the CDN table."""

    model_config = ConfigDict(extra="forbid")

    name: str
    asns: list[int] = Field(default_factory=list)
    asn_names: list[str] = Field(default_factory=list)
    headers: list[_HeaderRule] = Field(default_factory=list)
    header_required: bool = False
    """The AS also carries ordinary hosting: recognise the CDN by a header only."""
    abuse_email: str | None = None
    report_url: str | None = None

    def matches(self, asn_name: str | None, headers: Mapping[str, str]) -> bool:
        """Whether a response served from ``asn_name`` with ``headers`` came through this CDN."""
        lowered = {k.lower(): v.lower() for k, v in headers.items()}
        for rule in self.headers:
            value = lowered.get(rule.name.lower())
            if value is not None and (rule.contains is None or rule.contains.lower() in value):
                return True
        if self.header_required or not asn_name:
            return False
        return asn_name.upper() in {n.upper() for n in self.asn_names}


class HotlineRecord(BaseModel):
    """One hotline of the country → hotline table."""

    model_config = ConfigDict(extra="forbid")

    country: str = Field(min_length=2, max_length=2)
    name: str
    url: str | None = None
    email: str | None = None
    webhook_url: str | None = None
    languages: list[str] = Field(default_factory=list)


def _load_toml(path: Path, key: str) -> list[Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    unknown = set(data) - {key}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}")
    rows = data.get(key, [])
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: [[{key}]] must be a table array")
    return rows


def load_cdns(path: Path | None = None) -> list[CdnRecord]:
    """The CDN table (built-in ``data/cdns.toml`` unless another file is named)."""
    path = path or DATA_DIR / "cdns.toml"
    out = []
    for index, raw in enumerate(_load_toml(path, "cdn"), start=1):
        try:
            out.append(CdnRecord.model_validate(raw))
        except ValidationError as exc:
            raise ConfigError(f"{path}: cdn #{index}: {exc}") from exc
    return out


def load_hotlines(extra: Path | None = None) -> dict[str, HotlineRecord]:
    """Country → hotline: the built-in table, with ``extra``'s entries replacing it by country."""
    table: dict[str, HotlineRecord] = {}
    for path in [DATA_DIR / "hotlines.toml", *([extra] if extra else [])]:
        for index, raw in enumerate(_load_toml(path, "hotline"), start=1):
            try:
                record = HotlineRecord.model_validate(raw)
            except ValidationError as exc:
                raise ConfigError(f"{path}: hotline #{index}: {exc}") from exc
            table[record.country.upper()] = record
    return table


def _load_country_languages() -> dict[str, list[str]]:
    data = tomllib.loads((DATA_DIR / "country_languages.toml").read_text(encoding="utf-8"))
    return {str(k).upper(): [str(x) for x in v] for k, v in data.items()}


COUNTRY_LANGUAGES = _load_country_languages()


def country_languages(country: str | None) -> list[str]:
    """Languages of a country, most preferred first: the data table, else CLDR's official ones."""
    if not country:
        return []
    country = country.upper()
    if country in COUNTRY_LANGUAGES:
        return COUNTRY_LANGUAGES[country]
    return [str(x) for x in get_official_languages(country, de_facto=True)]


def notice_language(provider_languages: Sequence[str], country: str | None) -> str:
    """The catalogue a notice is written in (English always follows it in the notice).

    The provider record's languages win; else the hosting country's languages; else English.
    """
    for tags in (provider_languages, country_languages(country)):
        chosen = negotiate(tags)
        if chosen is not None:
            return chosen
    return SOURCE_LANGUAGE


# ---------------------------------------------------------------- putting it together


@dataclass(frozen=True)
class Contact:
    """One party to tell about an item."""

    provider_id: int
    role: NoticeRole
    """host, cdn or hotline (upstream comes from escalation)."""


@dataclass
class HostingFacts:
    """Everything learnt about where one URL is served from."""

    host: str
    ip: str | None
    country: str | None = None
    asn_name: str | None = None
    cdn: str | None = None
    rdap: RdapContact | None = None
    host_provider_id: int | None = None
    contacts: list[Contact] = field(default_factory=list)


def _host_matches(host: str, domain: str) -> bool:
    host, domain = host.lower().rstrip("."), domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def _directory_match(
    providers: Sequence[Provider], host: str, ip: str | None, asn_name: str | None
) -> tuple[Provider | None, str]:
    """The directory's provider for a host: by domain, else CIDR, else AS name; and which matched."""
    for provider in providers:
        if any(_host_matches(host, d) for d in provider.domains or []):
            return provider, "domain"
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is not None:
            for provider in providers:
                for cidr in provider.cidrs or []:
                    network = ipaddress.ip_network(cidr, strict=False)
                    if address.version == network.version and address in network:
                        return provider, "cidr"
    if asn_name:
        for provider in providers:
            if asn_name.upper() in {str(n).upper() for n in provider.asn_names or []}:
                return provider, "asn"
    return None, ""


def _get_or_create(session: Session, name: str, **values: Any) -> Provider:
    row = session.scalars(select(Provider).where(Provider.name == name)).one_or_none()
    if row is None:
        row = Provider(name=name, **values)
        session.add(row)
        session.flush()
    return row


class HostingLookup:
    """Finds the host, CDN and hotline for a URL, as provider rows of the store.

    Args:
        resolver: DNS for hosts the crawler recorded no IP for.
        geo: Offline AS/country data (None: no lookups).
        rdap: RDAP client (None: no RDAP).
        cdns: The CDN table.
        hotlines: Country → hotline.
        hotline_policy: ``also``, ``only`` or ``none``; a provider's ``policy.hotline`` overrides it.

    """

    def __init__(
        self,
        *,
        resolver: HostResolver | None = None,
        geo: GeoLookup | None = None,
        rdap: RdapClient | None = None,
        cdns: Sequence[CdnRecord] = (),
        hotlines: Mapping[str, HotlineRecord] | None = None,
        hotline_policy: str = "also",
    ) -> None:
        self.resolver = resolver or NoResolver()
        self.geo = geo
        self.rdap = rdap
        self.cdns = list(cdns)
        self.hotlines = dict(hotlines or {})
        self.hotline_policy = hotline_policy

    def facts(self, host: str, ip: str | None, headers: Mapping[str, str]) -> HostingFacts:
        """DNS, offline IP data, CDN and RDAP facts about a host (no store writes)."""
        if not ip:
            addresses = self.resolver.resolve(host)
            ip = addresses[0] if addresses else None
        facts = HostingFacts(host=host, ip=ip)
        if ip and self.geo is not None:
            network = self.geo.lookup(ip)
            facts.country, facts.asn_name = network.country, network.asn_name
        for cdn in self.cdns:
            if cdn.matches(facts.asn_name, headers):
                facts.cdn = cdn.name
                break
        if ip and self.rdap is not None and facts.cdn is None:
            try:
                facts.rdap = self.rdap.lookup_ip(ip)
            except TransientError as exc:
                # A notice to the fallback is better than none; the item stays attributed to
                # what the directory and the IP data say.
                log.warning("notifier.rdap_unavailable", ip=ip, error=str(exc))
        if facts.rdap is not None and facts.country is None:
            facts.country = facts.rdap.country
        return facts

    def hotline_provider(self, session: Session, country: str | None) -> Provider | None:
        """The provider row of the hotline for ``country``, if the table has one."""
        record = self.hotlines.get((country or "").upper())
        if record is None:
            return None
        row = _get_or_create(session, f"Hotline {record.country}: {record.name}", kind=ProviderKind.HOTLINE,
                             source="hotline",
                             country=record.country, languages=list(record.languages), asns=[], cidrs=[],
                             domains=[], asn_names=[], policy={}, channel=ProviderChannel.DEFAULT)
        # The table is the source of truth for its intake addresses (an override file may add one).
        row.abuse_email, row.webhook_url = record.email, record.webhook_url
        return row

    def _cdn_provider(self, session: Session, name: str) -> Provider:
        record = next(c for c in self.cdns if c.name == name)
        return _get_or_create(session, name, kind=ProviderKind.CDN, source="cdn", abuse_email=record.abuse_email,
                              languages=[], asns=list(record.asns), cidrs=[], domains=[],
                              asn_names=list(record.asn_names), policy={}, channel=ProviderChannel.DEFAULT)

    def contacts(self, session: Session, facts: HostingFacts) -> HostingFacts:
        """Who must be told about a URL, from its :meth:`facts`: host provider, CDN, hotline (creating rows).

        Network lookups happen in :meth:`facts`, before the caller's transaction.
        """
        host = facts.host
        directory = session.scalars(
            select(Provider).where(Provider.source == "directory", Provider.kind != ProviderKind.UNRESOLVED)
        ).all()
        origin, matched_by = _directory_match(directory, host, facts.ip, facts.asn_name)
        cdn_row = self._cdn_provider(session, facts.cdn) if facts.cdn else None
        if cdn_row is not None and origin is not None and matched_by != "domain":
            # Behind a CDN the IP and AS are the CDN's: only a domain names the origin.
            origin = None
        if cdn_row is not None:
            directory_cdn = next((p for p in directory if p.name == cdn_row.name), None)
            cdn_row = directory_cdn or cdn_row
        host_row: Provider | None = origin
        if host_row is None and cdn_row is None and facts.rdap is not None and facts.rdap.abuse_emails:
            label = facts.rdap.organisation or facts.rdap.network_name or facts.rdap.handle or facts.ip or host
            handle = f" [{facts.rdap.handle}]" if facts.rdap.handle else ""
            host_row = _get_or_create(session, f"{label}{handle}", kind=ProviderKind.HOST, source="rdap",
                                      abuse_email=facts.rdap.abuse_emails[0], country=facts.country,
                                      languages=[], asns=[], cidrs=[], domains=[],
                                      asn_names=[facts.asn_name] if facts.asn_name else [], policy={},
                                      channel=ProviderChannel.DEFAULT)
        if host_row is not None and not host_row.abuse_email and not host_row.webhook_url and facts.rdap:
            # The directory names the provider but not its address: RDAP fills the gap.
            host_row.abuse_email = facts.rdap.abuse_emails[0] if facts.rdap.abuse_emails else None
        if host_row is None and cdn_row is None:
            host_row = _get_or_create(session, f"unresolved: {host}", kind=ProviderKind.UNRESOLVED, source="unresolved",
                                      languages=[], asns=[], cidrs=[], domains=[],
                                      asn_names=[facts.asn_name] if facts.asn_name else [], policy={},
                                      country=facts.country, channel=ProviderChannel.DEFAULT)
        primary = host_row or cdn_row
        assert primary is not None
        facts.host_provider_id = primary.id
        policy = str((primary.policy or {}).get("hotline", self.hotline_policy))
        hotline = self.hotline_provider(session, facts.country) if policy in ("also", "only") else None
        contacts: list[Contact] = []
        if hotline is None or policy != "only":
            if host_row is not None:
                contacts.append(Contact(host_row.id, NoticeRole.HOST))
            if cdn_row is not None:
                contacts.append(Contact(cdn_row.id, NoticeRole.CDN))
        if hotline is not None:
            contacts.append(Contact(hotline.id, NoticeRole.HOTLINE))
        facts.contacts = contacts
        return facts


def hosting_from_settings(
    settings: NotifierSettings, store: Store, clock: Callable[[], datetime] = utcnow
) -> HostingLookup:
    """The lookup a running notifier uses: DNS, offline IP data, RDAP, CDN and hotline tables per settings.

    Raises:
        ConfigError: If a named table or bootstrap file is unusable.

    """
    resolver: HostResolver = {"socket": SocketResolver, "dnspython": DnspythonResolver, "none": NoResolver}[
        settings.dns
    ]()
    bootstrap = load_bootstrap(settings.rdap_bootstrap_file) if settings.rdap_bootstrap_file else []
    rdap = None
    if settings.rdap_base_url or bootstrap:
        rdap = RdapClient(store, base_url=settings.rdap_base_url, bootstrap=bootstrap,
                          ttl_s=settings.rdap_cache_ttl_s, timeout_s=settings.rdap_timeout_s, clock=clock)
    return HostingLookup(
        resolver=resolver,
        geo=GeoLookup() if settings.geoip else None,
        rdap=rdap,
        cdns=load_cdns(settings.cdns_file),
        hotlines=load_hotlines(settings.hotlines_file),
        hotline_policy=settings.hotline_policy,
    )
