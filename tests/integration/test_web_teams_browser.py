"""Issue 17 in a real browser (Debian's Chromium under Playwright): dead ends now keep the form, review
for teams (claims, undo, notes, a senior's "unable to assess"), sign-in limits no stranger can spend for
the team, and wellbeing (exposure counts, enforced breaks, reveal preferences).

One app and one Chromium serve the whole module (each test signs in with fresh profiles of its own). The
app runs on the suite's fake clock (started at the real time, so cookies stay valid), which the break
test moves on by hand instead of sleeping; that test runs last so no other walk sees the later time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageStat
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from core.messages import Topic
from core.store.tables.notifier import NoticeContest, NoticeItem, Provider
from core.store.tables.review import ReviewDecisionRow, ReviewItem
from notifier.channels import OutboxChannel
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow
from tests.fixtures.clock import FakeClock
from tests.fixtures.webapp import ServedApp
from tests.integration.test_web_browser import Site, media
from tests.unit.web.conftest import PASSWORD, make_settings
from tests.unit.web.seed import image, seed_candidate

pytestmark = pytest.mark.integration


BREAK_AFTER = 4
"""Items an analyst sees before a break is due (tiny, so the break walk is quick; no other walk sees as many)."""
BREAK_MINUTES = 5


class TeamSite(Site):
    """The browser tests' site on a fake clock, with breaks enforced after a few items."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        ServedApp.__init__(self, tmp_path, make_settings(tmp_path, break_after_items=BREAK_AFTER,
                                                         break_minutes=BREAK_MINUTES), clock=self.clock)
        self.stage = ReviewStage(self.bus, self.store, self.settings.review)
        self.tmp_path = tmp_path

    def workflow(self) -> ReviewWorkflow:
        return ReviewWorkflow(self.store, self.bus, self.settings.review, self.clock)

    def seed(self, n: int) -> int:
        return seed_candidate(self.store, self.blobs, self.stage, image(n), media_url=f"http://img.test/{n}.jpg").item_id

    def status(self, item_id: int) -> tuple[str, str | None]:
        with self.store.session() as s:
            row = s.get(ReviewItem, item_id)
            assert row is not None
            return row.status, row.classification


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamSite]:
    served = TeamSite(tmp_path_factory.mktemp("teams-site"))
    served.start()
    yield served
    served.stop()


def signed_in(chromium: Browser, site: Site, name: str, path: str = "/") -> Page:
    page = chromium.new_context().new_page()
    page.goto(f"{site.base_url}{path}")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{site.base_url}{path}")
    return page


def test_an_admin_creating_users_keeps_the_form_and_reads_the_reason_beside_the_field(
    site: Site, chromium: Browser
) -> None:
    site.user("root", "admin")
    page = signed_in(chromium, site, "root", "/admin/users")
    page.fill("#new-name", "newbie")
    page.fill("#new-password", PASSWORD)
    page.click("#new-user button[type=submit]")  # no role ticked
    assert page.inner_text("#error-role") == "Choose at least one role."
    assert page.input_value("#new-name") == "newbie"
    body = page.inner_text("main")
    assert "body.role" not in body and "Field required" not in body
    page.check("#new-user input[value=provider]")
    page.fill("#new-password", PASSWORD)
    page.click("#new-user button[type=submit]")  # a provider user, no provider chosen
    assert "needs the provider they work for" in page.inner_text("#error-provider_id")
    assert "--provider" not in page.inner_text("main")
    assert page.is_checked("#new-user input[value=provider]") and page.input_value("#new-name") == "newbie"
    page.context.close()


