"""The ``orbweaver recheck`` command: verify removals by re-fetching reported media URLs (crawler.recheck)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def parse_targets(lines: list[str], origin: str) -> list[tuple[str, str | None]]:
    """``(url, sha256)`` pairs from lines of ``URL [SHA256]``; blank lines and ``#`` comments skipped.

    Raises:
        ConfigError: On a line that is not an http(s) URL optionally followed by a 64-hex SHA-256,
            naming the line.

    """
    targets: list[tuple[str, str | None]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        url = words[0]
        if not url.lower().startswith(("http://", "https://")) or len(words) > 2:
            raise ConfigError(f"{origin} line {number}: expected 'URL [SHA256]', got {line[:200]!r}")
        sha = words[1] if len(words) == 2 else None
        if sha is not None and not _SHA256.match(sha):
            raise ConfigError(f"{origin} line {number}: {sha[:80]!r} is not a SHA-256 (64 hex digits)")
        targets.append((url, sha.lower() if sha else None))
    return targets


@click.command("recheck")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (TOML). Defaults to $ORBWEAVER_CONFIG, else built-in defaults.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per URL, then a summary object.")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read 'URL [SHA256]' lines from this file ('-' is not accepted; use arguments for a few URLs).",
)
@click.option("--sha256", "sha256", default=None, help="Reported SHA-256 of the media, for URLs given as arguments.")
@click.option(
    "--allow-private", "allow_private", multiple=True, help="Host or address fetched although not public (repeatable)."
)
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32), help="Checks run at once.")
@click.argument("urls", nargs=-1)
def recheck(
    config_path: Path | None,
    as_json: bool,
    file: Path | None,
    sha256: str | None,
    allow_private: tuple[str, ...],
    workers: int,
    urls: tuple[str, ...],
) -> None:
    """Re-fetch reported media URLs and report each as gone, changed, present or error, with evidence.

    Exit status: 0 when every URL was checked (whatever the outcome), 2 on bad input.
    """
    from core.logging import configure
    from crawler.recheck import SafeFetcher, recheck_many
    from crawler.safety import AllowList
    from orbweaver.settings import load_settings

    settings = load_settings(config_path)
    configure(settings.core.log_level, settings.core.log_format)
    if sha256 is not None and not _SHA256.match(sha256):
        raise ConfigError(f"--sha256 {sha256[:80]!r} is not a SHA-256 (64 hex digits)")
    targets = parse_targets(list(urls), "argument")
    if sha256 is not None:
        targets = [(url, sha or sha256.lower()) for url, sha in targets]
    if file is not None:
        targets += parse_targets(file.read_text(encoding="utf-8", errors="replace").splitlines(), str(file))
    if not targets:
        raise ConfigError("no URLs to recheck: give URLs as arguments or --file with 'URL [SHA256]' lines")
    crawler = settings.crawler
    fetcher = SafeFetcher(
        AllowList.parse([*crawler.allow_private_hosts, *allow_private]),
        user_agent=crawler.effective_user_agent(),
        timeout_s=crawler.download_timeout_s,
        max_bytes=crawler.max_response_bytes,
        max_redirects=crawler.max_redirects,
    )
    checks = recheck_many(targets, fetcher, workers=workers)
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.outcome.value] = counts.get(check.outcome.value, 0) + 1
    if as_json:
        for check in checks:
            click.echo(json.dumps(check.to_json(), sort_keys=True))
        click.echo(json.dumps({"summary": {"checked": len(checks), **counts}}, sort_keys=True))
        return
    table = Table("outcome", "status", "media URL", "final URL", "detail")
    for check in checks:
        final = check.final_url if check.final_url and check.final_url != check.media_url else ""
        table.add_row(
            check.outcome.value,
            "" if check.http_status is None else str(check.http_status),
            check.media_url,
            final,
            check.detail or "",
        )
    console = Console()
    console.print(table)
    console.print(", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) + f" of {len(checks)} checked")
