"""Notifier stage: the languages a notice can be written in, from the Babel catalogues in ``locale/``.

Catalogues are gettext ``.po`` files (``locale/<lang>/LC_MESSAGES/messages.po``), compiled in
memory the first time a language is used, so no compiled ``.mo`` file is committed or can go
stale. English is the source language: its text is the msgids themselves.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import Translations

from core.errors import ConfigError

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here (it is translated where shown)."""
    return message


def catalogue_path(language: str) -> Path:
    """Where the catalogue of ``language`` lives (whether or not it exists)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def available_languages() -> list[str]:
    """English plus every language with a catalogue, as catalogue folder names (``zh_Hant``)."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return [SOURCE_LANGUAGE, *found]


@lru_cache(maxsize=64)
def translations(language: str) -> gettext.NullTranslations:
    """The compiled translations of one language (English: the identity).

    Raises:
        ConfigError: If the language has no catalogue or its catalogue does not parse.

    """
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    path = catalogue_path(language)
    try:
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=language, abort_invalid=True)
    except FileNotFoundError as exc:
        raise ConfigError(f"no notice catalogue for language {language!r} ({path})") from exc
    except (OSError, PoFileError, ValueError, UnknownLocaleError) as exc:  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"notice catalogue {path} cannot be read: {exc}") from exc
    buffer = io.BytesIO()
    # Fuzzy entries are guesses a translator has not confirmed: they are never sent.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


_MACROLANGUAGE_STANDARD = {"no": "nb"}
"""Norwegian ("no") is written as Bokmål ("nb") by most providers that give it."""


def _candidates(tag: str) -> list[str]:
    """Catalogue names that could serve a language tag, most specific first."""
    tag = tag.replace("-", "_")
    try:
        locale = Locale.parse(tag)
    except (ValueError, UnknownLocaleError):
        # CLDR lacks some language-region pairs ("no_NO"): the language alone may still be served.
        language = tag.split("_", 1)[0]
        if language == tag:
            return []
        return _candidates(language)
    script = locale.script
    if script is None:
        # "zh" alone means Simplified Chinese, "sr" Cyrillic Serbian: CLDR's likely subtags say so.
        likely = str(get_global("likely_subtags").get(locale.language, ""))
        parts = likely.split("_")
        script = parts[1] if len(parts) > 2 and len(parts[1]) == 4 else None
    out = []
    if script and locale.territory:
        out.append(f"{locale.language}_{script}_{locale.territory}")
    if locale.territory:
        out.append(f"{locale.language}_{locale.territory}")
    if script:
        out.append(f"{locale.language}_{script}")
    out.append(locale.language)
    # A macrolanguage tag is served by the catalogue of its usual written standard.
    if locale.language in _MACROLANGUAGE_STANDARD:
        out.append(_MACROLANGUAGE_STANDARD[locale.language])
    return out


def negotiate(tags: Iterable[str]) -> str | None:
    """The first catalogue that serves one of ``tags`` (BCP 47 or POSIX style), in order.

    ``zh-TW`` finds ``zh_Hant`` and ``zh-CN`` finds ``zh_Hans`` through CLDR's likely scripts;
    ``pt-BR`` falls back to ``pt``. English matches English.
    """
    have = set(available_languages())
    for tag in tags:
        for candidate in _candidates(tag):
            if candidate in have:
                return candidate
    return None


def _locale(language: str) -> Locale:
    return Locale.parse(language)


def text_direction(language: str) -> str:
    """``rtl`` or ``ltr`` for HTML ``dir=``."""
    return "rtl" if _locale(language).text_direction == "rtl" else "ltr"


def html_lang(language: str) -> str:
    """The BCP 47 tag for HTML ``lang=`` and ``Content-Language`` (``zh_Hant`` -> ``zh-Hant``)."""
    return language.replace("_", "-")


def format_when(value: datetime, language: str) -> str:
    """A date and time in UTC, in the language's own long format (``1. März 2026, 12:00:00 UTC``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, "long", tzinfo=UTC, locale=_locale(language))


def country_name(code: str, language: str) -> str:
    """The name of a country (ISO 3166 alpha-2) in ``language``; the code itself if unknown."""
    return str(_locale(language).territories.get(code.upper(), code.upper()))
