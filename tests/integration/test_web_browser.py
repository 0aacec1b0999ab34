"""The analyst review flow in a real browser: Debian's headless Chromium driven by Playwright.

The app runs under uvicorn in a thread on a free loopback port, over a temporary store, embedded
bus and blob folder. Images are generated (tests/unit/web/seed.py). Chromium is Debian's package
(scripts/ensure-test-servers.sh installs it); Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy import select

from core.messages import NoticeRequest, ReviewDecision, Topic, decode
from core.store.tables.review import ReviewItem
from core.store.tables.web import AuditEvent
from review.stage import ReviewStage
from tests.fixtures.browser import CHROMIUM, FLAGS, require_chromium
from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import PASSWORD, make_settings
from tests.unit.web.seed import image, seed_candidate

pytestmark = pytest.mark.integration



class Site(ServedApp):
    """The web app served by uvicorn in a thread, with the review stage beside it."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, make_settings(tmp_path))
        self.stage = ReviewStage(self.bus, self.store, self.settings.review)

    def user(self, name: str, role: str) -> None:
        self.app.state.ctx.accounts.create_user(name, PASSWORD, [role], actor="test")

    def published(self, topic: Topic) -> list[object]:
        return [decode(p) for p in self.bus.read_topic(str(topic))]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    served = Site(tmp_path)
    served.start()
    yield served
    served.stop()


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as pw:
        yield pw


def browser(pw: Playwright, profile: Path) -> BrowserContext:
    """A fresh Chromium profile (its own cookies: one analyst each)."""
    return pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS)


def sign_in(page: Page, site: Site, name: str) -> None:
    page.goto(f"{site.base_url}/review")
    assert "/login?next=" in page.url
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{site.base_url}/review")


def media(page: Page) -> Image.Image:
    """The image the item page shows, as the browser received it."""
    src = page.get_attribute("#media-image", "src")
    assert src is not None
    response = page.request.get(site_url(page) + src)
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    shown = Image.open(io.BytesIO(response.body()))
    natural = page.evaluate("document.getElementById('media-image').naturalWidth")
    assert natural == shown.width  # what the page rendered is what we fetched
    return shown


def site_url(page: Page) -> str:
    return "/".join(page.url.split("/")[:3])


def test_two_analysts_confirm_an_item_in_the_browser(site: Site, playwright: Playwright, tmp_path: Path) -> None:
    first = seed_candidate(site.store, site.blobs, site.stage, image(1), media_url="http://img.test/1.jpg",
                           label="entry <b>bold</b>")
    site.user("alice", "analyst")
    site.user("bob", "analyst")
    site.user("carol", "analyst")
    preview = site.settings.web.preview_px

    alice_ctx = browser(playwright, tmp_path / "alice")
    try:
        page = alice_ctx.new_page()
        sign_in(page, site, "alice")
        assert page.inner_text("#seen-today") == "Items seen today: 0"
        page.keyboard.press("n")  # shortcut: open the next item
        page.wait_for_url(f"{site.base_url}/review/items/{first.item_id}")
        assert "entry <b>bold</b>" in page.inner_text("#matches")  # a label is text, not markup
        blurred = media(page)
        assert max(blurred.size) <= preview and blurred.mode == "L"
        assert page.inner_text("#reveal-level") == "Shown: small, greyscale, blurred"
        page.screenshot(path=str(tmp_path / "blurred.png"))

        for expected in ("Shown: small, greyscale", "Shown: small, colour", "Shown: full size, colour"):
            with page.expect_navigation():
                page.keyboard.press("r")  # shortcut: reveal the next step
            assert page.inner_text("#reveal-level") == expected
        full = media(page)
        assert full.size == Image.open(io.BytesIO(first.body)).size and full.mode == "RGB"

        page.keyboard.press("1")  # baseline CSAM
        assert page.is_checked("#choice-baseline_csam")
        with page.expect_navigation():
            page.keyboard.press("s")
        page.wait_for_url(f"{site.base_url}/review?done=recorded")
        assert "waits for another analyst" in page.inner_text("#flash")
        assert page.is_visible("#queue-empty")
    finally:
        alice_ctx.close()
    assert site.published(Topic.NOTICE_REQUESTS) == []

    bob_ctx = browser(playwright, tmp_path / "bob")
    try:
        page = bob_ctx.new_page()
        sign_in(page, site, "bob")
        page.click(f"tr[data-item='{first.item_id}'] a")
        assert "alice" not in page.content()  # bob decides without seeing alice's decision
        assert media(page).mode == "L"  # bob's session starts blurred again
        page.check("#choice-baseline_csam")
        page.click("#submit-decision")
        page.wait_for_url(f"{site.base_url}/review?done=settled")
        assert page.inner_text("#flash") == "Item settled."
    finally:
        bob_ctx.close()

    decisions = site.published(Topic.REVIEW_DECISIONS)
    requests = site.published(Topic.NOTICE_REQUESTS)
    assert len(decisions) == 1 and isinstance(decisions[0], ReviewDecision)
    assert decisions[0].decided_by == "alice,bob"
    assert len(requests) == 1 and isinstance(requests[0], NoticeRequest)
    assert requests[0].ref.media_url == first.media_url

    # A third item repeating the classified media (a re-encoded copy) never reaches the queue.
    third = seed_candidate(site.store, site.blobs, site.stage, image(1, quality=50),
                           media_url="http://copies.test/again.jpg")
    assert third.sha256 != first.sha256
    with site.store.session() as s:
        settled = s.get(ReviewItem, third.item_id)
        assert settled is not None and (settled.status, settled.classification) == ("confirmed", "baseline_csam")
    carol_ctx = browser(playwright, tmp_path / "carol")
    try:
        page = carol_ctx.new_page()
        sign_in(page, site, "carol")
        assert page.is_visible("#queue-empty")
        page.goto(f"{site.base_url}/review/items/{third.item_id}")
        assert "not in your queue" in page.inner_text("#error-message")
    finally:
        carol_ctx.close()
    assert {r.ref.media_url for r in site.published(Topic.NOTICE_REQUESTS)} == {  # type: ignore[attr-defined]
        first.media_url, third.media_url}

    with site.store.session() as s:
        reveals = s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "review.reveal")).all()
    assert [r["step"] for r in reveals] == ["unblur", "colour", "full"]


