"""The operator dashboard: pipeline numbers, queue lengths, matches, notices and removal times, as server-side SVG.

Rows are written straight into a temporary store at chosen times (the app's clock is fixed at
2026-03-02 09:00 UTC); no media is involved.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import HashValue, MatchCandidate, MediaRef
from core.store import Store
from core.store.stats import bucket_counts
from core.store.tables.crawler import Page, Sighting
from core.store.tables.hashing import Media
from core.store.tables.matcher import HashEntry, Match
from core.store.tables.notifier import Notice, NoticeItem
from core.store.tables.review import ReviewItem
from core.store.tables.web import AuditEvent
from crawler.campaigns import Campaigns, CampaignSpec, parse_spec
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from orbweaver.stages import WORKER_STAGES
from review.stage import ReviewStage
from tests.fixtures.clock import FakeClock
from tests.unit.web.conftest import WEB_START, Env, make_settings
from tests.unit.web.seed import csrf_of
from web.app import create_app
from web.auth import Role
from web.charts import Bin, Point, bar_chart, histogram, line_chart
from web.dashboard import STAGE_QUEUES

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def operator(env: Env, role: Role = Role.OPERATOR) -> TestClient:
    name = f"op-{role.value}"
    if name not in {u.name for u in env.accounts.list_users()}:
        env.user(name, role)
    return env.signed_in(name)


def media(env: Env, n: int, at: datetime, prefix: str = "m") -> list[str]:
    shas = [f"{prefix}{i}".ljust(64, "0") for i in range(n)]
    with env.store.session() as s:
        for sha in shas:
            s.add(Media(sha256=sha, size=10, hashes=[], first_seen=at, last_seen=at, hashed_at=at))
            s.add(Sighting(message_id=f"msg-{sha}", campaign_id="c1", sha256=sha, page_url="http://p.test/",
                           media_url=f"http://p.test/{sha[:4]}.jpg", final_url="http://p.test/x.jpg",
                           fetched_at=at))
    return shas


def matches(env: Env, shas: list[str], at: datetime, *, label: str = "entry", list_name: str = "known") -> None:
    import_entries(env.store, list_name, [ListEntry(value="ab" * 32, algorithm="pdq", label=label,
                                                    classification="baseline_csam")], source="test")
    with env.store.session() as s:
        entry = s.scalar(select(HashEntry.id).where(HashEntry.label == label))
        assert entry is not None
        for sha in shas:
            s.add(Match(sha256=sha, hash_entry_id=entry, algorithm="pdq", distance=7, matched_at=at))


def review_item(env: Env, sha: str, status: str) -> int:
    with env.store.session() as s:
        item = ReviewItem(sha256=sha, status=status, best_algorithm="pdq", best_distance=7, created_at=NOW)
        s.add(item)
        s.flush()
        return item.id


def notice(env: Env, provider: int, notice_id: str, sent: datetime | None, removed: list[datetime | None]) -> None:
    with env.store.session() as s:
        s.add(Notice(id=notice_id, provider_id=provider, status="sent" if sent else "pending", created_at=NOW,
                     sent_at=sent))
    for i, gone in enumerate(removed):
        item_id = review_item(env, f"{notice_id}-{i}".ljust(64, "0"), "confirmed")
        with env.store.session() as s:
            s.add(NoticeItem(review_item_id=item_id, provider_id=provider, notice_id=notice_id,
                             media_url=f"http://h.test/{i}.jpg", page_url="http://h.test/", host="h.test",
                             sha256=f"{notice_id}-{i}".ljust(64, "0"), classification="baseline_csam",
                             first_seen=NOW, last_seen=NOW, removed_at=gone, first_noticed_at=sent,
                             status="removed" if gone else "open"))


def candidate(sha: str) -> MatchCandidate:
    ref = MediaRef(campaign_id="c1", page_url="http://p.test/", media_url="http://p.test/a.jpg",
                   final_url="http://p.test/a.jpg", fetched_at=NOW)
    return MatchCandidate(ref=ref, sha256=sha, hashes=[HashValue(algorithm="pdq", value="ab" * 32)], hits=[],
                          evidence_key=f"evidence/{sha}")


# --- the page --------------------------------------------------------------------------------------------------


def test_an_empty_store_renders_with_no_data(env: Env) -> None:
    page = operator(env).get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert "No matches yet." in html and "No notices yet." in html
    assert html.count(">no data</text>") == 5
    assert re.search(r'id="review-queue">0 / 0<', html)
    for q in STAGE_QUEUES:
        assert re.search(rf'data-stage="{q.stage}">.*?<td>0</td></tr>', html, re.S), q.stage
    assert 'id="media-total">0<' in html and "Removed after notice: 0 items" in " ".join(html.split())


def test_throughput_queues_matches_and_removal_times_are_shown(env: Env) -> None:
    recent = media(env, 3, NOW - timedelta(minutes=1, seconds=30))  # the 08:58 minute
    media(env, 2, NOW - timedelta(hours=3), prefix="old")
    matches(env, recent[:2], NOW - timedelta(minutes=20))
    matches(env, recent[:1], NOW - timedelta(minutes=20), label="second entry", list_name="partner")
    review_item(env, recent[0], "pending")
    review_item(env, recent[1], "escalated")
    for sha in recent:
        env.bus.publish(candidate(sha))
    env.bus.flush()
    provider = env.provider("host-a")
    notice(env, provider, "n1", NOW - timedelta(days=2),
           [NOW - timedelta(days=2) + timedelta(minutes=30), NOW - timedelta(days=1), None])
    notice(env, provider, "n2", None, [None])
    html = operator(env).get("/dashboard").text
    assert 'id="media-total">5<' in html and 'id="media-hour">3<' in html and 'id="sightings-hour">3<' in html
    # One image matched two entries: two distinct media (as the demo counts), three match records.
    assert 'id="matched-media-total">2<' in html and 'id="matched-media-day">2<' in html
    assert 'id="matches-total">3<' in html and 'id="matches-day">3<' in html
    assert "<title>2026-03-02 08:58 UTC: 3 media</title>" in html
    assert "<title>2026-03-02 08:00 UTC: 3 matches</title>" in html
    assert "<title>2026-02-28 00:00 UTC: 1 notice</title>" in html
    assert re.search(r'data-stage="review">.*?<td>3</td></tr>', html, re.S)
    assert re.search(r'data-stage="hashing">.*?<td>0</td></tr>', html, re.S)
    assert 'id="review-queue">1 / 1<' in html
    text = " ".join(html.split())
    assert ("Removed after notice: 2 items; still online: 2. Median 0.5 h, 90th percentile 24.0 h, slowest 24.0 h. "
            "Oldest still online: 48.0 h since its first notice.") in text
    assert re.search(r"<td>host-a</td><td>4</td><td>2</td><td>2</td>\s*<td>0.5 h</td>", html)
    assert "<title>&lt; 1 h: 1 item</title>" in html and "<title>6-24 h: 0 items</title>" in html
    assert "<title>1-3 d: 1 item</title>" in html
    assert html.count(">no data</text>") == 0
    with env.store.session() as s:
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "op-operator")).all()[-1] == \
            "dashboard.view"


def test_list_labels_and_names_are_escaped(env: Env) -> None:
    shas = media(env, 1, NOW - timedelta(minutes=5))
    matches(env, shas, NOW - timedelta(minutes=5), label=HOSTILE, list_name=f"list {HOSTILE}")
    html = operator(env, Role.ADMIN).get("/dashboard").text
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_only_operators_and_admins_see_the_dashboard(env: Env) -> None:
    assert operator(env).get("/dashboard").status_code == 200
    assert operator(env, Role.ADMIN).get("/dashboard").status_code == 200
    analyst = env.signed_in(env.user("alice", Role.ANALYST))
    assert analyst.get("/dashboard").status_code == 403
    assert env.client().get("/dashboard", headers={"Accept": "text/html"}).status_code == 303


class UnreachableBus(EmbeddedBus):
    """An embedded bus whose lag query fails the way a Kafka outage does."""

    def lag(self, topic: str, group: str) -> int:
        raise TransientError("broker unreachable")


def test_an_unreachable_bus_shows_as_unavailable_not_as_an_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    bus = UnreachableBus(tmp_path / "bus.db")
    blobs = LocalBlobStore(tmp_path / "blobs")
    app = create_app(settings, store=store, bus=bus, blobs=blobs, clock=FakeClock(WEB_START))
    env = Env(app=app, store=store, bus=bus, blobs=blobs, clock=FakeClock(WEB_START), settings=settings,
              stage=ReviewStage(bus, store, settings.review))
    try:
        page = operator(env).get("/dashboard")
        assert page.status_code == 200
        assert page.text.count("unavailable: broker unreachable") == len(STAGE_QUEUES)
    finally:
        bus.close()
        store.dispose()


def test_the_stage_queues_are_the_registry_s_worker_stages() -> None:
    assert [(q.stage, q.topic, q.group) for q in STAGE_QUEUES] == [
        (str(spec.name), spec.main_topic, spec.group) for spec in WORKER_STAGES]


# --- counting and charts ---------------------------------------------------------------------------------------


def test_bucket_counts_include_the_start_and_exclude_the_end(env: Env) -> None:
    start = NOW - timedelta(minutes=3)
    for at in (start - timedelta(milliseconds=1), start, start + timedelta(seconds=59, milliseconds=999),
               start + timedelta(minutes=1), start + timedelta(minutes=2, seconds=30), NOW):
        media(env, 1, at, prefix=f"t{at.timestamp()}")
    assert bucket_counts(env.store, Media.hashed_at, start, timedelta(minutes=1), 3) == [2, 1, 1]


def test_bar_chart_draws_a_bar_per_point_and_escapes_every_text() -> None:
    svg = str(bar_chart("c-1", f"Title {HOSTILE}", [Point("a<b", 2), Point("c", 0), Point("d", 4, hint=HOSTILE)],
                        unit="x&y"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "&lt;script&gt;" in svg and "a&lt;b" in svg and "x&amp;y" in svg
    assert svg.count("<rect") == 3
    heights = [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)]
    assert heights[1] == 0 and heights[2] == 2 * heights[0]
    assert "style=" not in svg  # the content security policy allows no inline styles


def test_charts_without_data_say_so() -> None:
    assert ">no data</text>" in bar_chart("c", "t", [])
    assert ">no data</text>" in bar_chart("c", "t", [Point("a", 0)])
    assert ">no data</text>" in line_chart("c", "t", [])
    assert ">no data</text>" in histogram("c", "t", [], [Bin("all", 0, None)])


def test_line_chart_and_histogram() -> None:
    line = str(line_chart("l", "t", [Point("a", 1), Point("b", 3), Point("c", 2)]))
    assert line.count("<circle") == 3 and "<polyline" in line
    hist = str(histogram("h", "t", [0.5, 1, 5, 100], [Bin("low", 0, 1), Bin("mid", 1, 10), Bin("high", 10, None)]))
    assert "<title>low: 1 item</title>" in hist and "<title>mid: 2 items</title>" in hist
    assert "<title>high: 1 item</title>" in hist


# --- campaigns -------------------------------------------------------------------------------------------------


def spec(name: str = "gallery sweep", **kw: object) -> CampaignSpec:
    return parse_spec({"name": name, "seeds": ["http://gallery.test/"], "operator": "Hotline Lab",
                       "contact_url": "https://hotline.test/crawler", **kw})


def row(html: str, campaign_id: str) -> str:
    found = re.search(rf'<tr data-campaign="{re.escape(campaign_id)}">(.*?)</tr>', html, re.S)
    assert found is not None, campaign_id
    return found.group(1)


def buttons(html: str, campaign_id: str) -> list[str]:
    return re.findall(r'name="action" value="(\w+)"', row(html, campaign_id))


def act(client: TestClient, campaign_id: str, action: str, *, csrf: bool = True) -> Any:
    token = csrf_of(client.get("/dashboard").text) if csrf else ""
    return client.post(f"/dashboard/campaigns/{campaign_id}/{action}", data={"csrf_token": token})


def test_campaigns_are_listed_with_their_progress_and_the_actions_their_state_allows(env: Env) -> None:
    campaigns = Campaigns(env.store, env.clock)
    idle = campaigns.create(spec("idle one", robots={"obey": False, "override_reason": "lab site, own server"},
                                 recurrence_hours=24))
    busy = campaigns.create(spec("busy one"), queued=True)
    assert campaigns.claim(busy.id, "worker-1", 60) is not None
    campaigns.heartbeat(busy.id, "worker-1", 60, {"pages_fetched": 12, "media_fetched": 30, "fetch_errors": 2})
    html = operator(env).get("/dashboard").text
    busy_row = " ".join(row(html, busy.id).split())
    assert 'class="state">running' in busy_row
    assert '<td class="pages">12</td> <td class="media">30</td>' in busy_row
    assert f'<td class="errors"><a href="/dashboard/campaigns/{busy.id}#problems">2: see why</a></td>' in busy_row
    assert buttons(html, busy.id) == ["pause", "stop"]
    assert buttons(html, idle.id) == ["start", "stop"]
    assert "lab site, own server" in row(html, idle.id) and "every 24.0 h" in row(html, idle.id)
    env.clock.advance(seconds=120)  # the worker stopped renewing its lease: it died
    html = operator(env).get("/dashboard").text
    assert "crawler died" in row(html, busy.id) and buttons(html, busy.id) == ["resume", "stop"]


def test_no_campaigns(env: Env) -> None:
    assert 'id="no-campaigns"' in operator(env).get("/dashboard").text


def test_start_pause_resume_and_stop_change_the_state_and_are_audited(env: Env) -> None:
    client = operator(env)
    campaigns = Campaigns(env.store, env.clock)
    cid = campaigns.create(spec()).id
    steps = [("start", "queued"), ("pause", "paused"), ("resume", "queued"), ("stop", "stopped")]
    for action, state in steps:
        done = act(client, cid, action)
        assert done.status_code == 303 and done.headers["location"] == f"/dashboard?changed={cid}#campaigns"
        assert campaigns.get(cid).state.value == state
        page = client.get(done.headers["location"]).text
        assert f"Campaign gallery sweep ({cid}) is now {state}." in page
    refused = act(client, cid, "pause")
    assert refused.status_code == 409 and "cannot be paused" in refused.text
    assert campaigns.get(cid).state.value == "stopped"
    resumed = act(client, cid, "resume")
    assert resumed.status_code == 409 and "it cannot be resumed from that state" in resumed.text
    assert act(client, "c-nope", "stop").status_code == 409
    with env.store.session() as s:
        events = s.execute(select(AuditEvent.action, AuditEvent.subject, AuditEvent.detail)
                           .where(AuditEvent.action.like("campaign.%")).order_by(AuditEvent.id)).all()
    assert [(a, d.get("outcome"), d.get("state")) for a, _, d in events] == [
        ("campaign.start", "done", "queued"), ("campaign.pause", "done", "paused"),
        ("campaign.resume", "done", "queued"), ("campaign.stop", "done", "stopped"),
        ("campaign.pause", "refused", None), ("campaign.resume", "refused", None), ("campaign.stop", "refused", None)]
    assert {subject for _, subject, _ in events[:-1]} == {f"campaign:{cid}"}


def test_pausing_a_live_crawl_asks_it_to_wind_down(env: Env) -> None:
    campaigns = Campaigns(env.store, env.clock)
    cid = campaigns.create(spec(), queued=True).id
    assert campaigns.claim(cid, "worker-1", 60) is not None
    assert act(operator(env), cid, "pause").status_code == 303
    assert campaigns.get(cid).state.value == "pausing"


def test_campaign_actions_need_the_csrf_token_and_a_known_action(env: Env) -> None:
    client = operator(env)
    cid = Campaigns(env.store, env.clock).create(spec()).id
    assert act(client, cid, "start", csrf=False).status_code == 403
    assert act(client, cid, "explode").status_code == 422
    assert Campaigns(env.store, env.clock).get(cid).state.value == "created"


def form_fields(**over: str) -> dict[str, str]:
    fields = {"name": "new sweep", "seeds": "http://gallery.test/\n\nhttp://gallery.test/more\n",
              "scope_mode": "site", "domains": "", "include": "", "exclude": "/logout\n", "max_depth": "2",
              "max_pages": "500", "max_media": "", "max_pages_per_host": "", "concurrent_requests_per_host": "1",
              "concurrent_requests": "8", "download_delay_s": "1.5", "robots_reason": "",
              "robots_obey": "on", "operator": "Hotline Lab", "contact_url": "https://hotline.test/crawler",
              "proxy": "", "recurrence_hours": "12", "render": "on"}
    fields.update(over)
    return {k: v for k, v in fields.items() if v is not None}


def test_a_campaign_created_from_the_form_is_stored_as_the_command_line_would(env: Env) -> None:
    client = operator(env)
    form = client.get("/dashboard/campaigns/new")
    assert form.status_code == 200 and 'name="max_depth" type="number" min="0" value="3"' in form.text
    created = client.post("/dashboard/campaigns", data={"csrf_token": csrf_of(form.text), **form_fields(start="on")})
    assert created.status_code == 303
    cid = created.headers["location"].split("changed=")[1].split("#")[0]
    record = Campaigns(env.store, env.clock).get(cid)
    assert record.state.value == "queued"
    assert record.spec == spec("new sweep", seeds=["http://gallery.test/", "http://gallery.test/more"],
                               scope={"mode": "site", "exclude": ["/logout"]},
                               limits={"max_depth": 2, "max_pages": 500},
                               rate={"concurrent_requests_per_host": 1, "concurrent_requests": 8,
                                     "download_delay_s": 1.5, "autothrottle": False},
                               render=True, recurrence_hours=12)
    with env.store.session() as s:
        detail = s.scalar(select(AuditEvent.detail).where(AuditEvent.action == "campaign.create"))
    assert detail == {"name": "new sweep", "seeds": 2, "queued": True, "robots_obeyed": True,
                      "robots_override_reason": None}


def test_a_robots_override_needs_a_reason_and_bad_forms_come_back_with_the_error(env: Env) -> None:
    client = operator(env)
    csrf = csrf_of(client.get("/dashboard/campaigns/new").text)
    no_reason = client.post("/dashboard/campaigns", data={"csrf_token": csrf, **form_fields(robots_obey="")})
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.text
    bad = client.post("/dashboard/campaigns", data={"csrf_token": csrf, **form_fields(
        name=f"x {HOSTILE}", seeds=f"javascript:{HOSTILE}", max_depth="-1")})
    assert bad.status_code == 422
    assert HOSTILE not in bad.text and "&lt;script&gt;" in bad.text
    assert "must be an absolute http(s) URL" in bad.text
    with_reason = client.post("/dashboard/campaigns", data={"csrf_token": csrf, **form_fields(
        robots_obey="", robots_reason="our own test site")})
    assert with_reason.status_code == 303
    assert [r.robots_override_reason for r in Campaigns(env.store, env.clock).list_all()] == ["our own test site"]


def test_campaign_names_and_reasons_are_escaped_in_the_list(env: Env) -> None:
    Campaigns(env.store, env.clock).create(spec(f"n {HOSTILE}", robots={"obey": False, "override_reason": HOSTILE}))
    html = operator(env).get("/dashboard").text
    assert HOSTILE not in html and html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 2



# --- one campaign's page ----------------------------------------------------------------------------------------


REFUSED = "refused: 10.0.0.5 is a private address (10.0.0.0/8)"


def crawled(env: Env, campaign_id: str) -> None:
    """What the crawler's pipeline records: a refused seed, two pages on one host and media on a CDN."""
    with env.store.session() as s:
        s.add(Page(campaign_id=campaign_id, url="http://10.0.0.5/", error=REFUSED, fetched_at=NOW))
        for i in range(2):
            s.add(Page(campaign_id=campaign_id, url=f"http://gallery.test/{i}", http_status=200, fetched_at=NOW))
        s.add(Sighting(message_id=f"{campaign_id}-ok", campaign_id=campaign_id, sha256="a" * 64,
                       page_url="http://gallery.test/0", media_url="http://cdn.test/a.jpg",
                       final_url="http://cdn.test/a.jpg", fetched_at=NOW + timedelta(seconds=1)))
        s.add(Sighting(message_id=f"{campaign_id}-bad", campaign_id=campaign_id, sha256=None,
                       page_url="http://gallery.test/1", media_url="http://cdn.test/b.jpg",
                       final_url="http://cdn.test/b.jpg", fetched_at=NOW + timedelta(seconds=2),
                       error="corrupt: not a decodable image"))


