"""Analyst review through the web app: queue, reduced media and stepwise reveals, decisions, inheritance."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from PIL import Image, ImageStat
from sqlalchemy import select, update

from core.blobs import triage_key
from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import NoticeRequest, ReviewDecision, Topic, decode
from core.store.tables.crawler import Campaign
from core.store.tables.matcher import HashEntry, HashSet, Match
from core.store.tables.review import AllowEntry, ReviewItem
from core.store.tables.web import AuditEvent
from tests.unit.web.conftest import Env
from tests.unit.web.seed import Seeded, csrf_of, image, seed_candidate, seed_triage
from web.auth import Role


def seed(env: Env, n: int, **kw: object) -> Seeded:
    return seed_candidate(env.store, env.blobs, env.stage, image(n), media_url=f"http://img.test/{n}.jpg",
                          **kw)  # type: ignore[arg-type]


def analyst(env: Env, name: str, *roles: Role) -> tuple[TestClient, str]:
    env.user(name, *(roles or (Role.ANALYST,)))
    client = env.signed_in(name)
    return client, csrf_of(client.get("/review").text)


def decide(client: TestClient, csrf: str, item_id: int, choice: str, jurisdiction: str = "") -> str:
    response = client.post(f"/review/items/{item_id}/decision",
                           data={"csrf_token": csrf, "choice": choice, "jurisdiction": jurisdiction})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def reveal(client: TestClient, csrf: str, item_id: int, step: str) -> int:
    return client.post(f"/review/items/{item_id}/reveal", data={"csrf_token": csrf, "step": step}).status_code


def shown(client: TestClient, item_id: int) -> Image.Image:
    response = client.get(f"/review/items/{item_id}/media")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(response.content))


def status(env: Env, item_id: int) -> tuple[str, str | None]:
    with env.store.session() as s:
        item = s.get(ReviewItem, item_id)
        assert item is not None
        return item.status, item.classification


def published(env: Env, topic: Topic) -> list[object]:
    return [decode(p) for p in env.bus.read_topic(str(topic))]


def queue_ids(client: TestClient) -> list[int]:
    html = client.get("/review").text
    return [int(part.split('"')[0]) for part in html.split('data-item="')[1:]]


def test_queue_orders_by_match_closeness_then_campaign_priority_then_age(env: Env) -> None:
    with env.store.session() as s:
        s.add_all([Campaign(id="low", name="low", priority=0), Campaign(id="high", name="high", priority=5)])
    # Distances between the matcher's PDQ match (24) and review (31) thresholds: all wait for analysts.
    far = seed(env, 1, distance=30, campaign_id="high")
    near_old = seed(env, 2, distance=26, campaign_id="low", when=datetime(2026, 1, 1, tzinfo=UTC))
    near_high = seed(env, 3, distance=26, campaign_id="high")
    near_new = seed(env, 4, distance=26, campaign_id="low")
    client, _ = analyst(env, "alice")
    ids = queue_ids(client)
    assert ids[0] == near_high.item_id
    assert set(ids[1:3]) == {near_old.item_id, near_new.item_id}
    assert ids.index(near_old.item_id) < ids.index(near_new.item_id)  # older first at equal priority
    assert ids[-1] == far.item_id


def test_item_page_shows_where_and_what_matched_and_audits_the_view(env: Env) -> None:
    item = seed(env, 1, label="list entry 7", page_url="http://pages.test/gallery?id=3")
    seed_candidate(env.store, env.blobs, env.stage, item.body, media_url="http://mirror.test/copy.jpg",
                   page_url="http://mirror.test/page", when=datetime(2026, 2, 1, tzinfo=UTC))
    with env.store.session() as s:  # as if the copy had been found through a list-side variant of the entry
        s.execute(update(Match).values(list_variant="crop-tl10"))
    client, _ = analyst(env, "alice")
    page = client.get(f"/review/items/{item.item_id}")
    assert page.status_code == 200
    html = page.text
    assert "via list variant crop-tl10" in html
    assert "http://mirror.test/copy.jpg" in html and "http://img.test/1.jpg" in html  # latest and other sightings
    assert "mirror.test" in html and "http://pages.test/gallery?id=3" in html
    assert "list entry 7" in html and ">known<" in html and "baseline_csam" in html and ">28<" in html
    assert item.sha256 in html
    assert "Cache-Control".lower() in {k.lower() for k in page.headers} and page.headers["cache-control"] == "no-store"
    with env.store.session() as s:
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.item_view")).all()
    assert [(v.actor, v.subject) for v in views] == [("alice", f"item:{item.item_id}")]


def test_media_is_reduced_until_revealed_step_by_step_and_each_reveal_is_audited(env: Env) -> None:
    item = seed(env, 1)
    original = Image.open(io.BytesIO(item.body))
    client, csrf = analyst(env, "alice")
    client.get(f"/review/items/{item.item_id}")

    blurred = shown(client, item.item_id)
    preview = env.settings.web.preview_px
    assert max(blurred.size) <= preview and blurred.mode == "L"
    assert client.get(f"/review/items/{item.item_id}/media").content != item.body

    # Skipping a step is refused; steps go unblur -> colour -> full.
    assert reveal(client, csrf, item.item_id, "full") == 409
    assert reveal(client, csrf, item.item_id, "unblur") == 303
    sharp = shown(client, item.item_id)
    assert sharp.mode == "L" and sharp.size == blurred.size
    # Blurring removes detail: the sharp image has much more local contrast.
    edges = [ImageStat.Stat(im.filter(__import__("PIL.ImageFilter").ImageFilter.FIND_EDGES)).mean[0]
             for im in (blurred, sharp)]
    assert edges[1] > 2 * edges[0]

    assert reveal(client, csrf, item.item_id, "colour") == 303
    colour = shown(client, item.item_id)
    assert colour.mode == "RGB" and max(colour.size) <= preview

    assert reveal(client, csrf, item.item_id, "full") == 303
    full = shown(client, item.item_id)
    assert full.size == original.size

    assert reveal(client, csrf, item.item_id, "sideways") == 422
    with env.store.session() as s:
        reveals = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.reveal")
                            .order_by(AuditEvent.id)).all()
        media_views = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.media_view")).all()
    assert [r.detail["step"] for r in reveals] == ["unblur", "colour", "full"]
    assert all(r.actor == "alice" and r.subject == f"item:{item.item_id}" for r in reveals)
    assert [m.detail["level"] for m in media_views] == [0, 0, 1, 2, 3]


def test_reveals_belong_to_the_session(env: Env) -> None:
    item = seed(env, 1)
    client, csrf = analyst(env, "alice")
    assert reveal(client, csrf, item.item_id, "unblur") == 303
    other = env.signed_in("alice")
    assert shown(other, item.item_id).mode == "L"
    blurred_again = shown(other, item.item_id)
    assert blurred_again.size == shown(client, item.item_id).size


def test_two_agreeing_analysts_settle_and_a_notice_request_is_published(env: Env) -> None:
    item = seed(env, 1)
    alice, alice_csrf = analyst(env, "alice")
    bob, bob_csrf = analyst(env, "bob")
    assert decide(alice, alice_csrf, item.item_id, "baseline_csam").startswith("/review/next?done=recorded")
    assert status(env, item.item_id) == ("pending", None)
    assert published(env, Topic.NOTICE_REQUESTS) == []
    # alice never sees the item again; bob sees it without alice's decision.
    assert alice.get(f"/review/items/{item.item_id}").status_code == 404
    assert item.item_id not in queue_ids(alice)
    bob_page = bob.get(f"/review/items/{item.item_id}").text
    assert "alice" not in bob_page and "Baseline CSAM (illegal everywhere)" in bob_page  # the choice list only
    decide(bob, bob_csrf, item.item_id, "baseline_csam")
    assert status(env, item.item_id) == ("confirmed", "baseline_csam")
    decisions = published(env, Topic.REVIEW_DECISIONS)
    requests = published(env, Topic.NOTICE_REQUESTS)
    assert len(decisions) == 1 and isinstance(decisions[0], ReviewDecision)
    assert decisions[0].decided_by == "alice,bob"
    assert len(requests) == 1 and isinstance(requests[0], NoticeRequest)
    assert requests[0].ref.media_url == item.media_url
    assert item.item_id not in queue_ids(bob)


def test_disagreement_goes_to_a_senior_analyst_who_settles_it(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    carol, c_csrf = analyst(env, "carol", Role.SENIOR_ANALYST)
    dave, _ = analyst(env, "dave")
    decide(alice, a_csrf, item.item_id, "baseline_csam")
    assert decide(bob, b_csrf, item.item_id, "not_csam").endswith("done=escalated")
    assert status(env, item.item_id) == ("escalated", None)
    assert item.item_id not in queue_ids(dave)
    assert dave.get(f"/review/items/{item.item_id}").status_code == 404
    assert queue_ids(carol)[0] == item.item_id
    senior_page = carol.get(f"/review/items/{item.item_id}").text
    assert "alice assessed: Baseline CSAM" in senior_page and "bob assessed: Not CSAM" in senior_page
    decide(carol, c_csrf, item.item_id, "harmful_abusive")
    assert status(env, item.item_id) == ("confirmed", "harmful_abusive")
    decisions = published(env, Topic.REVIEW_DECISIONS)
    assert [d.decided_by for d in decisions] == ["carol"]  # type: ignore[attr-defined]
    assert len(published(env, Topic.NOTICE_REQUESTS)) == 1


def test_unable_to_assess_escalates_at_once(env: Env) -> None:
    item = seed(env, 1)
    alice, csrf = analyst(env, "alice")
    assert decide(alice, csrf, item.item_id, "unable_to_assess").endswith("done=escalated")
    assert status(env, item.item_id) == ("escalated", None)


def test_nationally_illegal_needs_a_jurisdiction(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    refused = alice.post(f"/review/items/{item.item_id}/decision",
                         data={"csrf_token": a_csrf, "choice": "nationally_illegal", "jurisdiction": "<b>x"})
    # A field the analyst can correct is a 422 (the page comes back in place); 409 stays for the item's state.
    assert refused.status_code == 422 and "needs a jurisdiction" in refused.text
    unknown = alice.post(f"/review/items/{item.item_id}/decision", data={"csrf_token": a_csrf, "choice": "nope"})
    assert unknown.status_code == 422
    decide(alice, a_csrf, item.item_id, "nationally_illegal", "de")
    decide(bob, b_csrf, item.item_id, "nationally_illegal", "DE")
    with env.store.session() as s:
        settled = s.get(ReviewItem, item.item_id)
        assert settled is not None
        assert (settled.status, settled.classification, settled.jurisdiction) == ("confirmed", "nationally_illegal",
                                                                                  "DE")


def test_same_class_in_different_jurisdictions_is_a_disagreement(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    decide(alice, a_csrf, item.item_id, "nationally_illegal", "DE")
    decide(bob, b_csrf, item.item_id, "nationally_illegal", "FR")
    assert status(env, item.item_id) == ("escalated", None)


def test_media_near_a_classified_item_leaves_the_queue_and_new_copies_never_enter_it(env: Env) -> None:
    first = seed(env, 1)
    near_copy = seed_candidate(env.store, env.blobs, env.stage, image(1, quality=60),
                               media_url="http://elsewhere.test/copy.jpg")
    assert near_copy.sha256 != first.sha256
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    assert set(queue_ids(alice)) == {first.item_id, near_copy.item_id}
    decide(alice, a_csrf, first.item_id, "baseline_csam")
    decide(bob, b_csrf, first.item_id, "baseline_csam")
    # The pending copy inherited the classification and its own notice request went out.
    assert status(env, near_copy.item_id) == ("confirmed", "baseline_csam")
    urls = {r.ref.media_url for r in published(env, Topic.NOTICE_REQUESTS)}  # type: ignore[attr-defined]
    assert urls == {first.media_url, near_copy.media_url}
    # A third copy arriving later is settled by the review stage and never queued.
    later = seed_candidate(env.store, env.blobs, env.stage, image(1, quality=45),
                           media_url="http://third.test/again.jpg")
    assert status(env, later.item_id) == ("confirmed", "baseline_csam")
    carol, _ = analyst(env, "carol")
    assert queue_ids(carol) == []


def test_false_positive_goes_on_the_allow_list_and_is_never_queued_again(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    decide(alice, a_csrf, item.item_id, "not_csam")
    decide(bob, b_csrf, item.item_id, "not_csam")
    assert status(env, item.item_id) == ("rejected", "not_csam")
    assert published(env, Topic.NOTICE_REQUESTS) == []
    with env.store.session() as s:
        allowed = s.scalars(select(AllowEntry)).one()
    assert (allowed.sha256, allowed.pdq) == (item.sha256, item.pdq)
    again = seed_candidate(env.store, env.blobs, env.stage, image(1, quality=50),
                           media_url="http://benign.test/again.jpg")
    assert status(env, again.item_id) == ("rejected", "not_csam")
    carol, _ = analyst(env, "carol")
    assert queue_ids(carol) == []


def test_confirmed_media_is_added_to_the_local_hash_list_when_configured(env: Env) -> None:
    env.settings.review.local_hash_list = "analyst-confirmed"
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    decide(alice, a_csrf, item.item_id, "baseline_csam")
    decide(bob, b_csrf, item.item_id, "baseline_csam")
    with env.store.session() as s:
        entries = s.execute(select(HashEntry.algorithm, HashEntry.value, HashEntry.classification)
                            .join(HashSet).where(HashSet.name == "analyst-confirmed",
                                                 HashEntry.parent_id.is_(None))).all()
        variants = s.scalars(select(HashEntry.variant).where(HashEntry.parent_id.is_not(None))).all()
    assert sorted(entries) == [("pdq", item.pdq, "baseline_csam"), ("sha256", item.sha256, "baseline_csam")]
    assert len(variants) == 42 and "crop-c10" in variants  # the kept media's crops join with it
    assert len(published(env, Topic.HASHSET_CHANGES)) == 1


def test_one_required_assessment_settles_at_once(env: Env) -> None:
    env.settings.review.required_assessments = 1
    item = seed(env, 1)
    alice, csrf = analyst(env, "alice")
    assert decide(alice, csrf, item.item_id, "harmful_abusive").endswith("done=settled")
    assert status(env, item.item_id) == ("confirmed", "harmful_abusive")


def test_deciding_twice_or_a_settled_item_is_refused(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    decide(alice, a_csrf, item.item_id, "baseline_csam")
    again = alice.post(f"/review/items/{item.item_id}/decision",
                       data={"csrf_token": a_csrf, "choice": "not_csam"})
    assert again.status_code == 404  # not in alice's queue any more
    missing = alice.get("/review/items/99999")
    assert missing.status_code == 404


def test_hostile_urls_and_labels_are_rendered_as_text(env: Env) -> None:
    payload = '"><script>alert(1)</script>'
    item = seed_candidate(env.store, env.blobs, env.stage, image(1),
                          media_url=f"http://evil.test/{payload}.jpg", page_url=f"javascript:alert(2)//{payload}",
                          label=f"<img src=x onerror=alert(3)>{payload}")
    client, _ = analyst(env, "alice")
    html = client.get(f"/review/items/{item.item_id}").text
    assert "<script>alert(1)</script>" not in html and "<img src=x onerror" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(3)&gt;" in html
    assert 'href="javascript:' not in html  # crawled URLs are never links


def test_counts_and_break_reminder(env: Env) -> None:
    env.settings.web.break_after_items = 2
    env.settings.web.break_after_minutes = 30
    a, b = seed(env, 1), seed(env, 2)
    client, csrf = analyst(env, "alice")
    page = client.get("/review").text
    assert "Items seen today: 0" in page and "break-reminder" not in page
    env.clock.advance(minutes=1)
    client.get(f"/review/items/{a.item_id}")
    client.get(f"/review/items/{a.item_id}")  # the same item counts once
    assert "Items seen today: 1" in client.get("/review").text
    client.get(f"/review/items/{b.item_id}")
    page = client.get("/review").text
    assert "Items seen today: 2" in page and "break-reminder" in page
    assert client.post("/review/break", data={"csrf_token": csrf}).status_code == 303
    env.clock.advance(minutes=1)
    page = client.get("/review").text
    assert "Items seen today: 2" in page and "break-reminder" not in page and "on-break" in page
    for _ in range(3):  # 48 minutes (the count starts when the 5-minute break ends), steps under the idle limit
        env.clock.advance(minutes=16)
        client.get("/")
    assert "break-reminder" in client.get("/review").text


def test_next_opens_the_most_urgent_item_and_shortcuts_are_on_the_page(env: Env) -> None:
    far, near = seed(env, 1, distance=30), seed(env, 2, distance=26)
    client, _ = analyst(env, "alice")
    response = client.get("/review/next")
    assert response.status_code == 303 and response.headers["location"] == f"/review/items/{near.item_id}"
    html = client.get(response.headers["location"]).text
    assert '<script src="/static/review.js"></script>' in html
    for key in ("1", "2", "3", "4", "5", "r", "s"):
        assert f'data-key="{key}"' in html
    assert far.item_id != near.item_id


def test_missing_or_corrupt_evidence_is_a_clear_error(env: Env) -> None:
    item = seed(env, 1)
    client, _ = analyst(env, "alice")
    with env.store.session() as s:
        row = s.get(ReviewItem, item.item_id)
        assert row is not None and row.evidence_key is not None
        key = row.evidence_key
    env.blobs.put(key, b"not an image at all")
    corrupt = client.get(f"/review/items/{item.item_id}/media")
    assert corrupt.status_code == 422 and "not a displayable image" in corrupt.text
    env.blobs.delete(key)
    assert client.get(f"/review/items/{item.item_id}/media").status_code == 404


def test_a_bus_failure_during_a_decision_is_a_503_and_the_queue_repairs_the_announcement(env: Env) -> None:
    env.settings.review.required_assessments = 1
    item = seed(env, 1)
    alice, csrf = analyst(env, "alice")

    class DeadBus(EmbeddedBus):
        def publish(self, message: object) -> None:  # type: ignore[override]
            raise TransientError("broker unreachable")

    env.app.state.ctx.bus = DeadBus(env.bus.path)
    failed = alice.post(f"/review/items/{item.item_id}/decision", data={"csrf_token": csrf, "choice": "baseline_csam"},
                        headers={"Accept": "application/json"})
    assert failed.status_code == 503 and "try again" in failed.json()["detail"]
    with env.store.session() as s:
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.decision")).one()
    assert "broker unreachable" in audited.detail["error"]
    assert published(env, Topic.NOTICE_REQUESTS) == []
    env.app.state.ctx.bus = env.bus
    alice.get("/review")
    assert len(published(env, Topic.NOTICE_REQUESTS)) == 1


def test_triage_tab_shows_reported_media_reduced_and_audited_until_classified(env: Env) -> None:
    match = seed(env, 1)
    item = seed_triage(env.store, env.blobs, env.stage, image(2), media_url="http://img.test/2.jpg")
    alice, csrf = analyst(env, "alice")
    bob, bob_csrf = analyst(env, "bob")
    tab = alice.get("/review?kind=triage").text
    assert 'id="tab-triage"' in tab and f'data-item="{item.item_id}"' in tab
    assert f'data-item="{match.item_id}"' not in tab
    assert f'data-item="{item.item_id}"' not in alice.get("/review?kind=match").text
    assert alice.get("/review/next?kind=triage").headers["location"] == f"/review/items/{item.item_id}"
    page = alice.get(f"/review/items/{item.item_id}").text
    assert 'id="triage-note"' in page and "Queued for triage" in page and 'id="matches"' not in page
    reduced = shown(alice, item.item_id)
    assert max(reduced.size) <= env.settings.web.preview_px and reduced.mode == "L"
    assert reveal(alice, csrf, item.item_id, "unblur") == 303
    decide(alice, csrf, item.item_id, "not_csam")
    decide(bob, bob_csrf, item.item_id, "not_csam")
    assert status(env, item.item_id) == ("rejected", "not_csam")
    assert not env.blobs.exists(triage_key(item.sha256))
    # Once classified it is never shown again, not even to an analyst who has not seen it.
    carol, _ = analyst(env, "carol")
    assert carol.get(f"/review/items/{item.item_id}").status_code == 404
    assert carol.get(f"/review/items/{item.item_id}/media").status_code == 404
    assert f'data-item="{item.item_id}"' not in carol.get("/review?kind=triage").text
    with env.store.session() as s:
        audited = {(e.actor, e.action) for e in s.scalars(select(AuditEvent).where(
            AuditEvent.subject == f"item:{item.item_id}"))}
    assert {("alice", "review.item_view"), ("alice", "review.media_view"), ("alice", "review.reveal"),
            ("alice", "review.decision"), ("bob", "review.decision")} <= audited
