"""Every notice catalogue present is complete, placeholder-exact, plural-correct, and renders a notice.

The checks run over whatever catalogues exist under notifier/locale/, so a new language is
tested the moment its .po file lands; the required set must all be there.
"""

from __future__ import annotations

import gettext
import importlib.util
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from babel import Locale
from babel.dates import format_datetime
from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from core.store.tables.notifier import Notice, NoticeItem, Provider
from notifier.i18n import LOCALE_DIR, available_languages, catalogue_path, negotiate, translations
from notifier.render import NoticeContext, render_notice
from notifier.states import NoticeRole

REQUIRED = [
    "zh_Hans", "zh_Hant", "ja", "ko", "th", "vi", "id", "fil", "hi", "ar", "fa", "tr", "ru", "uk", "pl", "de",
    "fr", "es", "pt", "it", "nl", "sv", "cs", "ro", "hu", "el", "he", "ms", "bn",
]
RTL = ["ar", "fa"]
PRESENT = [lang for lang in available_languages() if lang != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")
STRAY_PERCENT = re.compile(r"%(?!\(\w+\)[sd])")
ROOT = Path(__file__).resolve().parents[3]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _placeholders(text: str) -> set[tuple[str, str]]:
    return set(PLACEHOLDER.findall(text))


TEMPLATE = _read(LOCALE_DIR / "messages.pot")
TEMPLATE_IDS = {_key(m) for m in TEMPLATE if m.id}


def test_required_languages_are_all_present() -> None:
    missing = [lang for lang in REQUIRED if lang not in PRESENT]
    assert not missing, f"notice catalogues missing for: {missing}"
    assert len(PRESENT) >= 25


def test_the_template_matches_the_code_and_ready_counts_it() -> None:
    extracted = _script()._template()
    assert {_key(m) for m in extracted if m.id} == TEMPLATE_IDS, "run scripts/i18n.py extract (and update)"
    assert int((LOCALE_DIR / "READY").read_text().strip()) == len(TEMPLATE_IDS)


def test_english_is_the_identity_and_negotiation_finds_scripts_and_regions() -> None:
    assert translations("en").gettext("Notice ID") == "Notice ID"
    assert negotiate(["xx-invalid", "de-AT"]) == "de"
    assert negotiate(["zh-TW"]) == "zh_Hant"
    assert negotiate(["zh-CN"]) == "zh_Hans"
    assert negotiate(["zh"]) == "zh_Hans"
    assert negotiate(["pt-BR"]) == "pt"
    assert negotiate(["no-NO"]) == "nb"
    assert negotiate(["no"]) == "nb"
    assert negotiate(["en-GB"]) == "en"
    assert negotiate(["tlh"]) is None


def _single_number_forms(plural_expr: str, nplurals: int) -> set[int]:
    """Plural forms that only ever stand for one number: these may leave out %(num)d."""
    rule = gettext.c2py(plural_expr)
    numbers: dict[int, set[int]] = {i: set() for i in range(nplurals)}
    for n in range(0, 1001):
        numbers[rule(n)].add(n)
    return {form for form, ns in numbers.items() if len(ns) == 1}


@pytest.mark.parametrize("lang", PRESENT)
def test_catalogue_is_complete_exact_and_plural_correct(lang: str) -> None:
    catalog = _read(catalogue_path(lang), lang)
    assert str(catalog.locale) == lang, f"Language header {catalog.locale} does not match folder {lang}"
    cldr = get_plural(lang)
    header = catalog.mime_headers
    plural_header = dict(header).get("Plural-Forms", "")
    nplurals = int(re.search(r"nplurals=(\d+)", plural_header).group(1))  # type: ignore[union-attr]
    assert nplurals == cldr.num_plurals, f"{lang}: Plural-Forms says {nplurals}, CLDR {cldr.num_plurals}"
    assert catalog.plural_expr.replace(" ", "") == cldr.plural_expr.replace(" ", ""), plural_header
    may_omit_num = _single_number_forms(cldr.plural_expr, nplurals)
    problems: list[str] = []
    present = {_key(m): m for m in catalog if m.id}
    for msgid in sorted(TEMPLATE_IDS - present.keys()):
        problems.append(f"missing: {msgid!r}")
    for key, message in present.items():
        if key not in TEMPLATE_IDS:
            continue  # obsolete entries are harmless; `update` drops them
        if message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        if isinstance(message.id, tuple):
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            expected = _placeholders(message.id[1]) | _placeholders(message.id[0])
            if len(forms) != nplurals:
                problems.append(f"{len(forms)} plural forms instead of {nplurals}: {key!r}")
            for index, form in enumerate(forms):
                if not form:
                    problems.append(f"untranslated plural form {index}: {key!r}")
                    continue
                found = _placeholders(form)
                allowed = expected - {("num", "d")} if index in may_omit_num else expected
                if not allowed <= found <= expected:
                    problems.append(f"placeholders {sorted(found)} not {sorted(expected)} in form {index}: {key!r}")
                if STRAY_PERCENT.search(form):
                    problems.append(f"stray % in form {index}: {key!r}")
        else:
            if not message.string:
                problems.append(f"untranslated: {key!r}")
                continue
            if _placeholders(str(message.string)) != _placeholders(message.id):
                problems.append(f"placeholders differ: {key!r} -> {message.string!r}")
            if STRAY_PERCENT.search(str(message.string)):
                problems.append(f"stray %: {key!r}")
    assert not problems, f"{lang}: " + "; ".join(problems)


CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEEN = datetime(2026, 2, 27, 8, 30, tzinfo=UTC)


def _sample(count: int) -> tuple[Notice, Provider, list[NoticeItem]]:
    notice = Notice(id="OW-20260301-0A1B2C3D", provider_id=1, created_at=CREATED)
    provider = Provider(name="Example Hosting Ltd")
    items = [
        NoticeItem(id=i, media_url=f"https://files.example.test/m/{i}.jpg", page_url="https://files.example.test/p",
                   host="files.example.test", resolved_ip="203.0.113.9", sha256=f"{i:02x}" * 32,
                   pdq=("f0" * 32) if i % 2 else None, classification="baseline_csam", first_seen=SEEN, last_seen=SEEN)
        for i in range(1, count + 1)
    ]
    return notice, provider, items


@pytest.mark.parametrize("lang", ["en", *PRESENT])
def test_catalogue_renders_every_kind_of_notice_with_local_dates(lang: str) -> None:
    t = translations(lang)
    for count in (1, 2, 5, 21):
        notice, provider, items = _sample(count)
        for role in (NoticeRole.HOST, NoticeRole.CDN, NoticeRole.HOTLINE, NoticeRole.UPSTREAM):
            ctx = NoticeContext(recipient="abuse@example.test", operator_name="Test Operator",
                                portal_url="https://portal.test/provider/notices/OW-20260301-0A1B2C3D",
                                language=lang, role=role, country="DE", escalated_from="Bad Host",
                                recheck_hours=24, first_notice_at=SEEN if role != NoticeRole.HOST else None)
            rendered = render_notice(notice, provider, items, ctx)
            assert "%(" not in rendered.text and "%(" not in rendered.subject and "%(" not in (rendered.html or "")
            assert rendered.subject.startswith("[OW-20260301-0A1B2C3D]")
            assert f"{t.gettext('Notice ID')}: OW-20260301-0A1B2C3D" in rendered.text
            local_date = format_datetime(CREATED, "long", tzinfo=UTC, locale=Locale.parse(lang))
            assert local_date in rendered.text
            assert format_datetime(SEEN, "long", tzinfo=UTC, locale=Locale.parse(lang)) in rendered.text
            for item in items:
                assert item.media_url in rendered.text and item.sha256 in (rendered.html or "")
            if lang != "en":  # English always follows the provider's language
                assert "Notice ID: OW-20260301-0A1B2C3D" in rendered.text
                assert '<section lang="en" dir="ltr">' in (rendered.html or "")


@pytest.mark.parametrize("lang", RTL)
def test_right_to_left_languages_render_rtl_html(lang: str) -> None:
    assert lang in PRESENT, f"no catalogue for {lang}"
    notice, provider, items = _sample(2)
    ctx = NoticeContext(recipient="abuse@example.test", operator_name="Op", portal_url="https://portal.test/x",
                        language=lang)
    html = render_notice(notice, provider, items, ctx).html or ""
    assert f'<html lang="{lang}" dir="rtl">' in html
    assert f'<section lang="{lang}" dir="rtl">' in html
    assert '<bdi dir="ltr">https://files.example.test/m/1.jpg</bdi>' in html


def test_left_to_right_languages_are_marked_ltr() -> None:
    notice, provider, items = _sample(1)
    lang = "de" if "de" in PRESENT else "en"
    html = render_notice(notice, provider, items, NoticeContext(
        recipient="a@b.test", operator_name="Op", portal_url="https://portal.test/x", language=lang)).html or ""
    assert f'<html lang="{lang}" dir="ltr">' in html


def test_html_escapes_values_that_come_from_the_web() -> None:
    notice, provider, items = _sample(1)
    items[0].media_url = 'https://x.test/"><script>alert(1)</script>'
    provider.name = "<b>Host</b>"
    rendered = render_notice(notice, provider, items, NoticeContext(
        recipient="a@b.test", operator_name="Op & Co", portal_url="https://portal.test/x", language="en"))
    html = rendered.html or ""
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;Host&lt;/b&gt;" in html and "Op &amp; Co" in html
    assert "<script>" in rendered.text  # the text part is plain text, shown as is


def test_a_broken_catalogue_is_a_clear_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import ConfigError
    from notifier import i18n

    bad = tmp_path / "de" / "LC_MESSAGES"
    bad.mkdir(parents=True)
    (bad / "messages.po").write_text('msgid "a"\nmsgid "b"\nmsgstr "c"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        with pytest.raises(ConfigError, match="cannot be read"):
            i18n.translations("de")
        with pytest.raises(ConfigError, match="no notice catalogue"):
            i18n.translations("yy")
    finally:
        i18n.translations.cache_clear()