def test_an_analyst_decides_with_the_keyboard_and_a_refusal_keeps_choice_and_reveal(
    site: Site, chromium: Browser
) -> None:
    first = seed_candidate(site.store, site.blobs, site.stage, image(21), media_url="http://img.test/21.jpg")
    site.user("ana", "analyst")
    page = signed_in(chromium, site, "ana", "/review")
    page.goto(f"{site.base_url}/review/items/{first.item_id}")
    with page.expect_navigation():
        page.keyboard.press("r")  # unblur
    # A jurisdiction the server refuses: the page comes back with everything as it was.
    page.fill("#note", "two hosts")
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # nationally illegal: the cursor goes to the jurisdiction
    page.keyboard.type("Germany")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "needs a jurisdiction" in page.inner_text("#error-jurisdiction")
    assert page.is_checked("#choice-nationally_illegal") and page.input_value("#jurisdiction") == "Germany"
    assert page.input_value("#note") == "two hosts"
    assert page.inner_text("#reveal-level") == "Shown: small, greyscale"  # the reveal is not lost
    # The dead end of issue 17: 2, a code, s. The "s" used to be typed into the field ("DEs").
    page.fill("#jurisdiction", "")
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    page.keyboard.type("de")
    with page.expect_navigation():
        page.keyboard.press("s")
    page.wait_for_url(f"{site.base_url}/review?done=recorded")
    with site.store.session() as s:
        row = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.review_item_id == first.item_id)).one()
        assert (row.classification, row.jurisdiction, row.note) == ("nationally_illegal", "DE", "two hosts")
    # Pressing 1 then s by mistake is taken back with u; the item opens again (not 404).
    with page.expect_navigation():
        page.keyboard.press("u")
    page.wait_for_url(f"{site.base_url}/review/items/{first.item_id}?done=undone")
    assert "taken back" in page.inner_text("#flash")
    with site.store.session() as s:
        assert s.scalar(select(ReviewItem.status).where(ReviewItem.id == first.item_id)) == "pending"
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("s")
    page.goto(f"{site.base_url}/review/mine")
    assert page.locator(f"#my-decisions tr[data-item='{first.item_id}']").count() == 1
    page.context.close()


def test_strangers_failing_from_the_teams_address_do_not_lock_the_admin_out(site: Site, chromium: Browser) -> None:
    site.user("boss", "admin")
    own = chromium.new_context()  # the admin's own browser, which signed in before
    page = own.new_page()
    page.goto(f"{site.base_url}/login")
    page.fill("#name", "boss")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{site.base_url}/")
    own.clear_cookies(name="ow_session")
    stranger = chromium.new_context().new_page()
    for n in range(20):  # same loopback address, any names, the admin's too
        stranger.goto(f"{site.base_url}/login")
        stranger.fill("#name", "boss" if n % 3 == 0 else f"guess{n}")
        stranger.fill("#password", "not the password")
        stranger.click("#sign-in")
        stranger.wait_for_selector("#login-error")
    page.goto(f"{site.base_url}/login")
    page.fill("#name", "boss")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{site.base_url}/")
    stranger.context.close()
    own.close()


def queued(page: Page) -> list[int]:
    """The item ids the queue page lists."""
    ids: list[int] = page.locator("#queue tr[data-item]").evaluate_all("rows => rows.map(r => +r.dataset.item)")
    return ids


def test_an_item_one_analyst_views_is_skipped_by_the_next_and_a_decision_is_undone_and_kept_with_its_note(
    site: TeamSite, chromium: Browser
) -> None:
    viewed, other = site.seed(31), site.seed(32)
    site.user("amy", "analyst")
    site.user("ben", "analyst")
    amy = signed_in(chromium, site, "amy", f"/review/items/{viewed}")  # viewing claims it
    ben = signed_in(chromium, site, "ben", "/review")
    assert viewed not in queued(ben) and other in queued(ben)
    ben.goto(f"{site.base_url}/review/items/{viewed}")
    assert "amy is viewing this item now" in ben.inner_text("#claimed")
    # amy decides with the mouse, then takes it back with the undo button: the item opens again.
    amy.check("#choice-not_csam")
    amy.click("#submit-decision")
    amy.wait_for_url(re.compile(r".*done=recorded$"))
    amy.click("#undo")
    amy.wait_for_url(f"{site.base_url}/review/items/{viewed}?done=undone")
    assert "taken back" in amy.inner_text("#flash") and amy.is_visible("#decision-form")
    assert site.status(viewed) == ("pending", None)
    # A decision with a note: stored with it and shown among amy's recent decisions.
    amy.check("#choice-not_csam")
    amy.fill("#note", "a <b>doll</b>, not a child")
    amy.click("#submit-decision")
    amy.wait_for_url(re.compile(r".*done=recorded$"))
    with site.store.session() as s:
        row = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.review_item_id == viewed)).one()
        assert (row.analyst, row.classification, row.note) == ("amy", "not_csam", "a <b>doll</b>, not a child")
    amy.goto(f"{site.base_url}/review/mine")
    assert amy.inner_text(f"#my-decisions tr[data-item='{viewed}']").count("a <b>doll</b>, not a child") == 1
    amy.context.close()
    ben.context.close()


