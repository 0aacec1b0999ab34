"""Notifier stage: the text of a takedown notice, in the provider's language with English beside it.

Every user-visible string goes through gettext (templates in ``templates/``, catalogues in
``locale/``); dates are formatted by Babel in each language's own style. A notice lists URLs,
hashes, times and classifications. It never carries media.
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from core.messages import Classification
from core.store.tables.notifier import Notice, NoticeItem, Provider
from notifier.base import RenderedNotice
from notifier.i18n import N_, SOURCE_LANGUAGE, country_name, format_when, html_lang, text_direction, translations
from notifier.states import NoticeRole

TEMPLATES = Path(__file__).parent / "templates"

CLASS_LABELS: dict[Classification, str] = {
    Classification.BASELINE_CSAM: N_("Child sexual abuse material (illegal in all jurisdictions)"),
    Classification.NATIONALLY_ILLEGAL: N_("Child sexual abuse material (illegal under national law)"),
    Classification.HARMFUL_ABUSIVE: N_("Harmful or abusive imagery of children"),
    Classification.NOT_CSAM: N_("Not child sexual abuse material"),
    Classification.UNABLE_TO_ASSESS: N_("Unable to assess"),
}
"""Classification names as msgids; translated where a notice shows them."""


@dataclass(frozen=True)
class NoticeContext:
    """What rendering needs besides the stored rows."""

    recipient: str
    operator_name: str
    portal_url: str
    language: str = SOURCE_LANGUAGE
    """Catalogue of the first section; English follows it unless it is English."""
    role: NoticeRole = NoticeRole.HOST
    country: str | None = None
    """Hosting country (ISO alpha-2), named in a hotline's notice."""
    escalated_from: str | None = None
    """The host that failed to act, named in an upstream provider's notice."""
    recheck_hours: int = 24
    first_notice_at: datetime | None = None
    """When these items were first noticed, for a re-notice; None on the first notice."""
    attachments: bool = True
    """Whether machine-readable reports go with it (the text then says so)."""


@lru_cache(maxsize=128)
def environment(language: str, html: bool) -> Environment:
    """A Jinja2 environment with ``language``'s catalogue installed (new-style gettext)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=html, default=html),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def subject(t: gettext.NullTranslations, notice_id: str, count: int, repeated: bool) -> str:
    """The subject line in one language."""
    # TRANSLATORS: Keep "[%(notice_id)s]" at the start: mail filters sort notices by it.
    if repeated:
        text = t.ngettext(
            "[%(notice_id)s] Repeated takedown request: %(num)d item of child sexual abuse material is still on "
            "your service",
            "[%(notice_id)s] Repeated takedown request: %(num)d items of child sexual abuse material are still on "
            "your service",
            count,
        )
    else:
        text = t.ngettext(
            "[%(notice_id)s] Takedown request: %(num)d item of child sexual abuse material on your service",
            "[%(notice_id)s] Takedown request: %(num)d items of child sexual abuse material on your service",
            count,
        )
    return text % {"notice_id": notice_id, "num": count}


def classification_label(t: gettext.NullTranslations, value: str) -> str:
    """A classification's name in one language (the stored key itself if it is not a known one)."""
    try:
        label = CLASS_LABELS[Classification(value)]
    except ValueError:
        return value
    return t.gettext(label)


def evidence_reference(notice_id: str, item: NoticeItem) -> str:
    """How an item is quoted in correspondence: ``<notice>/<item>``."""
    return f"{notice_id}/{item.id}"


def _section_values(
    language: str, notice: Notice, provider: Provider, items: Sequence[NoticeItem], ctx: NoticeContext, last: bool
) -> dict[str, Any]:
    t = translations(language)
    return {
        "html_lang": html_lang(language),
        "direction": text_direction(language),
        "provider_name": provider.name,
        "operator": ctx.operator_name,
        "role": ctx.role,
        "country": country_name(ctx.country, language) if ctx.country else "",
        "escalated_from": ctx.escalated_from or "",
        "count": len(items),
        "hours": ctx.recheck_hours,
        "first_notice_date": format_when(ctx.first_notice_at, language) if ctx.first_notice_at else "",
        "notice_id": notice.id,
        "notice_date": format_when(notice.created_at, language),
        "portal_url": ctx.portal_url,
        "attachments": ctx.attachments,
        "english_follows": not last,
        "items": [
            {
                "number": number,
                "url": item.media_url,
                "page": item.page_url,
                "host": item.host,
                "ip": item.resolved_ip or "",
                "first_seen": format_when(item.first_seen, language),
                "last_seen": format_when(item.last_seen, language),
                "sha256": item.sha256,
                "pdq": item.pdq or "",
                "classification": classification_label(t, item.classification),
                "evidence": evidence_reference(notice.id, item),
            }
            for number, item in enumerate(items, start=1)
        ],
    }


def notice_languages(language: str) -> list[str]:
    """The sections of a notice: its language, then English unless that is English."""
    return [language] if language == SOURCE_LANGUAGE else [language, SOURCE_LANGUAGE]


def render_notice(
    notice: Notice,
    provider: Provider,
    items: Sequence[NoticeItem],
    ctx: NoticeContext,
    *,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: dict[str, str] | None = None,
) -> RenderedNotice:
    """Render a notice from stored rows: text and HTML, one section per language (deterministic for retries).

    Raises:
        ConfigError: If the language's catalogue is missing or broken.

    """
    languages = notice_languages(ctx.language)
    texts: list[str] = []
    sections: list[Markup] = []
    for index, language in enumerate(languages):
        values = _section_values(language, notice, provider, items, ctx, last=index == len(languages) - 1)
        texts.append(environment(language, html=False).get_template("section.txt.j2").render(values))
        sections.append(Markup(environment(language, html=True).get_template("section.html.j2").render(values)))
    title = subject(translations(ctx.language), notice.id, len(items), repeated=ctx.first_notice_at is not None)
    html = environment(ctx.language, html=True).get_template("page.html.j2").render(
        html_lang=html_lang(ctx.language), direction=text_direction(ctx.language), subject=title, sections=sections
    )
    return RenderedNotice(
        notice_id=notice.id,
        recipient=ctx.recipient,
        subject=title,
        text=("\n" + "=" * 72 + "\n\n").join(texts),
        language=html_lang(ctx.language),
        headers={"X-Orbweaver-Notice-ID": notice.id, **(headers or {})},
        html=html,
        attachments=attachments,
    )
