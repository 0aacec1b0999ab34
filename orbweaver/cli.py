"""The ``orbweaver`` command: top of the stack, wiring every stage for operators and providers."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
import structlog
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError, OrbweaverError
from core.settings import describe
from core.stages import StageName
from orbweaver import cli_web
from orbweaver.cli_feed import feed
from orbweaver.cli_hash import hash_files
from orbweaver.cli_match import hashset, lookup, scan
from orbweaver.cli_options import CONFIG_OPTION, load_cli_settings

_load = load_cli_settings


@click.group()
@click.version_option(package_name="orbweaver")
def main() -> None:
    """orbweaver: find known child-sexual-abuse material on the web by hash and get it taken down."""


@main.group()
def config() -> None:
    """Inspect and validate settings."""


@config.command("check")
@CONFIG_OPTION
def config_check(config_path: Path | None) -> None:
    """Validate the settings file and ORBWEAVER_* variables; exit 2 on any problem."""
    settings = _load(config_path)
    click.echo(f"settings OK: bus={settings.core.bus_url()} store={settings.core.store_url()} "
               f"blobs={settings.core.blobs_url()}")


@config.command("show")
@CONFIG_OPTION
def config_show(config_path: Path | None) -> None:
    """Print the effective settings as JSON, and every key with its environment variable."""
    from orbweaver.settings import Settings

    settings = _load(config_path)
    click.echo(settings.model_dump_json(indent=2))
    table = Table("key", "environment variable", "type", "meaning")
    for row in describe(Settings):
        table.add_row(*row)
    Console(stderr=True).print(table)
    files = Table("what", "where it goes", title="Files")
    for what, where in settings.file_locations().items():
        files.add_row(what, where)
    Console(stderr=True, soft_wrap=True).print(files)


@main.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per checked part.")
def doctor(config_path: Path | None, as_json: bool) -> None:
    """Check the configured store, bus and blob folder: ok, damaged (with the reason) or missing; exit 1 on damage."""
    from dataclasses import asdict

    from core.integrity import Health, check_folder, check_url

    settings = _load(config_path, check_state=False)
    core = settings.core
    findings = [check_url("store", core.store_url()), check_url("bus", core.bus_url()),
                check_folder("blobs", core.blobs_url())]
    for finding in findings:
        if as_json:
            click.echo(json.dumps(asdict(finding)))
        else:
            why = f": {finding.reason}" if finding.reason else ""
            click.echo(f"{finding.what:<6} {finding.health.value}{why}  {finding.where}")
    damaged = [f for f in findings if f.health is Health.DAMAGED]
    if damaged:
        click.echo(f"orbweaver: {len(damaged)} damaged: restore {' and '.join(f.where for f in damaged)} "
                   "from a backup (or move it aside to start empty)", err=True)
        sys.exit(1)


@main.command()
@CONFIG_OPTION
def migrate(config_path: Path | None) -> None:
    """Create or upgrade the store's schema."""
    from core.store import Store

    settings = _load(config_path)
    store = Store(settings.core.store_url())
    store.migrate()
    click.echo(f"store at newest schema: {settings.core.store_url()}")


@main.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on the last line.")
@click.option("--bus", "bus_url", default=None, help="Bus URL, e.g. kafka://127.0.0.1:9092 (default: embedded).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True, help="Folder for the generated site and the demo's state (replaced each run).")
@click.option("--pages", default=200, show_default=True, help="Pages in the generated site.")
@click.option("--images", default=1000, show_default=True, help="Background images in the generated site.")
@click.option("--planted", default=40, show_default=True, help="Altered copies of known images to plant.")
@click.option("--seed", default=7, show_default=True, help="Seed of the generated site.")
@click.option("--verbose", is_flag=True, help="Show the structured log live too (it always goes to the log file).")
def demo(config_path: Path | None, as_json: bool, bus_url: str | None, workdir: Path, pages: int, images: int,
         planted: int, seed: int, verbose: bool) -> None:
    """Run the whole pipeline against a generated local website of benign images.

    The terminal shows progress and the summary; every stage's structured log goes to
    ``<workdir>/orbweaver-demo.log`` (JSON lines), and ``--verbose`` shows it live as well.
    """
    import shutil

    from core.logging import configure
    from orbweaver.demo.run import run_demo, summary_table

    workdir = workdir.resolve()
    state = workdir / "state"
    overrides: dict[str, Any] = {
        "core": {"data_dir": str(state)},
        "notifier": {"outbox": {"dir": str(workdir / "outbox")}},
    }
    if bus_url:
        overrides["core"]["bus"] = bus_url
    settings = _load(config_path, overrides)
    # The folder is emptied here rather than in run_demo, so the log file opened next survives the run.
    if workdir.exists():
        shutil.rmtree(workdir)
    log_file = workdir / "orbweaver-demo.log"
    configure(settings.core.log_level, settings.core.log_format, log_file=log_file, echo=verbose)
    console = Console(stderr=True)
    # soft_wrap: a path is printed whole, to be copied, never broken over lines.
    console.print(f"Log: [bold]{log_file}[/]" + ("" if verbose else " (--verbose to show it here)"), soft_wrap=True)
    summary = run_demo(settings, workdir, pages=pages, images=images, known=max(planted, 1), planted=planted,
                       seed=seed, console=console, fresh=False)
    console.print(summary_table(summary))
    console.print(f"Notices written to [bold]{summary.outbox}[/]", soft_wrap=True)
    # The demo keeps its state in its own folder: the web app shows its campaign only when pointed there.
    console.print(f"See it in the web app: [bold]ORBWEAVER_CORE__DATA_DIR={state} orbweaver serve[/]", soft_wrap=True)
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps(asdict(summary), sort_keys=True))


