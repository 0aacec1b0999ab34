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
from core.logging import configure
from core.settings import describe
from orbweaver import cli_web

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (TOML). Defaults to $ORBWEAVER_CONFIG, else built-in defaults.",
)


def _load(config_path: Path | None, overrides: dict[str, Any] | None = None) -> Any:
    from orbweaver.settings import load_settings

    settings = load_settings(config_path, overrides)
    configure(settings.core.log_level, settings.core.log_format)
    return settings


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
def demo(config_path: Path | None, as_json: bool, bus_url: str | None, workdir: Path, pages: int, images: int,
         planted: int, seed: int) -> None:
    """Run the whole pipeline against a generated local website of benign images."""
    from orbweaver.demo.run import run_demo, summary_table

    workdir = workdir.resolve()
    state = workdir / "state"
    overrides: dict[str, Any] = {
        "core": {"data_dir": str(state)},
        "notifier": {"outbox_dir": str(workdir / "outbox")},
    }
    if bus_url:
        overrides["core"]["bus"] = bus_url
    settings = _load(config_path, overrides)
    console = Console(stderr=True)
    summary = run_demo(settings, workdir, pages=pages, images=images, known=max(planted, 1), planted=planted,
                       seed=seed, console=console)
    console.print(summary_table(summary))
    console.print(f"Notices written to [bold]{summary.outbox}[/]")
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
    """Run one pipeline STAGE (crawler, hashing, matching, review, notifier); more processes of it scale it.

    The crawler worker claims queued campaigns from the store (a lease per campaign) and answers
    recheck requests; the others consume their topic in their consumer group.

    SIGTERM or SIGINT stops fetching, finishes and commits the batch in hand, flushes what was
    published, leaves the group and exits 0. A second signal exits at once (status 130).
    """
    # The stage list lives with the runtime, which is slow to import for every other command.
    from orbweaver.runtime import CRAWLER_WORKER, StageName, run_crawler_process, run_worker

    known = [s.value for s in StageName] + [CRAWLER_WORKER]
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


@main.command("hash")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (the default output).")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def hash_files(as_json: bool, files: tuple[Path, ...]) -> None:
    """Hash image files: sha256, md5, sha1, pdq, pdq_quality, phash, or error with a reason."""
    from hashing.hasher import compute_hashes

    failed = False
    for path in files:
        record: dict[str, Any] = {"path": str(path)}
        try:
            data = path.read_bytes()
        except OSError as exc:
            record["error"] = f"unreadable: {exc.strerror or exc}"
            failed = True
        else:
            outcome = compute_hashes(data)
            for h in outcome.hashes:
                record[h.algorithm] = h.value
                if h.quality is not None:
                    record[f"{h.algorithm}_quality"] = h.quality
            if outcome.errors:
                record["error"] = "; ".join(outcome.errors)
                failed = True
        click.echo(json.dumps(record))
    sys.exit(1 if failed else 0)


@main.group()
def hashset() -> None:
    """Manage known hash lists."""


@hashset.command("import")
@CONFIG_OPTION
@click.option("--name", required=True, help="Name of the list (created if missing).")
@click.option("--format", "fmt", type=click.Choice(["lines", "csv", "jsonl"]), default=None,
              help="File format; guessed from the content when omitted.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def hashset_import(config_path: Path | None, name: str, fmt: str | None, file: Path) -> None:
    """Import a hash list file; bad lines are reported with their line numbers and skipped."""
    from core.store import Store
    from matcher.hashsets import import_entries
    from matcher.lists import parse_hash_list

    settings = _load(config_path)
    parsed = parse_hash_list(file.read_text(encoding="utf-8", errors="replace"), fmt)
    for err in parsed.errors:
        click.echo(f"{file}:{err.line_no}: skipped: {err.reason}", err=True)
    store = Store(settings.core.store_url())
    store.migrate()
    result = import_entries(store, name, parsed.entries, source=str(file))
    click.echo(json.dumps({"hashset": name, "added": result.added, "duplicates": result.duplicates,
                           "bad_lines": len(parsed.errors)}))


@hashset.command("list")
@CONFIG_OPTION
def hashset_list(config_path: Path | None) -> None:
    """List known hash lists with their entry counts."""
    from dataclasses import asdict

    from core.store import Store
    from matcher.hashsets import list_sets

    settings = _load(config_path)
    store = Store(settings.core.store_url())
    store.migrate()
    for info in list_sets(store):
        click.echo(json.dumps(asdict(info), default=str))


@hashset.command("export")
@CONFIG_OPTION
@click.option("--name", required=True)
@click.option("--format", "fmt", type=click.Choice(["lines", "csv", "jsonl"]), default="csv", show_default=True)
def hashset_export(config_path: Path | None, name: str, fmt: str) -> None:
    """Write a list's entries to standard output."""
    from core.store import Store
    from matcher.hashsets import export_entries
    from matcher.lists import write_hash_list

    settings = _load(config_path)
    store = Store(settings.core.store_url())
    store.migrate()
    click.echo(write_hash_list(export_entries(store, name), fmt), nl=False)


@hashset.command("remove")
@CONFIG_OPTION
@click.option("--name", required=True)
def hashset_remove(config_path: Path | None, name: str) -> None:
    """Delete a list and its entries."""
    from core.store import Store
    from matcher.hashsets import remove_set

    settings = _load(config_path)
    store = Store(settings.core.store_url())
    store.migrate()
    remove_set(store, name)
    click.echo(json.dumps({"removed": name}))


from orbweaver.cli_report import report as _report  # noqa: E402 - commands of other modules join the group here

main.add_command(_report)
cli_web.register(main)
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
