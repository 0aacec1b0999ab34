#!/usr/bin/env python3
"""Screenshots of the web app's main pages at desktop and phone width, over benign generated data.

    python -m scripts.screenshots [--out docs/screenshots]

Starts the app on a loopback port over a temporary store (users, two campaigns with per-host
progress and a refused seed, a hash list, a review item from a generated image, an API token),
then photographs each page with Debian's Chromium (never a downloaded browser) at 1280 px and
390 px. Nothing leaves the machine; every image is generated (orbweaver/demo/imagegen.py).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from core.messages import utcnow
from core.store.tables.crawler import Page
from crawler.campaigns import Campaigns, parse_spec
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from review.stage import ReviewStage
from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import PASSWORD, make_settings
from tests.unit.web.seed import image, seed_candidate
from web.auth import Role

CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": 1280, "phone": 390}
PAGES = [  # (file name, who looks, path; {campaign} is filled in)
    ("dashboard", "operator", "/dashboard"),
    ("campaign", "operator", "/dashboard/campaigns/{campaign}"),
    ("hash-lists", "operator", "/dashboard/lists"),
    ("review-queue", "analyst", "/review"),
    ("api-tokens", "admin", "/admin/tokens"),
    ("users", "admin", "/admin/users"),
    ("api-reference", "admin", "/docs"),
]


def seed(site: ServedApp) -> str:
    """Benign data for the pages; returns the campaign to photograph."""
    accounts = site.app.state.ctx.accounts
    for role in (Role.OPERATOR, Role.ANALYST, Role.ADMIN):
        accounts.create_user(role.value, PASSWORD, [role.value], actor="screenshots")
    accounts.create_user("nightly-script", PASSWORD, [Role.HASH_CHECK.value], actor="screenshots")
    accounts.create_token("nightly-script", "nightly hash check", actor="admin", expires_days=90)
    campaigns = Campaigns(site.store)
    now = utcnow()
    shown = campaigns.create(parse_spec({
        "name": "gallery sweep", "seeds": ["http://gallery.example/", "http://10.0.0.5/"], "scope": {"mode": "site"},
        "operator": "Hotline Lab", "contact_url": "https://hotline.example/crawler"}), queued=True).id
    campaigns.claim(shown, "screenshots", 60)
    with site.store.session() as s:
        s.add(Page(campaign_id=shown, url="http://10.0.0.5/", fetched_at=now - timedelta(minutes=9),
                   error="refused: 10.0.0.5 is a private address (10.0.0.0/8)"))
        for i in range(12):
            s.add(Page(campaign_id=shown, url=f"http://gallery.example/p/{i}", http_status=200, depth=1,
                       fetched_at=now - timedelta(minutes=8 - i / 2)))
        s.add(Page(campaign_id=shown, url="http://gallery.example/p/missing", http_status=404,
                   error="HTTP 404", fetched_at=now - timedelta(minutes=2)))
    campaigns.heartbeat(shown, "screenshots", 60, {"pages_fetched": 13, "media_fetched": 0, "fetch_errors": 2})
    campaigns.finish_foreground(shown, "finished")
    campaigns.create(parse_spec({"name": "forum check, weekly", "seeds": ["http://forum.example/"],
                                 "operator": "Hotline Lab", "contact_url": "https://hotline.example/crawler",
                                 "recurrence_hours": 168}))
    import_entries(site.store, "partner list", [ListEntry(value=f"{i:02x}" * 32, algorithm="pdq", label=f"e{i}",
                                                          classification="baseline_csam") for i in range(1, 30)],
                   source="partner export 2026-03")
    stage = ReviewStage(site.bus, site.store, site.settings.review)  # type: ignore[attr-defined]
    for n in range(3):
        seed_candidate(site.store, site.blobs, stage, image(40 + n), media_url=f"http://files.example/{n}.jpg")
    return shown


def main() -> None:
    """Photograph the pages into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = ServedApp(Path(tmp), make_settings(Path(tmp)))
        site.start()
        try:
            campaign = seed(site)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
                for kind, width in WIDTHS.items():
                    pages = {}
                    for name, who, path in PAGES:
                        if who not in pages:
                            page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
                            page.goto(f"{site.base_url}/login")
                            page.fill("#name", who)
                            page.fill("#password", PASSWORD)
                            page.click("#sign-in")
                            page.wait_for_load_state()
                            pages[who] = page
                        page = pages[who]
                        page.goto(site.base_url + path.format(campaign=campaign))
                        target = args.out / f"{name}-{kind}.png"
                        page.screenshot(path=str(target))
                        print(target)
                browser.close()
        finally:
            site.stop()


if __name__ == "__main__":
    main()
