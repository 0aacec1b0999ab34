#!/usr/bin/env python3
"""Notifier catalogue tool: extract notice strings, create and update translations, report completeness.

    python scripts/i18n.py extract        # notifier/locale/messages.pot from the code and templates
    python scripts/i18n.py init LANG      # a new notifier/locale/LANG/LC_MESSAGES/messages.po
    python scripts/i18n.py update         # merge the template into every catalogue (new strings fuzzy/empty)
    python scripts/i18n.py check          # per-language completeness; exit 1 if any is incomplete
    python scripts/i18n.py ready          # write notifier/locale/READY (the msgid count)

Catalogues are compiled when the notifier loads them (notifier/i18n.py), so there is no compile step.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "notifier"
LOCALE_DIR = PACKAGE / "locale"
POT = LOCALE_DIR / "messages.pot"
READY = LOCALE_DIR / "READY"
METHOD_MAP = [
    ("**.py", "python"),
    ("templates/**.j2", "jinja2.ext:babel_extract"),
]
OPTIONS_MAP = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)
"""Header dates are fixed so that re-extracting unchanged strings changes no file."""
WIDTH = 100


def _template() -> Catalog:
    catalog = Catalog(
        project="orbweaver notices",
        version="1",
        copyright_holder="orbweaver contributors",
        msgid_bugs_address="",
        creation_date=FIXED_DATE,
        revision_date=FIXED_DATE,
        fuzzy=False,
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(message, None, [(f"notifier/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, width=WIDTH, include_lineno=False, sort_output=False, omit_header=False)


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def catalogues() -> list[Path]:
    """Every language catalogue present."""
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))


def extract() -> int:
    """Write the template; return its msgid count."""
    catalog = _template()
    _write(catalog, POT)
    return len(catalog)


def init(language: str) -> Path:
    """Create a catalogue for a language from the template, with CLDR's plural rule in its header."""
    try:
        locale = Locale.parse(language)
    except (ValueError, UnknownLocaleError) as exc:
        raise SystemExit(f"unknown language {language!r}: {exc}") from exc
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if path.exists():
        raise SystemExit(f"{path} exists; use 'update'")
    template = _read(POT)
    catalog = Catalog(locale=locale, project=template.project, version=template.version,
                      copyright_holder=template.copyright_holder, creation_date=FIXED_DATE,
                      revision_date=FIXED_DATE, fuzzy=False)
    catalog.update(template)
    _write(catalog, path)
    return path


def update() -> list[Path]:
    """Merge the template into every catalogue; translations of unchanged msgids are kept."""
    template = _read(POT)
    done = []
    for path in catalogues():
        language = path.parent.parent.name
        catalog = _read(path, language)
        catalog.update(template, no_fuzzy_matching=True)
        _write(catalog, path)
        done.append(path)
    return done


def check() -> bool:
    """Print each catalogue's completeness; True if every one is complete."""
    template = _read(POT)
    ids = {m.id for m in template if m.id}
    ok = True
    for path in catalogues():
        language = path.parent.parent.name
        catalog = _read(path, language)
        have = {m.id for m in catalog if m.id and not m.fuzzy and
                (all(m.string) if isinstance(m.string, tuple) else bool(m.string))}
        missing = len(ids - have)
        ok &= missing == 0
        print(f"{language:10} {len(ids & have):4}/{len(ids)}" + (f"  {missing} missing or fuzzy" if missing else ""))
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit status is 1 when ``check`` finds an incomplete catalogue."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract")
    init_parser = sub.add_parser("init")
    init_parser.add_argument("language")
    sub.add_parser("update")
    sub.add_parser("check")
    sub.add_parser("ready")
    args = parser.parse_args(argv)
    if args.command == "extract":
        print(f"{POT.relative_to(ROOT)}: {extract()} msgids")
    elif args.command == "init":
        print(init(args.language).relative_to(ROOT))
    elif args.command == "update":
        for path in update():
            print(path.relative_to(ROOT))
    elif args.command == "check":
        return 0 if check() else 1
    elif args.command == "ready":
        count = len([m for m in _read(POT) if m.id])
        READY.write_text(f"{count}\n", encoding="utf-8")
        print(f"{READY.relative_to(ROOT)}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