def test_a_seniors_unable_to_assess_leaves_the_escalated_item_to_another_senior(
    site: TeamSite, chromium: Browser
) -> None:
    item = site.seed(41)
    site.workflow().decide(item, "cat", "baseline_csam", senior=False)
    site.workflow().decide(item, "dan", "not_csam", senior=False)  # disagreement: escalated
    assert site.status(item) == ("escalated", None)
    site.user("sue", "senior_analyst")
    site.user("tom", "senior_analyst")
    sue = signed_in(chromium, site, "sue", f"/review/items/{item}")
    assert "senior review" in sue.inner_text("h1")
    sue.check("#choice-unable_to_assess")
    sue.click("#submit-decision")
    sue.wait_for_url(re.compile(r".*done=referred$"))
    assert "stays open for another senior analyst" in sue.inner_text("#flash")
    assert site.status(item) == ("escalated", None)  # not settled as rejected
    tom = signed_in(chromium, site, "tom", "/review")
    assert item in queued(tom)
    tom.goto(f"{site.base_url}/review/items/{item}")
    tom.check("#choice-baseline_csam")
    tom.click("#submit-decision")
    tom.wait_for_url(re.compile(r".*done=settled$"))
    assert site.status(item) == ("confirmed", "baseline_csam")
    sue.context.close()
    tom.context.close()


def test_a_contest_reason_of_spaces_comes_back_beside_the_field_with_the_form_kept(
    site: TeamSite, chromium: Browser
) -> None:
    upsert_providers(site.store, [ProviderRecord(name="Host C", abuse_email="abuse@c.test", domains=["c.test"])])
    settings = NotifierSettings.model_validate({"outbox": {"dir": site.tmp_path / "outbox"}, "batch_window_s": 0,
                                                "hotline_policy": "none", "portal_base_url": "https://portal.example/"})
    notifier = NotifierStage(site.bus, site.store, settings, OutboxChannel(site.tmp_path / "outbox", settings.sender),
                             clock=site.clock)
    item = seed_candidate(site.store, site.blobs, site.stage, image(51), media_url="http://c.test/51.jpg").item_id
    site.workflow().decide(item, "eve", "baseline_csam", senior=False)
    site.workflow().decide(item, "fay", "baseline_csam", senior=False)
    waiting = site.bus.lag(Topic.NOTICE_REQUESTS, "notifier")
    site.bus.consume(Topic.NOTICE_REQUESTS, "notifier", notifier.handle, max_messages=waiting, poll_timeout_s=0.05)
    notifier.flush(force=True)
    with site.store.session() as s:
        notice_id, notice_item = s.execute(select(NoticeItem.notice_id, NoticeItem.id)
                                           .where(NoticeItem.media_url == "http://c.test/51.jpg")).one()
        provider_id = s.scalar(select(Provider.id).where(Provider.name == "Host C"))
    site.app.state.ctx.accounts.create_user("pat", PASSWORD, ["provider"], actor="test", provider_id=provider_id)
    page = signed_in(chromium, site, "pat", f"/provider/notices/{notice_id}")
    reason = page.locator(".contest-form textarea[name=reason]")
    reason.fill("   ")  # "required" lets spaces through: the server must answer in words
    with page.expect_navigation():
        page.click(".contest-form button.contest")
    assert page.inner_text("#error-reason").strip()
    body = page.inner_text("main")
    assert "body.reason" not in body and "Field required" not in body and "422" not in body
    assert page.locator(".contest-form textarea[name=reason]").input_value() == "   "
    with site.store.session() as s:
        assert s.scalars(select(NoticeContest).where(NoticeContest.notice_item_id == notice_item)).all() == []
    page.locator(".contest-form textarea[name=reason]").fill("A stock photo of a beach.")
    with page.expect_navigation():
        page.click(".contest-form button.contest")
    assert "A stock photo of a beach." in page.inner_text(".contest-reason")
    page.context.close()


