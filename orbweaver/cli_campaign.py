"""The ``orbweaver campaign`` and ``orbweaver crawl`` commands: operators' crawl campaigns, top of the stack.

A campaign is created once (validated, stored), then started in the foreground or handed to
crawler workers (``--detach``), paused, resumed and stopped by writing its row in the store;
a running crawl reads the row every second. ``crawl URL`` is a one-off campaign run here.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import ConfigError
from core.messages import utcnow
from crawler.campaigns import (
    ACTIVE_STATES,
    CampaignError,
    CampaignRecord,
    Campaigns,
    CampaignSpec,
    CampaignState,
    parse_spec,
    read_seeds_file,
)
from crawler.settings import DEFAULT_CONTACT_URL, CrawlerSettings
from orbweaver.cli_options import CONFIG_OPTION, load_cli_settings

_settings = load_cli_settings


def _campaigns(settings: Any) -> Campaigns:
    from core.store import Store

    store = Store(settings.core.store_url())
    store.migrate()
    return Campaigns(store)


def _split(values: tuple[str, ...]) -> list[str]:
    # Repeatable options also take comma-separated lists: --allow-private a,b --allow-private c.
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _identity(crawler: CrawlerSettings, operator: str | None, contact_url: str | None) -> dict[str, str]:
    """Operator and contact URL: the flags, else the settings; the project's own URL never counts."""
    found: dict[str, str] = {}
    chosen_operator = operator or crawler.operator
    if chosen_operator:
        found["operator"] = chosen_operator
    chosen_contact = contact_url or (crawler.contact_url if crawler.contact_url != DEFAULT_CONTACT_URL else "")
    if chosen_contact:
        found["contact_url"] = chosen_contact
    return found


def _require_identity(data: dict[str, Any]) -> None:
    missing = [key for key in ("operator", "contact_url") if not data.get(key)]
    if missing:
        raise ConfigError(
            "a campaign's user agent must name its operator and a contact URL: pass --operator and --contact-url, "
            "or set [crawler] operator and contact_url (ORBWEAVER_CRAWLER__OPERATOR, ORBWEAVER_CRAWLER__CONTACT_URL); "
            f"missing: {', '.join(missing)}"
        )


def _rate_defaults(crawler: CrawlerSettings) -> dict[str, Any]:
    return {
        "concurrent_requests_per_host": crawler.concurrent_requests_per_host,
        "download_delay_s": crawler.download_delay_s,
        "autothrottle": crawler.autothrottle,
    }


def _read_spec_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read campaign file {path}: {exc.strerror or exc}") from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"campaign file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"campaign file {path} must hold one object of campaign settings")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@contextmanager
def progress_display(console: Console) -> Iterator[Callable[[Any], None]]:
    """Yield an ``on_progress`` callback drawing a rich progress line (or nothing off a terminal)."""
    if not console.is_terminal:
        yield lambda _summary: None
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("crawl", total=None, info="starting")

        def on_progress(summary: Any) -> None:
            rate = summary.pages / summary.seconds if summary.seconds else 0.0
            progress.update(task, info=(
                f"{summary.pages} pages ({rate:.0f}/s), {summary.media} media, {summary.errors} errors, "
                f"{summary.queued} queued"
            ))

        yield on_progress