def test_a_campaign_page_shows_seeds_scope_hosts_and_why_fetches_failed(env: Env) -> None:
    campaigns = Campaigns(env.store, env.clock)
    cid = campaigns.create(spec("lab sweep", seeds=["http://gallery.test/"], scope={"mode": "site",
                                                                                   "exclude": ["/private/"]})).id
    crawled(env, cid)
    client = operator(env)
    page = client.get(f"/dashboard/campaigns/{cid}")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "http://gallery.test/" in text and "site" in text and "/private/" in text
    assert REFUSED in text and "corrupt: not a decodable image" in text
    assert '<script src="/static/campaign.js"></script>' in page.text
    progress = client.get(f"/dashboard/campaigns/{cid}/progress", headers={"Accept": "application/json"})
    assert progress.status_code == 200 and progress.headers["cache-control"] == "no-store"
    data = progress.json()
    assert data["state"] == "created" and data["actions"] == ["start", "stop"]
    assert data["hosts"] == [
        {"host": "cdn.test", "pages": 0, "page_errors": 0, "media": 2, "media_errors": 1},
        {"host": "gallery.test", "pages": 2, "page_errors": 0, "media": 0, "media_errors": 0},
        {"host": "10.0.0.5", "pages": 1, "page_errors": 1, "media": 0, "media_errors": 0},
    ]
    assert [(p["kind"], p["reason"]) for p in data["problems"]] == [
        ("media", "corrupt: not a decodable image"), ("page", REFUSED)]
    assert client.get("/dashboard/campaigns/c-nope").status_code == 404
    assert client.get("/dashboard/campaigns/c-nope/progress", headers={"Accept": "application/json"}).status_code == 404


def test_a_campaign_that_fetched_nothing_says_why_not_just_finished(env: Env) -> None:
    campaigns = Campaigns(env.store, env.clock)
    cid = campaigns.create(spec("refused", seeds=["http://10.0.0.5/"],
                                allow_private_hosts=[])).id
    with env.store.session() as s:
        s.add(Page(campaign_id=cid, url="http://10.0.0.5/", error=REFUSED, fetched_at=NOW))
    campaigns.finish_foreground(cid)
    html = operator(env).get(f"/dashboard/campaigns/{cid}").text
    found = re.search(r'<p class="error" id="nothing-fetched">(.*?)</p>', html, re.S)
    assert found is not None and REFUSED in found.group(1)


def test_campaign_names_seeds_and_reasons_are_escaped_on_its_page(env: Env) -> None:
    cid = Campaigns(env.store, env.clock).create(spec(HOSTILE)).id
    with env.store.session() as s:
        s.add(Page(campaign_id=cid, url="http://gallery.test/", error=HOSTILE, fetched_at=NOW))
    html = operator(env).get(f"/dashboard/campaigns/{cid}").text
    assert HOSTILE not in html and "&lt;script&gt;" in html
