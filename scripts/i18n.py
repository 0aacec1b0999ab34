#!/usr/bin/env python3
"""Notifier catalogue tool: extract notice strings, create and update translations, report completeness.

    python scripts/i18n.py extract        # notifier/locale/messages.pot from the code and templates
    python scripts/i18n.py init LANG      # a new notifier/locale/LANG/LC_MESSAGES/messages.po
    python scripts/i18n.py update         # merge the template into every catalogue (new strings fuzzy/empty)
                                          # and give each CLDR's plural rule
    python scripts/i18n.py check          # per-language completeness; exit 1 if any is incomplete
    python scripts/i18n.py ready          # write notifier/locale/READY (the msgid count)

Catalogues are compiled when the notifier loads them (notifier/i18n.py), so there is no compile step.
"""

from __future__ import annotations

import argparse
import gettext
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.plurals import get_plural
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
PLURAL_PROBES = [*range(2001), *(m * 1_000_000 + d for m in (1, 2, 3) for d in (0, 1, 2)), 1_000_000_000]
"""Counts on which two plural rules are compared: CLDR's integer rules turn on n, n mod 10, 100 and
1000, and (French, Spanish, Italian, Portuguese) on n mod 1,000,000."""


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


def plural_forms(language: str) -> str:
    """CLDR's plural rule of a language, as the installed Babel has it, in ``Plural-Forms`` syntax."""
    rule = get_plural(language)
    return f"nplurals={rule.num_plurals}; plural={rule.plural_expr};"


def same_plural_rule(catalog: Catalog, language: str) -> bool:
    """Whether a catalogue's ``Plural-Forms`` sends every count to the form CLDR's rule sends it to.

    Only the mapping counts: CLDR data releases rewrite expressions that mean the same thing.
    """
    rule = get_plural(language)
    if catalog.num_plurals != rule.num_plurals:
        return False
    ours, cldr = gettext.c2py(catalog.plural_expr), gettext.c2py(rule.plural_expr)
    return all(ours(n) == cldr(n) for n in PLURAL_PROBES)


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


def update() -> list[tuple[Path, bool]]:
    """Merge the template into every catalogue and give each CLDR's plural rule.

    Translations of unchanged msgids are kept, except that where CLDR's rule sends some count to
    another form than the catalogue's old rule did, every translated plural entry is marked fuzzy
    (never sent) until a translator has put its forms in CLDR's order and count.

    Returns:
        Each catalogue written, with True where its plural rule changed.

    """
    template = _read(POT)
    done = []
    for path in catalogues():
        language = path.parent.parent.name
        catalog = _read(path, language)
        # A header written from an older CLDR would otherwise stay forever: read_po keeps it.
        changed = not same_plural_rule(catalog, language)
        catalog.mime_headers = [("Plural-Forms", plural_forms(language))]
        catalog.update(template, no_fuzzy_matching=True)
        if changed:
            for message in catalog:
                if message.pluralizable and isinstance(message.string, (tuple, list)) and any(message.string):
                    message.flags.add("fuzzy")
        _write(catalog, path)
        done.append((path, changed))
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
        cldr = same_plural_rule(catalog, language)
        ok &= missing == 0 and cldr
        print(f"{language:10} {len(ids & have):4}/{len(ids)}" + (f"  {missing} missing or fuzzy" if missing else "")
              + ("" if cldr else f"  Plural-Forms is not CLDR's ({plural_forms(language)}): run update"))
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
        for path, changed in update():
            note = "  plural rule is now CLDR's: plural entries marked fuzzy for checking" if changed else ""
            print(f"{path.relative_to(ROOT)}{note}")
    elif args.command == "check":
        return 0 if check() else 1
    elif args.command == "ready":
        count = len([m for m in _read(POT) if m.id])
        READY.write_text(f"{count}\n", encoding="utf-8")
        print(f"{READY.relative_to(ROOT)}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
