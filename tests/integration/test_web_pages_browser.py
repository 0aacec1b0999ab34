"""Every page in a real browser: phone width, accessibility (axe-core), the live campaign page, offline /docs.

One module-scoped app under uvicorn and one Debian Chromium (as test_web_browser.py starts them).
The pages are enumerated from the app's own routes, so a new page is walked without editing this
test: each GET page a role may open is loaded at 390 px, must not scroll sideways, and axe-core
(the copy inside the axe-playwright-python wheel, never a CDN) must find no serious or critical
violation on it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from core.messages import utcnow
from core.store.tables.crawler import Page as PageRow
from crawler.campaigns import Campaigns, parse_spec
from tests.fixtures.webapp import ServedApp
from tests.integration.test_web_browser import CHROMIUM, FLAGS
from tests.unit.web.conftest import PASSWORD, make_settings
from web.auth import Role, access_rule, routes

pytestmark = pytest.mark.integration

PHONE: ViewportSize = {"width": 390, "height": 844}
REFUSED = "refused: 10.0.0.5 is a private address (10.0.0.0/8)"
PARAM = re.compile(r"\{[^}]+\}")
BLOCKING = {"serious", "critical"}


class Site(ServedApp):
    """The app with one user per role and one campaign whose seed was refused."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, make_settings(tmp_path))
        accounts = self.app.state.ctx.accounts
        provider_id = self.provider()
        for role in Role:
            accounts.create_user(f"u-{role.value}", PASSWORD, [role.value], actor="test",
                                 provider_id=provider_id if role is Role.PROVIDER else None)
        self.campaigns = Campaigns(self.store)
        self.campaign = self.campaigns.create(parse_spec({
            "name": "lab sweep with a rather long name that must wrap on a phone",
            "seeds": ["http://10.0.0.5/a/very/long/path/that/must/not/push/the/page/sideways/on/a/phone"],
            "operator": "Hotline Lab", "contact_url": "https://hotline.test/crawler"})).id

    def provider(self) -> int:
        from core.store.tables.notifier import Provider

        with self.store.session() as s:
            p = Provider(name="host-a", abuse_email="abuse@host-a.test")
            s.add(p)
            s.flush()
            return p.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    served = Site(tmp_path_factory.mktemp("pages"))
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-test-servers.sh (installs Debian's chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def signed_in(chromium: Browser, site: Site, role: Role) -> Page:
    page = chromium.new_context(viewport=PHONE).new_page()
    page.goto(f"{site.base_url}/login")
    page.fill("#name", f"u-{role.value}")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_load_state()
    return page


def pages_of(site: Site, role: Role) -> list[str]:
    """The HTML pages ``role`` may open, from the app's routes (path parameters filled with real ids)."""
    known = {"campaign_id": site.campaign}
    out = []
    for view in routes(site.app):
        rule = access_rule(site.app, view)
        if "GET" not in view.methods or rule is None or view.path.startswith(("/v1/", "/static", "/openapi")):
            continue
        if not rule.public and role not in rule.roles:
            continue
        names = [m.strip("{}").split(":")[0] for m in PARAM.findall(view.path)]
        if any(n not in known for n in names) or view.path.endswith(("/progress", ".json", "/media", "/export")):
            continue
        out.append(PARAM.sub(lambda m: known[m.group(0).strip("{}").split(":")[0]], view.path))
    return sorted(set(out))


def sideways(page: Page) -> int:
    """How many pixels the page is wider than the phone's screen."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def violations(axe: Axe, page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    found = axe.run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}"
            for v in found if v.get("impact") in BLOCKING]


@pytest.mark.parametrize("role", list(Role))
def test_every_page_fits_a_phone_and_passes_axe(chromium: Browser, site: Site, role: Role) -> None:
    page = signed_in(chromium, site, role)
    walked = pages_of(site, role)
    assert "/docs" in walked and "/" in walked
    axe = Axe()
    wide, inaccessible = {}, {}
    for path in walked:
        answer = page.goto(site.base_url + path)
        assert answer is not None and answer.status < 400, (path, answer and answer.status)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue  # /healthz and other machine answers are not pages
        if (extra := sideways(page)) > 0:
            wide[path] = extra
        if found := violations(axe, page):
            inaccessible[path] = found
    assert not wide, f"pages wider than {PHONE['width']} px: {wide}"
    assert not inaccessible, f"serious or critical accessibility violations: {inaccessible}"
    page.context.close()


def test_the_sign_in_page_passes_axe(chromium: Browser, site: Site) -> None:
    page = chromium.new_context(viewport=PHONE).new_page()
    page.goto(f"{site.base_url}/login")
    assert violations(Axe(), page) == [] and sideways(page) <= 0
    page.context.close()


def test_the_campaign_page_shows_a_refused_seed_s_reason_as_it_happens(chromium: Browser, site: Site) -> None:
    page = signed_in(chromium, site, Role.OPERATOR)
    page.goto(f"{site.base_url}/dashboard/campaigns/{site.campaign}")
    assert page.locator("#nothing-fetched").is_hidden()
    assert page.locator("#no-problems").is_visible()
    page.evaluate("window.__same_page = 1")
    # The crawler records the refused seed and finishes, while the page stays open.
    with site.store.session() as s:
        s.add(PageRow(campaign_id=site.campaign, url="http://10.0.0.5/", error=REFUSED,
                      fetched_at=utcnow() - timedelta(seconds=1)))
    assert site.campaigns.finish_foreground(site.campaign, "finished")
    page.locator("#nothing-fetched").wait_for(state="visible", timeout=10_000)
    assert REFUSED in page.inner_text("#nothing-fetched")
    assert REFUSED in page.inner_text("#problems")
    assert page.inner_text("#state") == "finished"
    assert [b.get_attribute("value") for b in page.locator("#actions button").all()] == ["start"]
    assert page.evaluate("window.__same_page") == 1  # updated in place, never reloaded
    page.context.close()


def test_the_api_reference_works_offline(chromium: Browser, site: Site) -> None:
    context = chromium.new_context()
    elsewhere: list[str] = []

    def only_loopback(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if request.url.startswith(site.base_url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            elsewhere.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", only_loopback)
    page = context.new_page()
    answer = page.goto(f"{site.base_url}/docs")
    assert answer is not None and answer.status == 200
    assert page.locator("h1").inner_text() == "API reference"
    operations = sum(len(item) for item in site.app.openapi()["paths"].values())
    assert operations >= 2 and page.locator("section.operation").count() == operations
    assert not elsewhere
    context.close()
