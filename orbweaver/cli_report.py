"""The ``orbweaver report`` commands: what the notifier achieved, for operators (top of the stack)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orbweaver.cli_options import CONFIG_OPTION


@click.group()
def report() -> None:
    """Reports on notices and removals."""


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


@report.command("removal")
@CONFIG_OPTION
@click.option("--json", "as_json_flag", is_flag=True, help="Print the report as JSON.")
def removal(config_path: Path | None, as_json_flag: bool) -> None:
    """Time to removal per provider and per country: median, p90, still open (from the first notice)."""
    from core.logging import configure
    from core.store import Store
    from notifier.report import as_json, removal_report
    from orbweaver.settings import load_settings

    settings = load_settings(config_path)
    configure(settings.core.log_level, settings.core.log_format)
    store = Store(settings.core.store_url())
    store.migrate()
    try:
        data = removal_report(store)
    finally:
        store.dispose()
    if as_json_flag:
        click.echo(json.dumps(as_json(data), sort_keys=True))
        return
    console = Console()
    for key, title in (("providers", "provider"), ("countries", "country"), ("all", "all items")):
        table = Table(title=f"Time to removal by {title}" if key != "all" else "Time to removal, all items")
        for column in ("group", "items", "removed", "median", "p90", "fastest", "slowest", "still open",
                       "oldest open", "removed before notice"):
            table.add_column(column, justify="left" if column == "group" else "right")
        for row in data[key]:
            table.add_row(row.group, str(row.items), str(row.removed), _hours(row.median_hours),
                          _hours(row.p90_hours), _hours(row.fastest_hours), _hours(row.slowest_hours),
                          str(row.still_open), _hours(row.oldest_open_hours), str(row.removed_before_notice))
        console.print(table)


@report.command("stats")
@CONFIG_OPTION
@click.option("--json", "as_json_flag", is_flag=True, help="Print the statistics as JSON.")
def stats(config_path: Path | None, as_json_flag: bool) -> None:
    """Public and partner reports: actionable share, time from report to first notice and to removal."""
    from core.logging import configure
    from core.optional import require
    from core.store import Store
    from orbweaver.settings import load_settings

    require("fastapi", "web")  # the statistics are the web app's (it reads the owners' query functions)
    from web.reports import report_statistics

    settings = load_settings(config_path)
    configure(settings.core.log_level, settings.core.log_format)
    store = Store(settings.core.store_url())
    store.migrate()
    try:
        figures = report_statistics(store)
    finally:
        store.dispose()
    if as_json_flag:
        click.echo(json.dumps(figures.as_json(), sort_keys=True))
        return
    share = "-" if figures.actionable_share is None else f"{figures.actionable_share:.0%}"
    table = Table(title="Reports")
    for column in ("reports", "actionable", "share", "to notice, median", "p90", "to removal, median", "p90"):
        table.add_column(column, justify="right")
    table.add_row(str(figures.reports), str(figures.actionable), share, _hours(figures.notice_hours_median),
                  _hours(figures.notice_hours_p90), _hours(figures.removal_hours_median),
                  _hours(figures.removal_hours_p90))
    Console().print(table)


@click.command("bounces")
@CONFIG_OPTION
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Maildir of the bounce mailbox (default: [notifier] bounce_maildir).")
@click.option("--json", "as_json_flag", is_flag=True, help="Print what was done as JSON.")
def bounces(config_path: Path | None, maildir: Path | None, as_json_flag: bool) -> None:
    """Read bounced notices from a Maildir and escalate them, as a running notifier worker does each tick.

    Each message read moves to a sub-folder by outcome (orbweaver-bounced, -delayed, -unmatched).
    """
    from core.logging import configure
    from notifier.bounces import collect
    from notifier.stage import build
    from orbweaver.runtime import Runtime
    from orbweaver.settings import load_settings

    settings = load_settings(config_path)
    configure(settings.core.log_level, settings.core.log_format)
    folder = maildir or settings.notifier.bounce_maildir
    if folder is None:
        raise click.UsageError("no Maildir: pass --maildir or set [notifier] bounce_maildir")
    rt = Runtime.open(settings)
    try:
        stage = build(rt)
        summary = collect(folder, rt.store, stage.record_bounce)
    finally:
        rt.close()
    if as_json_flag:
        click.echo(json.dumps({"read": summary.read, "by_outcome": summary.by_outcome,
                               "bounced_notices": summary.bounced_notices, "escalated_to": summary.escalated_to},
                              sort_keys=True))
        return
    click.echo(f"read {summary.read}: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.by_outcome.items()))
               if summary.read else "no messages")
    for notice in summary.bounced_notices:
        click.echo(f"bounced: {notice}")
    for name in summary.escalated_to:
        click.echo(f"escalated to: {name}")
