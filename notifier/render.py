"""Notifier stage: the text of a takedown notice (English in the spine; more languages later).

A notice lists URLs, hashes, times and classifications. It never carries media.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.messages import Classification
from core.store.models import Notice, NoticeItem, Provider
from notifier.base import RenderedNotice

CLASS_LABELS_EN = {
    Classification.BASELINE_CSAM: "Child sexual abuse material (illegal in all jurisdictions)",
    Classification.NATIONALLY_ILLEGAL: "Child sexual abuse material (illegal under national law)",
    Classification.HARMFUL_ABUSIVE: "Harmful or abusive imagery of children",
    Classification.NOT_CSAM: "Not child sexual abuse material",
    Classification.UNABLE_TO_ASSESS: "Unable to assess",
}


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def render_notice(
    notice: Notice,
    provider: Provider,
    items: Sequence[NoticeItem],
    *,
    recipient: str,
    operator_name: str,
    portal_url: str,
) -> RenderedNotice:
    """Render one English notice for a provider from stored rows (deterministic for retries)."""
    count = len(items)
    noun = "item" if count == 1 else "items"
    subject = f"[{notice.id}] Takedown request: {count} {noun} of child sexual abuse material on your service"
    lines = [
        f"To the abuse team of {provider.name},",
        "",
        f"{operator_name} found the following {count} {noun} hosted on your service. Each was matched by",
        "cryptographic or perceptual hash against a list of known child sexual abuse material and",
        "confirmed. Please remove it promptly and preserve any related records as your law allows.",
        "We will check these URLs again and repeat this notice until the material is gone.",
        "",
        f"Notice ID: {notice.id}",
        f"Notice date: {_when(notice.created_at)}",
        f"Provider portal: {portal_url}",
        "",
        "This notice contains no images. Do not look for, copy or forward the material beyond what",
        "removal requires.",
        "",
    ]
    for number, item in enumerate(items, start=1):
        lines += [
            f"{number}. URL: {item.media_url}",
            f"   Found on page: {item.page_url}",
            f"   Host: {item.host}" + (f" ({item.resolved_ip})" if item.resolved_ip else ""),
            f"   First seen: {_when(item.first_seen)}",
            f"   Last verified present: {_when(item.last_seen)}",
            f"   SHA-256: {item.sha256}",
            f"   PDQ: {item.pdq or '-'}",
            f"   Classification: {CLASS_LABELS_EN.get(Classification(item.classification), item.classification)}",
            f"   Evidence reference: {notice.id}/{item.id}",
            "",
        ]
    lines += ["--", f"Sent by orbweaver on behalf of {operator_name}."]
    return RenderedNotice(
        notice_id=notice.id,
        recipient=recipient,
        subject=subject,
        text="\n".join(lines) + "\n",
        language="en",
        headers={"X-Orbweaver-Notice-ID": notice.id},
    )