def test_wrong_password_and_csrf_in_the_browser(site: Site, playwright: Playwright, tmp_path: Path) -> None:
    site.user("alice", "analyst")
    ctx = browser(playwright, tmp_path / "profile")
    try:
        page = ctx.new_page()
        page.goto(f"{site.base_url}/login")
        page.fill("#name", "alice")
        page.fill("#password", "not the password")
        page.click("#sign-in")
        assert "wrong user name or password" in page.inner_text("#login-error")
        sign_in(page, site, "alice")
        # A cross-site form post carries the session cookie (SameSite=Lax allows none for POST) or not;
        # either way, without the synchronizer token it is refused.
        status = page.evaluate(
            "fetch('/review/break', {method: 'POST', body: new URLSearchParams({csrf_token: 'forged'})})"
            ".then(r => r.status)"
        )
        assert status == 403
        started = time.monotonic()
        page.keyboard.press("b")  # the break button, with its real token
        page.wait_for_url(f"{site.base_url}/review")
        assert time.monotonic() - started < 30
    finally:
        ctx.close()


def test_provider_marks_an_item_removed_in_the_browser(site: Site, playwright: Playwright, tmp_path: Path) -> None:
    # Imported here to keep this provider flow in one block of a file the analyst flows own.
    from core.messages import RecheckRequest
    from core.store.tables.notifier import Provider
    from notifier.channels import OutboxChannel
    from notifier.providers import ProviderRecord, upsert_providers
    from notifier.settings import NotifierSettings
    from notifier.stage import NotifierStage
    from tests.unit.notifier.helpers import confirmed

    upsert_providers(site.store, [ProviderRecord(name="Host A", abuse_email="abuse@a.test", domains=["a.test"])])
    with site.store.session() as s:
        s.add(ReviewItem(id=1, sha256="01" * 32, status="confirmed", classification="baseline_csam",
                         best_algorithm="pdq", best_distance=3))
    notifier = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, hotline_policy="none")
    stage = NotifierStage(site.bus, site.store, notifier, OutboxChannel(tmp_path / "outbox", notifier.sender))
    stage.handle(confirmed("http://files.a.test/<b>1</b>.jpg"))
    [notice_id] = stage.flush()
    with site.store.session() as s:
        provider_id = s.scalars(select(Provider.id).where(Provider.name == "Host A")).one()
    site.app.state.ctx.accounts.create_user("staff-a", PASSWORD, ["provider"], actor="test", provider_id=provider_id)

    ctx = browser(playwright, tmp_path / "provider")
    try:
        page = ctx.new_page()
        page.goto(f"{site.base_url}/provider/notices")
        assert "/login?next=" in page.url
        page.fill("#name", "staff-a")
        page.fill("#password", PASSWORD)
        page.click("#sign-in")
        page.wait_for_url(f"{site.base_url}/provider/notices")
        page.click(f"tr[data-notice='{notice_id}'] a")
        page.wait_for_url(f"{site.base_url}/provider/notices/{notice_id}")
        item = page.locator(".portal-item").first
        assert "http://files.a.test/<b>1</b>.jpg" in item.inner_text()  # a URL is text, not markup
        assert item.locator(".state").inner_text() == "open"
        with page.expect_navigation():
            item.locator("button.removed").click()
        assert "?done=removed" in page.url
        assert "being rechecked now" in page.inner_text("#flash")
        assert page.locator(".portal-item .state").first.inner_text() == "removal claimed"
        assert page.locator("button.removed").count() == 0  # pending: nothing to press twice
    finally:
        ctx.close()
    [request] = site.published(Topic.RECHECK_REQUESTS)
    assert isinstance(request, RecheckRequest) and request.media_url == "http://files.a.test/<b>1</b>.jpg"
