"""Issue 17 in a real browser (Debian's Chromium under Playwright): dead ends now keep the form, review
for teams (keyboard decision, undo, notes), and sign-in limits no stranger can spend for the team.

One app and one Chromium serve the whole module (each test signs in with fresh profiles of its own).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import select

from core.store.tables.review import ReviewDecisionRow, ReviewItem
from tests.integration.test_web_browser import CHROMIUM, FLAGS, Site
from tests.unit.web.conftest import PASSWORD
from tests.unit.web.seed import image, seed_candidate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    served = Site(tmp_path_factory.mktemp("teams-site"))
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-test-servers.sh (installs Debian's chromium)")
    with sync_playwright() as pw:
        yield _launch(pw)


def _launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)


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
