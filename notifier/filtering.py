"""What the filtering feed publishes (notifier, last stage; the web serves it): noticed URLs, still up or not.

The notifier owns notice items and learns of removals from its rechecks; the web's filtering feed
(``web/feeds.py``) reads them here and publishes the URLs of confirmed material still online.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.tables.notifier import NoticeItem
from notifier.states import NoticeItemStatus


def noticed_urls(session: Session) -> dict[str, tuple[bool, str]]:
    """Every noticed media URL -> ``(still online, classification)``.

    A URL is online while any of its items is open: a recheck that found it gone (removed), found
    other bytes there (changed) or an accepted contest (withdrawn) closes an item.
    """
    out: dict[str, tuple[bool, str]] = {}
    for url, status, classification in session.execute(
        select(NoticeItem.media_url, NoticeItem.status, NoticeItem.classification).order_by(NoticeItem.id)
    ):
        online = status == NoticeItemStatus.OPEN
        before = out.get(url)
        if before is None or (online and not before[0]):
            out[url] = (online, classification)
    return out