@main.command()
@CONFIG_OPTION
@click.argument("stage", metavar="STAGE")
@click.option("--metrics-port", type=int, default=None,
              help="Serve /metrics and /healthz on this port (overrides [worker] metrics_port).")
@click.option("--max-messages", type=int, default=None, help="Exit after handling this many messages.")
def worker(config_path: Path | None, stage: str, metrics_port: int | None, max_messages: int | None) -> None:
    """Run one pipeline STAGE (crawler, hashing, matcher, review, notifier); more processes of it scale it.

    The crawler worker claims queued campaigns from the store (a lease per campaign) and answers
    recheck requests; the others consume their topic in their consumer group.

    SIGTERM or SIGINT stops fetching, finishes and commits the batch in hand, flushes what was
    published, leaves the group and exits 0. A second signal exits at once (status 130).
    """
    # The stage list lives with the runtime, which is slow to import for every other command.
    from orbweaver.runtime import CRAWLER_WORKER, run_crawler_process, run_worker
    from orbweaver.stages import WORKER_STAGES

    known = [str(s.name) for s in WORKER_STAGES] + [CRAWLER_WORKER]
    if stage not in known:
        raise click.BadParameter(f"{stage!r} is not one of {', '.join(known)}", param_hint="STAGE")
    overrides: dict[str, Any] = {}
    if metrics_port is not None:
        overrides["worker"] = {"metrics_port": metrics_port}
    settings = _load(config_path, overrides)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(130)
        log = structlog.get_logger("orbweaver.worker")
        log.info("worker.stopping", stage=stage, signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if stage == CRAWLER_WORKER:
        runs = run_crawler_process(settings, stop)
        click.echo(json.dumps({"stage": stage, "campaign_runs": runs}))
        return
    stats = run_worker(StageName(stage), settings, stop, max_messages=max_messages)
    click.echo(json.dumps({"stage": stage, "handled": stats.handled, "dead_lettered": stats.dead_lettered}))


# The hash command lives in orbweaver/cli_hash.py.
main.add_command(hash_files)


# The hashset group and the scan and lookup commands live in orbweaver/cli_match.py.
main.add_command(hashset)
main.add_command(scan)
main.add_command(lookup)


from orbweaver.cli_report import bounces as _bounces  # noqa: E402
from orbweaver.cli_report import report as _report  # noqa: E402 - commands of other modules join the group here

main.add_command(_report)
main.add_command(_bounces)
cli_web.register(main)
main.add_command(feed)
from orbweaver.cli_campaign import campaign, crawl  # noqa: E402  # registered below, after main exists

main.add_command(campaign)
main.add_command(crawl)

from orbweaver.cli_recheck import recheck  # noqa: E402  # registered after main exists, like the above

main.add_command(recheck)


def run() -> None:
    """Entry point that turns our errors into a clear message and exit status 2."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"orbweaver: configuration error: {exc}", err=True)
        sys.exit(2)
    except OrbweaverError as exc:
        click.echo(f"orbweaver: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        damage = _sqlite_damage(exc)
        if damage is None:
            raise
        click.echo(f"orbweaver: {_name_damaged_file(damage)}", err=True)
        sys.exit(1)


def _sqlite_damage(exc: BaseException) -> str | None:
    """SQLite's reason if ``exc`` (or what it wraps) says a file is damaged; None for any other error."""
    import sqlite3

    seen: BaseException | None = exc
    while seen is not None:
        # OperationalError is a DatabaseError too, but means "locked", "no such table", "disk I/O error":
        # not a damaged file. "file is not a database" and "disk image is malformed" are plain DatabaseErrors.
        if isinstance(seen, sqlite3.DatabaseError) and not isinstance(seen, sqlite3.OperationalError):
            return str(seen)
        orig = getattr(seen, "orig", None)  # SQLAlchemy keeps the driver's error here
        seen = orig if isinstance(orig, BaseException) else (seen.__cause__ or seen.__context__)
    return None


def _name_damaged_file(reason: str) -> str:
    """One line naming the damaged file of the command's settings (found by checking them), and what to do."""
    from core.integrity import ADVICE, DamagedFileError, Health, check_url
    from orbweaver.cli_options import LOADED

    for settings in LOADED:
        for what, url in (("store", settings.core.store_url()), ("bus", settings.core.bus_url())):
            finding = check_url(what, url)
            if finding.health is Health.DAMAGED:
                return str(DamagedFileError(what, finding.where, finding.reason))
    return f"a SQLite file is damaged ({reason}): {ADVICE}"
