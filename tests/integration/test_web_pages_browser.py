"""Every page in a real browser: phone width, accessibility (axe-core), the live campaign page, offline /docs.

One module-scoped app under uvicorn and one Debian Chromium (as test_web_browser.py starts them).
The pages are enumerated from the app's own routes, so a new page is walked without editing this
test: each GET page a role may open is loaded at 390 px, must not scroll sideways, and axe-core
(the copy inside the axe-playwright-python wheel, never a CDN) must find no serious or critical
violation on it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, FilePayload, Locator, Page, ViewportSize

from core.messages import utcnow
from core.store.tables.crawler import Page as PageRow
from crawler.campaigns import Campaigns, parse_spec
from notifier.channels import OutboxChannel
from notifier.portal import open_contest
from notifier.providers import ProviderRecord, provider_names, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow
from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import PASSWORD, make_settings
from tests.unit.web.seed import confirm_and_notice, image, seed_candidate
from web.auth import API_PREFIXES, Role, access_rule, routes

pytestmark = pytest.mark.integration

PHONE: ViewportSize = {"width": 390, "height": 844}
REFUSED = "refused: 10.0.0.5 is a private address (10.0.0.0/8)"
PARAM = re.compile(r"\{[^}]+\}")
BLOCKING = {"serious", "critical"}


class Site(ServedApp):
    """The app with one user per role and an object behind every page whose URL needs an id.

    A campaign whose seed was refused; a notice to ``host-a`` with three confirmed items (made by the
    real review and notifier stages from generated benign images), one of them contested; a match
    still waiting for review; and a user for the account-management flows.
    """

    def __init__(self, tmp_path: Path) -> None:
        settings = make_settings(tmp_path)
        super().__init__(tmp_path, settings)
        accounts = self.app.state.ctx.accounts
        upsert_providers(self.store, [ProviderRecord(name="host-a", abuse_email="abuse@host-a.test",
                                                     domains=["a.test"])])
        with self.store.session() as s:
            [(provider_id, _)] = provider_names(s)
        self.provider_id = provider_id
        for role in Role:
            accounts.create_user(f"u-{role.value}", PASSWORD, [role.value], actor="test",
                                 provider_id=provider_id if role is Role.PROVIDER else None)
        accounts.create_user("flow-user", PASSWORD, [Role.ANALYST.value], actor="test")
        accounts.disable_user("flow-user", actor="test")
        self.user_id = next(u.id for u in accounts.list_users() if u.name == "flow-user")
        self.campaigns = Campaigns(self.store)
        self.campaign = self.campaigns.create(parse_spec({
            "name": "lab sweep with a rather long name that must wrap on a phone",
            "seeds": ["http://10.0.0.5/a/very/long/path/that/must/not/push/the/page/sideways/on/a/phone"],
            "operator": "Hotline Lab", "contact_url": "https://hotline.test/crawler"})).id
        review = ReviewStage(self.bus, self.store, settings.review)
        notifier_settings = NotifierSettings.model_validate({
            "outbox": {"dir": tmp_path / "outbox"}, "batch_window_s": 0, "hotline_policy": "none",
            "portal_base_url": "https://portal.example/"})
        notifier = NotifierStage(self.bus, self.store, notifier_settings,
                                 OutboxChannel(tmp_path / "outbox", notifier_settings.sender))
        workflow = ReviewWorkflow(self.store, self.bus, settings.review)
        self.notice_items = [confirm_and_notice(self.store, self.blobs, self.bus, review, workflow, notifier,
                                                image(n), media_url=f"http://files.a.test/{n}.jpg",
                                                page_url=f"http://pages.test/{n}") for n in range(1, 4)]
        [self.notice] = notifier.flush()
        self.contest = open_contest(self.store, item_id=self.notice_items[2], provider_id=provider_id,
                                    notice_id=self.notice, reason="this is a drawing", created_by="u-provider",
                                    now=utcnow())
        self.review_item = seed_candidate(self.store, self.blobs, review, image(9),
                                          media_url="http://files.a.test/9.jpg").item_id

    def ids(self) -> dict[str, str]:
        """A real value for every path parameter of the app's pages."""
        return {"campaign_id": self.campaign, "item_id": str(self.review_item), "notice_id": self.notice,
                "contest_id": str(self.contest), "user_id": str(self.user_id), "provider_id": str(self.provider_id)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    served = Site(tmp_path_factory.mktemp("pages"))
    served.start()
    yield served
    served.stop()


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
    known = site.ids()
    out = []
    for view in routes(site.app):
        rule = access_rule(site.app, view)
        if "GET" not in view.methods or rule is None or view.path.startswith((*API_PREFIXES, "/static", "/openapi")):
            continue
        if not rule.public and role not in rule.roles:
            continue
        if view.path.endswith(("/progress", ".json", ".csv", "/media", "/export")):
            continue  # machine answers and files, not pages
        names = [m.strip("{}").split(":")[0] for m in PARAM.findall(view.path)]
        # A new page whose URL needs an id fails here until Site seeds one, rather than being skipped.
        assert all(n in known for n in names), f"Site.ids() has no value for {view.path}"
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


# Managing it in the browser: tokens, users, hash lists, the provider directory, a provider's notice.

def submit(page: Page, target: str | Locator) -> None:
    """Click what sends a form or follows a link, and wait for the page it leads to."""
    with page.expect_navigation():
        (page.locator(target) if isinstance(target, str) else target).click()


def test_an_admin_issues_lists_and_revokes_an_api_token(chromium: Browser, site: Site) -> None:
    page = signed_in(chromium, site, Role.ADMIN)
    page.goto(f"{site.base_url}/admin/tokens")
    page.select_option("#token-user", "u-hash_check")
    page.fill("#token-name", "nightly sync")
    submit(page, "#new-token-form button[type=submit]")
    secret = page.inner_text("#token-secret")
    assert secret.startswith("owt_")
    row = page.locator("#token-list tr", has_text="nightly sync")
    assert row.locator(".status").inner_text() == "live" and secret not in row.inner_text()
    submit(page, row.locator("button.revoke"))
    row = page.locator("#token-list tr", has_text="nightly sync")
    assert row.locator(".status").inner_text().startswith("revoked")
    assert page.locator("#token-secret").count() == 0  # shown once only
    page.context.close()


def test_an_admin_re_enables_a_user_resets_the_password_and_changes_roles(chromium: Browser, site: Site) -> None:
    page = signed_in(chromium, site, Role.ADMIN)
    page.goto(f"{site.base_url}/admin/users/{site.user_id}")
    assert page.inner_text("#user-status") == "disabled"
    submit(page, "#enable")
    assert page.inner_text("#user-status") == "active"
    page.fill("#new-password", "a new long passphrase")
    submit(page, "#password-form button[type=submit]")
    assert page.locator("#password-error").count() == 0
    page.check("#roles-form input[value=senior_analyst]")
    page.uncheck("#roles-form input[value=analyst]")
    submit(page, "#roles-form button[type=submit]")
    assert page.inner_text("#user-roles") == "senior_analyst"
    site.app.state.ctx.accounts.sign_in("flow-user", "a new long passphrase", "127.0.0.9")  # raises if refused
    page.context.close()


def test_an_operator_imports_disables_enables_and_exports_a_hash_list(chromium: Browser, site: Site) -> None:
    page = signed_in(chromium, site, Role.OPERATOR)
    page.goto(f"{site.base_url}/dashboard/lists")
    page.fill("#list-name", "partner feed")
    feed: FilePayload = {"name": "feed.txt", "mimeType": "text/plain",
                         "buffer": f"{'ab' * 32}\n{'cd' * 32}\nnot a hash\n".encode()}
    page.set_input_files("#list-file", files=[feed])
    page.select_option("#list-algorithm", "pdq")
    submit(page, "#import-form button[type=submit]")
    assert "2 new entries" in page.inner_text("#flash") and "line 3" in page.inner_text("#skipped-lines")
    row = page.locator('tr[data-list="partner feed"]')
    assert "pdq 2" in row.locator(".counts").inner_text()
    submit(page, row.locator("button.toggle"))
    assert page.locator('tr[data-list="partner feed"] .state').inner_text() == "disabled"
    submit(page, page.locator('tr[data-list="partner feed"] button.toggle'))
    assert page.locator('tr[data-list="partner feed"] .state').inner_text() == "enabled"
    with page.expect_download() as download:
        page.locator('tr[data-list="partner feed"] a', has_text="Export CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "ab" * 32 in exported and "cd" * 32 in exported
    page.context.close()


def test_an_operator_adds_and_edits_a_provider_with_errors_in_place(chromium: Browser, site: Site) -> None:
    page = signed_in(chromium, site, Role.OPERATOR)
    page.goto(f"{site.base_url}/dashboard/providers")
    submit(page, "#add-provider")
    page.fill("#p-name", "Example Hosting")
    page.fill("#p-abuse_email", "abuse@example.net")
    page.fill("#p-domains", "example.net, cdn.example.net")
    page.fill("#p-cidrs", "192.0.2.0/24, nonsense")
    page.fill("#p-languages", "de, en")
    submit(page, "#provider-form button[type=submit]")
    assert "is not a network" in page.inner_text("#p-cidrs-error")
    assert page.input_value("#p-domains") == "example.net, cdn.example.net"  # the form is kept
    page.fill("#p-cidrs", "192.0.2.0/24")
    submit(page, "#provider-form button[type=submit]")
    row = page.locator('tr[data-provider="Example Hosting"]')
    assert "abuse@example.net" in row.inner_text() and "192.0.2.0/24" in row.inner_text()
    submit(page, row.locator("a"))
    page.fill("#p-abuse_email", "noc@example.net")
    page.select_option("#p-channel", "email")
    submit(page, "#provider-form button[type=submit]")
    row = page.locator('tr[data-provider="Example Hosting"]')
    assert "noc@example.net" in row.inner_text() and row.locator(".channel").inner_text() == "email"
    page.context.close()


def test_a_provider_filters_marks_removed_in_bulk_and_exports_a_notice(chromium: Browser, site: Site) -> None:
    page = signed_in(chromium, site, Role.PROVIDER)
    page.goto(f"{site.base_url}/provider/notices/{site.notice}")
    assert page.locator("#item-table tbody tr").count() == 3
    first, second, _contested = site.notice_items
    page.check(f"#pick-{first}")
    page.check(f"#pick-{second}")
    submit(page, "#bulk-removed-button")
    for item in (first, second):
        assert page.locator(f'#item-table tr[data-item="{item}"]').get_attribute("data-state") == "removal_claimed"
    page.select_option("#filter-status", "removal_claimed")
    submit(page, "#item-filters button[type=submit]")
    shown = page.locator("#item-table tbody tr")
    assert shown.count() == 2 and "2 items shown of 3" in page.inner_text("#item-count")
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert sorted(r["item"] for r in rows) == sorted(str(i) for i in site.notice_items)
    assert {r["classification"] for r in rows} == {"Baseline CSAM (illegal everywhere)"}
    page.context.close()