def _run_claimed(
    campaigns: Campaigns,
    record: CampaignRecord,
    settings: Any,
    owner: str,
    *,
    on_media: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    from crawler.run import run_crawl
    from crawler.worker import prepare_run
    from orbweaver.runtime import crawl_infrastructure

    job = prepare_run(
        campaigns, record, crawl_infrastructure(settings), owner=owner, interrupted_state="paused",
        report_media=on_media is not None,
    )
    console = Console(stderr=True)
    with progress_display(console) as on_progress:
        return run_crawl(job, on_progress, on_media=on_media)


def _claim_for_foreground(campaigns: Campaigns, campaign_id: str, owner: str, lease_s: float,
                          states: frozenset[CampaignState]) -> CampaignRecord:
    record = campaigns.get(campaign_id)
    claimed = campaigns.claim(campaign_id, owner, lease_s, states=states)
    if claimed is not None:
        return claimed
    now = campaigns.clock()
    latest = campaigns.get(campaign_id)
    if latest.state in ACTIVE_STATES and latest.lease_live(now):
        raise CampaignError(
            f"campaign {campaign_id} is {latest.state.value} under {latest.lease_owner} "
            f"(lease until {latest.lease_expires_at})"
        )
    raise CampaignError(f"campaign {campaign_id} is {record.state.value}; it cannot be started from that state")


def _echo_state(campaign_id: str, state: str, as_json: bool, **extra: Any) -> None:
    if as_json:
        click.echo(json.dumps({"id": campaign_id, "state": state, **extra}))
    else:
        click.echo(f"campaign {campaign_id}: {state}")


@click.group()
def campaign() -> None:
    """Create, run, pause, resume and stop crawl campaigns (state lives in the store)."""


@campaign.command("create")
@CONFIG_OPTION
@click.argument("name")
@click.option("--seed", "seeds", multiple=True, help="Start URL (repeatable).")
@click.option("--seeds-file", type=click.Path(dir_okay=False, path_type=Path), help="File of start URLs, one a line.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Campaign settings as JSON or TOML (CampaignSpec keys); flags given here override it.")
@click.option("--scope", type=click.Choice(["host", "site", "domains"]), default=None,
              help="host: the seeds' hosts; site: with subdomains; domains: the --domain list.")
@click.option("--domain", "domains", multiple=True, help="Domain in scope for --scope domains (repeatable).")
@click.option("--include", multiple=True, help="Regex a page URL must match (repeatable; any one).")
@click.option("--exclude", multiple=True, help="Regex of page URLs not followed (repeatable).")
@click.option("--depth", type=int, default=None, help="Link hops followed from a seed.")
@click.option("--max-pages", type=int, default=None, help="Most pages per run.")
@click.option("--max-media", type=int, default=None, help="Most media fetches per run.")
@click.option("--max-pages-per-host", type=int, default=None, help="Most pages fetched from one host.")
@click.option("--concurrency-per-host", type=int, default=None, help="Parallel requests to one host.")
@click.option("--concurrency", type=int, default=None, help="Parallel requests in all.")
@click.option("--delay", type=float, default=None, help="Least seconds between requests to one host.")
@click.option("--autothrottle/--no-autothrottle", default=None, help="Adapt the delay to each host's speed.")
@click.option("--ignore-robots", "robots_reason", default=None, metavar="REASON",
              help="Do not obey robots.txt, for this recorded reason.")
@click.option("--operator", default=None, help="Who runs the crawl (named in the user agent).")
@click.option("--contact-url", default=None, help="Where site operators learn about the crawl (in the user agent).")
@click.option("--proxy", default=None, help="http://, https://, socks5:// or socks5h:// proxy URL.")
@click.option("--render/--no-render", default=None, help="Render pages in headless Chromium.")
@click.option("--every-hours", "recurrence_hours", type=float, default=None, help="Crawl again N hours after each run.")
@click.option("--allow-private", "allow_private", multiple=True, metavar="HOST",
              help="Host or address fetched although not public (repeatable).")
@click.option("--queue", "queued", is_flag=True, help="Hand it to the crawler workers at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the campaign as JSON.")
def campaign_create(config_path: Path | None, name: str, seeds: tuple[str, ...], seeds_file: Path | None,
                    spec_file: Path | None, scope: str | None, domains: tuple[str, ...], include: tuple[str, ...],
                    exclude: tuple[str, ...], depth: int | None, max_pages: int | None, max_media: int | None,
                    max_pages_per_host: int | None, concurrency_per_host: int | None, concurrency: int | None,
                    delay: float | None, autothrottle: bool | None, robots_reason: str | None,
                    operator: str | None, contact_url: str | None, proxy: str | None, render: bool | None,
                    recurrence_hours: float | None, allow_private: tuple[str, ...], queued: bool,
                    as_json: bool) -> None:
    """Validate and store a campaign; print its id."""
    settings = _settings(config_path)
    data: dict[str, Any] = {"rate": _rate_defaults(settings.crawler)}
    data.update(_identity(settings.crawler, None, None))
    if spec_file is not None:
        data = _merge(data, _read_spec_file(spec_file))
    flags: dict[str, Any] = {"name": name}
    all_seeds = [*data.get("seeds", []), *seeds, *(read_seeds_file(seeds_file) if seeds_file else [])]
    if all_seeds:
        flags["seeds"] = all_seeds
    scope_flags = {k: v for k, v in {"mode": scope, "domains": _split(domains) or None,
                                     "include": list(include) or None, "exclude": list(exclude) or None}.items()
                   if v is not None}
    limit_flags = {k: v for k, v in {"max_depth": depth, "max_pages": max_pages, "max_media": max_media,
                                     "max_pages_per_host": max_pages_per_host}.items() if v is not None}
    rate_flags = {k: v for k, v in {"concurrent_requests_per_host": concurrency_per_host,
                                    "concurrent_requests": concurrency, "download_delay_s": delay,
                                    "autothrottle": autothrottle}.items() if v is not None}
    for key, sub in (("scope", scope_flags), ("limits", limit_flags), ("rate", rate_flags)):
        if sub:
            flags[key] = sub
    if robots_reason is not None:
        flags["robots"] = {"obey": False, "override_reason": robots_reason}
    for key, value in (("operator", operator), ("contact_url", contact_url), ("proxy", proxy), ("render", render),
                       ("recurrence_hours", recurrence_hours)):
        if value is not None:
            flags[key] = value
    if allow_private:
        flags["allow_private_hosts"] = _split(allow_private)
    data = _merge(data, flags)
    _require_identity(data)
    spec = parse_spec(data)
    campaigns = _campaigns(settings)
    record = campaigns.create(spec, queued=queued)
    if as_json:
        click.echo(json.dumps(record.to_json(campaigns.clock())))
    else:
        click.echo(record.id)
        if not spec.robots.obey:
            click.echo(f"robots.txt NOT obeyed; recorded reason: {spec.robots.override_reason}", err=True)


@campaign.command("list")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per campaign.")
def campaign_list(config_path: Path | None, as_json: bool) -> None:
    """List campaigns, newest first."""
    campaigns = _campaigns(_settings(config_path))
    now = campaigns.clock()
    records = campaigns.list_all()
    if as_json:
        for record in records:
            click.echo(json.dumps(record.to_json(now)))
        return
    table = Table("id", "name", "state", "pages", "media", "errors", "queued", "next run")
    for record in records:
        view = record.to_json(now)
        state = view["state"] + (" (crawler died)" if view["crashed"] else "")
        table.add_row(record.id, record.spec.name, state, str(record.pages_fetched), str(record.media_fetched),
                      str(record.fetch_errors), str(record.queued), view["next_run_at"] or "")
    Console().print(table)


@campaign.command("status")
@CONFIG_OPTION
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def campaign_status(config_path: Path | None, campaign_id: str, as_json: bool) -> None:
    """Show a campaign's state, counters, robots policy (with any override reason) and schedule."""
    campaigns = _campaigns(_settings(config_path))
    record = campaigns.get(campaign_id)
    view = record.to_json(campaigns.clock())
    if as_json:
        click.echo(json.dumps(view))
        return
    table = Table("", "", show_header=False)
    robots = "obeyed" if record.spec.robots.obey else f"NOT obeyed: {record.robots_override_reason}"
    rows = [
        ("id", record.id), ("name", record.spec.name),
        ("state", view["state"] + (" (its crawler died: start or resume it)" if view["crashed"] else "")),
        ("pages fetched", str(record.pages_fetched)), ("media fetched", str(record.media_fetched)),
        ("errors", str(record.fetch_errors)), ("queued", str(record.queued)), ("runs", str(record.run_count)),
        ("robots.txt", robots), ("user agent", record.spec.user_agent), ("seeds", str(len(record.spec.seeds))),
        ("scope", record.spec.scope.mode.value), ("proxy", record.spec.proxy or "none"),
        ("render", "yes" if record.spec.render else "no"),
        ("recurrence", f"every {record.spec.recurrence_hours} h" if record.spec.recurrence_hours else "none"),
        ("next run", view["next_run_at"] or "-"), ("lease", f"{record.lease_owner} until {view['lease_expires_at']}"
                                                  if record.lease_owner else "-"),
        ("last reason", record.last_reason or "-"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def _start(config_path: Path | None, campaign_id: str, detach: bool, as_json: bool,
           states: frozenset[CampaignState]) -> None:
    from crawler.worker import worker_identity

    settings = _settings(config_path)
    campaigns = _campaigns(settings)
    if detach:
        record = campaigns.get(campaign_id)
        if record.state not in states and not (record.state in ACTIVE_STATES and not record.lease_live(utcnow())):
            raise CampaignError(f"campaign {campaign_id} is {record.state.value}; it cannot be queued from that state")
        _echo_state(campaign_id, campaigns.queue(campaign_id).value, as_json)
        return
    owner = worker_identity()
    record = _claim_for_foreground(campaigns, campaign_id, owner, settings.crawler.lease_s, states)
    summary = _run_claimed(campaigns, record, settings, owner)
    final = campaigns.get(campaign_id)
    _echo_state(campaign_id, final.state.value, as_json, pages=summary.pages, media=summary.media,
                errors=summary.errors, queued=final.queued, reason=summary.reason)


@campaign.command("start")
@CONFIG_OPTION
@click.argument("campaign_id")
@click.option("--detach", is_flag=True, help="Queue it for a crawler worker instead of crawling here.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def campaign_start(config_path: Path | None, campaign_id: str, detach: bool, as_json: bool) -> None:
    """Crawl a campaign here in the foreground (Ctrl-C pauses it); a paused one resumes where it stopped."""
    from crawler.campaigns import STARTABLE_STATES

    _start(config_path, campaign_id, detach, as_json, STARTABLE_STATES)


@campaign.command("resume")
@CONFIG_OPTION
@click.argument("campaign_id")
@click.option("--detach", is_flag=True, help="Queue it for a crawler worker instead of crawling here.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def campaign_resume(config_path: Path | None, campaign_id: str, detach: bool, as_json: bool) -> None:
    """Resume a paused, failed or crashed campaign from its saved queue, fetching nothing twice."""
    from crawler.campaigns import RESUMABLE_STATES

    _start(config_path, campaign_id, detach, as_json, RESUMABLE_STATES)


@campaign.command("pause")
@CONFIG_OPTION
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def campaign_pause(config_path: Path | None, campaign_id: str, as_json: bool) -> None:
    """Pause a campaign: its crawl finishes the requests in flight and keeps its queue."""
    campaigns = _campaigns(_settings(config_path))
    _echo_state(campaign_id, campaigns.pause(campaign_id).value, as_json)


@campaign.command("stop")
@CONFIG_OPTION
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def campaign_stop(config_path: Path | None, campaign_id: str, as_json: bool) -> None:
    """Stop a campaign for good: its crawl finishes the requests in flight and drops its queue."""
    campaigns = _campaigns(_settings(config_path))
    _echo_state(campaign_id, campaigns.stop(campaign_id).value, as_json)


@click.command("crawl")
@CONFIG_OPTION
@click.argument("url")
@click.option("--depth", type=int, default=None, help="Link hops followed (default: [crawler] max_depth).")
@click.option("--max-pages", type=int, default=None, help="Most pages (default: [crawler] max_pages).")
@click.option("--render", is_flag=True, help="Render pages in headless Chromium.")
@click.option("--allow-private", "allow_private", multiple=True, metavar="HOST",
              help="Host or address fetched although not public (repeatable, or comma-separated).")
@click.option("--operator", default=None, help="Who runs the crawl (default: [crawler] operator).")
@click.option("--contact-url", default=None, help="Contact URL for the user agent (default: [crawler] contact_url).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per fetched media item, then a summary object.")
def crawl(config_path: Path | None, url: str, depth: int | None, max_pages: int | None, render: bool,
          allow_private: tuple[str, ...], operator: str | None, contact_url: str | None, as_json: bool) -> None:
    """Crawl one site now, in the foreground, as a one-off campaign (Ctrl-C pauses it; resume it later)."""
    from crawler.campaigns import STARTABLE_STATES
    from crawler.worker import worker_identity

    settings = _settings(config_path)
    data: dict[str, Any] = {
        "name": f"crawl {url}",
        "seeds": [url],
        "limits": {"max_depth": settings.crawler.max_depth if depth is None else depth,
                   "max_pages": settings.crawler.max_pages if max_pages is None else max_pages},
        "rate": _rate_defaults(settings.crawler),
        "render": render,
        "allow_private_hosts": _split(allow_private),
        **_identity(settings.crawler, operator, contact_url),
    }
    _require_identity(data)
    spec: CampaignSpec = parse_spec(data)
    campaigns = _campaigns(settings)
    record = campaigns.create(spec, campaign_id=f"crawl-{utcnow():%Y%m%d%H%M%S}-{worker_identity()[-6:]}")
    owner = worker_identity()
    claimed = _claim_for_foreground(campaigns, record.id, owner, settings.crawler.lease_s, STARTABLE_STATES)

    def print_media(media: dict[str, Any]) -> None:
        click.echo(json.dumps(media))

    summary = _run_claimed(campaigns, claimed, settings, owner, on_media=print_media if as_json else None)
    final = campaigns.get(record.id)
    totals = {"campaign_id": record.id, "state": final.state.value, "reason": summary.reason,
              "pages": summary.pages, "media": summary.media, "errors": summary.errors,
              "queued": final.queued, "seconds": round(summary.seconds, 3)}
    if as_json:
        click.echo(json.dumps({"summary": totals}))
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in totals.items()))
    sys.stdout.flush()