def edges(shown: Image.Image) -> float:
    """How sharp an image is (mean edge strength): a blurred one has little."""
    return float(ImageStat.Stat(shown.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0])


def shown_after_saving(page: Page, site: TeamSite, item: int, unticked: str) -> tuple[Image.Image, str]:
    """Untick one viewing setting on /review/preferences, then open the item: its image and what the page says."""
    page.goto(f"{site.base_url}/review/preferences")
    page.uncheck(unticked)
    page.click("#save-prefs")
    page.wait_for_url(f"{site.base_url}/review/preferences?done=saved")
    assert not page.is_checked(unticked)  # the choice is kept
    page.goto(f"{site.base_url}/review/items/{item}")
    return media(page), page.inner_text("#reveal-level")


def test_reveal_preferences_saved_in_the_browser_shape_the_reduced_image(site: TeamSite, chromium: Browser) -> None:
    item = site.seed(61)
    site.user("pia", "analyst")
    page = signed_in(chromium, site, "pia", f"/review/items/{item}")
    default = media(page)
    assert default.mode == "L" and page.inner_text("#reveal-level") == "Shown: small, greyscale, blurred"
    colour, said = shown_after_saving(page, site, item, "#pref-greyscale")
    assert colour.mode == "RGB" and said == "Shown: small, colour, blurred"
    sharp, said = shown_after_saving(page, site, item, "#pref-blur")
    assert sharp.mode == "RGB" and said == "Shown: small, colour"
    assert edges(sharp) > 2 * edges(colour)
    page.context.close()


def test_exposure_shows_on_the_team_view_and_an_enforced_break_outlasts_keys_and_reloads(
    site: TeamSite, chromium: Browser
) -> None:
    items = [site.seed(70 + n) for n in range(BREAK_AFTER + 1)]
    site.user("wes", "analyst")
    site.user("sam", "senior_analyst")
    page = signed_in(chromium, site, "wes", "/review")
    site.clock.advance(seconds=1)  # counting starts when the session does; the fake clock stands still otherwise
    page.goto(f"{site.base_url}/review/items/{items[0]}")
    with page.expect_navigation():
        page.keyboard.press("r")  # unblur: one reveal
    boss = signed_in(chromium, site, "sam", "/review/team")
    assert (boss.inner_text("tr[data-analyst=wes] .seen"), boss.inner_text("tr[data-analyst=wes] .revealed")) == (
        "1", "1")
    for item in items[1:BREAK_AFTER]:
        response = page.goto(f"{site.base_url}/review/items/{item}")
        assert response is not None and response.status == 200
    # BREAK_AFTER items seen: the next one is held, whatever key or reload.
    response = page.goto(f"{site.base_url}/review/items/{items[-1]}")
    assert response is not None and response.status == 423 and page.is_visible("#break-held")
    with page.expect_navigation():
        page.keyboard.press("n")
    assert page.is_visible("#break-held")
    assert page.request.get(f"{site.base_url}/review/items/{items[-1]}/media").status == 423
    page.goto(f"{site.base_url}/review")
    with page.expect_navigation():
        page.keyboard.press("b")  # start the break
    boss.reload()
    assert boss.inner_text("tr[data-analyst=wes] .break").startswith("on a break until")
    for _ in range(2):  # a reload, then the keys, during the break
        response = page.goto(f"{site.base_url}/review/items/{items[-1]}")
        assert response is not None and response.status == 423
        assert "shown again after your break" in page.inner_text("#break-held")
        assert not page.is_visible("#break-form")  # nothing to press that ends it
        page.keyboard.press("b")
    site.clock.advance(minutes=BREAK_MINUTES - 1)
    assert page.goto(f"{site.base_url}/review/items/{items[-1]}").status == 423  # type: ignore[union-attr]
    site.clock.advance(minutes=1)
    response = page.goto(f"{site.base_url}/review/items/{items[-1]}")
    assert response is not None and response.status == 200 and page.is_visible("#media-image")
    assert media(page).mode == "L"
    page.context.close()
    boss.context.close()
