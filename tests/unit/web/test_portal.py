"""The provider portal: notices, "removed" → immediate recheck → gone, contests → senior analyst, isolation, audit.

Everything runs over one store, embedded bus and fake clock: items are matched from generated
benign images (tests/unit/web/seed.py), settled by two analysts through the review workflow,
noticed by the real notifier stage (outbox channel), and followed up by feeding the stage the
RecheckResults the crawler would send.
"""

from __future__ import annotations

import csv as csv_module
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import (
    Classification,
    Message,
    RecheckOutcome,
    RecheckRequest,
    RecheckResult,
    ReviewDecision,
    Topic,
)
from core.store.tables.matcher import HashEntry
from core.store.tables.notifier import Notice, NoticeContest, NoticeItem, NoticeRecipient, Provider
from core.store.tables.review import AllowEntry, ReviewDecisionRow, ReviewItem
from core.store.tables.web import AuditEvent
from matcher.hashsets import export_entries
from notifier.channels import OutboxChannel
from notifier.portal import ItemState, PortalItem
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage, portal_url
from notifier.states import ContestStatus
from review import orgs
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow
from tests.unit.web.conftest import Env
from tests.unit.web.seed import confirm_and_notice, csrf_of, image, seed_candidate
from web.auth import Role
from web.provider import REASON_MAX, items_csv

HOSTILE = "<script>alert(1)</script>"


@dataclass
class Portal:
    env: Env
    stage: NotifierStage
    a: int
    b: int

    def workflow(self, **review: Any) -> ReviewWorkflow:
        settings = self.env.settings.review.model_copy(update=review) if review else self.env.settings.review
        return ReviewWorkflow(self.env.store, self.env.bus, settings, self.env.clock)

    def confirm(self, seed: int, url: str, *, quality: int = 90, **review: Any) -> int:
        """Match a generated image at ``url``, let two analysts confirm it, hand the notifier its request."""
        env = self.env
        return confirm_and_notice(env.store, env.blobs, env.bus, env.stage, self.workflow(**review), self.stage,
                                  image(seed, quality), media_url=url, page_url=f"http://pages.test/{seed}?q={HOSTILE}")

    def notice_of(self, item_id: int) -> str:
        with self.env.store.session() as s:
            notice_id = s.scalar(select(NoticeItem.notice_id).where(NoticeItem.id == item_id))
            assert notice_id is not None
            return notice_id

    def item(self, item_id: int) -> NoticeItem:
        with self.env.store.session() as s:
            row = s.get(NoticeItem, item_id)
            assert row is not None
            return row

    def notices_to(self, provider_id: int) -> list[Notice]:
        with self.env.store.session() as s:
            return list(s.scalars(select(Notice).where(Notice.provider_id == provider_id).order_by(Notice.sequence)))

    def audit(self, action: str) -> list[AuditEvent]:
        with self.env.store.session() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def portal(env: Env, tmp_path: Path) -> Portal:
    upsert_providers(env.store, [
        ProviderRecord(name="Host A", abuse_email="abuse@a.test", domains=["a.test"]),
        ProviderRecord(name="Host B", abuse_email="abuse@b.test", domains=["b.test"]),
    ])
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, hotline_policy="none",
                                portal_base_url="https://portal.example/")
    stage = NotifierStage(env.bus, env.store, settings, OutboxChannel(tmp_path / "outbox", settings.sender),
                          clock=env.clock)
    with env.store.session() as s:
        ids = dict(s.execute(select(Provider.name, Provider.id)).all())
    env.user("staff-a", Role.PROVIDER, provider_id=ids["Host A"])
    env.user("staff-b", Role.PROVIDER, provider_id=ids["Host B"])
    env.user("analyst", Role.ANALYST)
    env.user("senior", Role.SENIOR_ANALYST)
    env.user("root", Role.ADMIN)
    return Portal(env=env, stage=stage, a=ids["Host A"], b=ids["Host B"])


def recheck_requests(portal: Portal) -> list[RecheckRequest]:
    got: list[Message] = []
    waiting = portal.env.bus.lag(Topic.RECHECK_REQUESTS, "crawler-test")
    if waiting:
        portal.env.bus.consume(Topic.RECHECK_REQUESTS, "crawler-test", got.append, max_messages=waiting,
                               poll_timeout_s=0.05)
    assert all(isinstance(m, RecheckRequest) for m in got)
    return [m for m in got if isinstance(m, RecheckRequest)]


def decisions(portal: Portal) -> list[ReviewDecision]:
    got: list[Message] = []
    waiting = portal.env.bus.lag(Topic.REVIEW_DECISIONS, "audit-test")
    if waiting:
        portal.env.bus.consume(Topic.REVIEW_DECISIONS, "audit-test", got.append, max_messages=waiting,
                               poll_timeout_s=0.05)
    return [m for m in got if isinstance(m, ReviewDecision)]


def deliver_decisions(portal: Portal) -> int:
    """Hand review's decisions to the notifier stage, as the runtime does (its group ``notifier``)."""
    waiting = portal.env.bus.lag(Topic.REVIEW_DECISIONS, "notifier")
    if waiting:
        portal.env.bus.consume(Topic.REVIEW_DECISIONS, "notifier", portal.stage.handle, max_messages=waiting,
                               poll_timeout_s=0.05)
    return waiting


def result(portal: Portal, item: NoticeItem, outcome: RecheckOutcome) -> RecheckResult:
    return RecheckResult(media_url=item.media_url, expected_sha256=item.sha256, outcome=outcome,
                         checked_at=portal.env.clock(), http_status=404 if outcome is RecheckOutcome.GONE else 200)


def post(client: TestClient, path: str, **data: str) -> Any:
    csrf = csrf_of(client.get("/").text)
    return client.post(path, data={"csrf_token": csrf, **data})


def state_of(client: TestClient, notice_id: str, item_id: int) -> dict[str, Any]:
    data = client.get(f"/provider/notices/{notice_id}.json").json()
    return next(i for i in data["items"] if i["id"] == item_id)


# ---------------------------------------------------------------------------------------------------------------


def test_provider_lists_its_notices_and_opens_one_from_the_notice_link(portal: Portal) -> None:
    first = portal.confirm(1, "http://files.a.test/1.jpg")
    second = portal.confirm(2, "http://files.a.test/2.jpg")
    [notice_id] = portal.stage.flush(force=True)
    assert portal.notice_of(first) == portal.notice_of(second) == notice_id
    client = portal.env.signed_in("staff-a")

    listing = client.get("/provider/notices")
    assert listing.status_code == 200
    row = listing.text.split(f'data-notice="{notice_id}"')[1].split("</tr>")[0]
    assert '<td class="items">2</td>' in row and '<td class="open">2</td>' in row
    assert '<td class="closed">0</td>' in row and "first notice" in row and "<td>en</td>" in row

    # The link every notice carries leads to this page.
    link = urlsplit(portal_url(portal.stage.settings.portal_base_url, notice_id))
    page = client.get(link.path)
    assert page.status_code == 200
    item = portal.item(first)
    for shown in (item.media_url, item.sha256, item.pdq or "missing pdq", "Baseline CSAM (illegal everywhere)",
                  f"{notice_id}/{first}", "Last verified present", "First seen", "Evidence reference"):
        assert shown in page.text, shown
    assert "baseline_csam" not in page.text  # people read the label, never the storage key
    assert page.text.count('class="portal-item"') == 2
    # Never media: no image, no evidence key, no review media route.
    assert "<img" not in page.text and "/media" not in page.text and (item.evidence_key or "x") not in page.text

    as_json = client.get(f"/provider/notices/{notice_id}.json")
    negotiated = client.get(link.path, headers={"Accept": "application/json"})
    assert as_json.status_code == negotiated.status_code == 200
    assert as_json.json() == negotiated.json()
    body = as_json.json()
    assert body["id"] == notice_id and body["provider"] == "Host A" and body["renotice"] == 0
    assert [i["id"] for i in body["items"]] == [first, second]
    one = body["items"][0]
    assert (one["url"], one["sha256"], one["state"], one["evidence_reference"]) == (
        item.media_url, item.sha256, "open", f"{notice_id}/{first}")
    assert "evidence_key" not in json.dumps(body)
    assert [e.subject for e in portal.audit("provider.notice_view")] == [f"notice:{notice_id}"] * 3
    assert [e.subject for e in portal.audit("provider.notices_view")] == [f"provider:{portal.a}"]


def test_removed_asks_for_an_immediate_recheck_and_gone_closes_the_item_with_its_time_to_removal(
    portal: Portal,
) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    assert recheck_requests(portal) == []  # the scheduled recheck is a day away
    portal.env.clock.advance(hours=2)
    client = portal.env.signed_in("staff-a")

    done = post(client, f"/provider/notices/{notice_id}/items/{item_id}/removed")
    assert done.status_code == 303 and done.headers["location"].startswith(f"/provider/notices/{notice_id}?done=")
    [request] = recheck_requests(portal)
    item = portal.item(item_id)
    assert (request.media_url, request.sha256, request.notice_id) == (item.media_url, item.sha256, notice_id)
    page = client.get(done.headers["location"]).text
    assert "removal claimed" in page and "a recheck is on its way" in page and "Thank you" in page
    assert state_of(client, notice_id, item_id)["state"] == "removal_claimed"

    # Pressed again before any answer: no second request, the provider is told it is on its way.
    again = post(client, f"/provider/notices/{notice_id}/items/{item_id}/removed")
    assert again.headers["location"].endswith(f"done=pending#item-{item_id}")
    assert recheck_requests(portal) == []

    portal.env.clock.advance(minutes=15)
    portal.stage.handle(result(portal, item, RecheckOutcome.GONE))
    assert portal.item(item_id).status == "removed"
    view = state_of(client, notice_id, item_id)
    assert view["state"] == "gone" and view["time_to_removal"] == "2 h 15 min"
    assert view["time_to_removal_hours"] == 2.25 and view["removed_at"] == portal.env.clock().isoformat()
    page = client.get(f"/provider/notices/{notice_id}").text
    assert "2 h 15 min after the first notice" in page and 'class="removed"' not in page  # closed: no actions
    assert post(client, f"/provider/notices/{notice_id}/items/{item_id}/removed").status_code == 409
    listing = client.get("/provider/notices").text
    assert '<td class="open">0</td><td class="closed">1</td>' in listing

    claims = portal.audit("provider.removal_claim")
    assert [(e.actor, e.subject) for e in claims] == [("staff-a", f"notice-item:{item_id}")] * 2
    assert claims[0].detail["recheck"] == request.message_id and claims[1].detail["repeated"] is True


def test_a_recheck_that_still_finds_it_or_cannot_tell_is_shown_as_such(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    client = portal.env.signed_in("staff-a")
    post(client, f"/provider/notices/{notice_id}/items/{item_id}/removed")
    item = portal.item(item_id)
    portal.env.clock.advance(minutes=5)
    portal.stage.handle(result(portal, item, RecheckOutcome.ERROR))
    assert state_of(client, notice_id, item_id)["state"] == "rechecking"
    portal.env.clock.advance(minutes=5)
    portal.stage.handle(result(portal, item, RecheckOutcome.PRESENT))
    view = state_of(client, notice_id, item_id)
    assert view["state"] == "open" and "still found it" in view["detail"]
    # Answered, so the provider may claim again at once, and a new recheck goes out.
    assert len(recheck_requests(portal)) == 1
    portal.env.clock.advance(minutes=5)
    post(client, f"/provider/notices/{notice_id}/items/{item_id}/removed")
    assert len(recheck_requests(portal)) == 1


def test_contest_pauses_renotices_and_a_senior_upholds_it(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    client = portal.env.signed_in("staff-a")
    reason = f"This is our product photo {HOSTILE}"
    done = post(client, f"/provider/notices/{notice_id}/items/{item_id}/contest", reason=f"  {reason}\n")
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "contested" in page and "Your contest is recorded" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and HOSTILE not in page
    assert 'class="contest-form"' not in page  # one contest per item
    with portal.env.store.session() as s:
        contest = s.scalars(select(NoticeContest)).one()
        assert (contest.status, contest.reason, contest.provider_id) == (ContestStatus.OPEN, reason, portal.a)
    [entry] = portal.audit("provider.contest")
    assert entry.subject == f"notice-item:{item_id}" and entry.detail["contest"] == contest.id

    # A day on, still online: rechecked as usual, but no re-notice while contested.
    for _ in range(2):
        portal.env.clock.advance(hours=25)
        assert portal.stage.schedule_rechecks() == 1
        portal.stage.handle(result(portal, portal.item(item_id), RecheckOutcome.PRESENT))
        assert portal.stage.flush() == []
    assert [n.sequence for n in portal.notices_to(portal.a)] == [1]

    senior = portal.env.signed_in("senior")
    queue = senior.get("/review").text
    assert f'data-contest="{contest.id}"' in queue and "Host A" in queue
    assert "&lt;script&gt;" in queue and HOSTILE not in queue
    assert 'id="contests"' not in portal.env.signed_in("analyst").get("/review").text  # seniors only
    contest_page = senior.get(f"/review/contests/{contest.id}")
    assert contest_page.status_code == 200
    assert "&lt;script&gt;" in contest_page.text and HOSTILE not in contest_page.text
    assert f"/review/contests/{contest.id}/media?level=0" in contest_page.text
    media = senior.get(f"/review/contests/{contest.id}/media")
    assert media.status_code == 200 and media.headers["content-type"] == "image/jpeg"
    revealed = post(senior, f"/review/contests/{contest.id}/reveal", step="unblur")
    assert revealed.status_code == 303
    assert 'class="level-1"' in senior.get(f"/review/contests/{contest.id}").text

    decided = post(senior, f"/review/contests/{contest.id}/decision", outcome="uphold",
                   note="It matches a known entry.")
    assert decided.status_code == 303 and decided.headers["location"] == "/review?done=contest-upheld"
    assert "Contest rejected" in senior.get(decided.headers["location"]).text
    assert f'data-contest="{contest.id}"' not in senior.get("/review").text
    view = state_of(portal.env.signed_in("staff-a"), notice_id, item_id)
    assert view["state"] == "open" and view["contest_status"] == "upheld"
    assert f"Contest rejected at {portal.env.clock():%Y-%m-%d %H:%M} UTC" in view["detail"]
    assert view["contest_note"] == "It matches a known entry."
    with portal.env.store.session() as s:
        kept = s.get(ReviewItem, portal.item(item_id).review_item_id)
        assert kept is not None and kept.classification == "baseline_csam"

    # Re-notices resume at once: the item was seen present since the last notice, a day ago.
    [renotice] = portal.stage.flush()
    assert [n.sequence for n in portal.notices_to(portal.a)] == [1, 2] and renotice != notice_id
    assert [e.subject for e in portal.audit("review.contest_view")] == [f"contest:{contest.id}"] * 2
    [decision] = portal.audit("review.contest_decision")
    assert (decision.actor, decision.detail["outcome"], decision.detail["status"]) == ("senior", "uphold", "upheld")
    assert [e.detail.get("contest") for e in portal.audit("review.media_view")] == [contest.id]
    assert [e.detail.get("contest") for e in portal.audit("review.reveal")] == [contest.id]


def test_an_accepted_contest_reclassifies_withdraws_and_allow_lists(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    decisions(portal)  # the analysts' confirmation
    review_item_id = portal.item(item_id).review_item_id
    client = portal.env.signed_in("staff-a")
    post(client, f"/provider/notices/{notice_id}/items/{item_id}/contest", reason="A stock photo of a beach.")
    with portal.env.store.session() as s:
        contest_id = s.scalars(select(NoticeContest.id)).one()

    # A senior analyst of another organisation finds no trace of the contest on any of its routes.
    with portal.env.store.session() as s:
        hotline = orgs.create(s, "Other hotline", kind=orgs.OrgKind.HOTLINE, jurisdiction=["FR"])
    portal.env.accounts.create_user("fr-senior", "correct horse battery", [Role.SENIOR_ANALYST.value],
                                    actor="test", org_id=hotline)
    stranger = portal.env.signed_in("fr-senior")
    assert f"/review/contests/{contest_id}" not in stranger.get("/review").text
    assert stranger.get(f"/review/contests/{contest_id}").status_code == 404
    assert stranger.get(f"/review/contests/{contest_id}/media").status_code == 404
    assert post(stranger, f"/review/contests/{contest_id}/reveal", step="unblur").status_code == 404
    assert post(stranger, f"/review/contests/{contest_id}/decision", outcome="accept").status_code == 404

    senior = portal.env.signed_in("senior")
    done = post(senior, f"/review/contests/{contest_id}/decision", outcome="accept")
    assert done.headers["location"] == "/review?done=contest-accepted"
    assert post(senior, f"/review/contests/{contest_id}/decision", outcome="accept").status_code == 409
    assert senior.get(f"/review/contests/{contest_id}/media").status_code == 404  # decided: media no longer shown

    with portal.env.store.session() as s:
        review = s.get(ReviewItem, review_item_id)
        assert review is not None
        assert (review.status, review.classification, review.decided_by) == ("rejected", "not_csam", "senior")
        row = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.analyst == f"contest:{contest_id}")).one()
        assert row.classification == "not_csam" and "senior" in (row.reason or "")
        assert s.scalars(select(AllowEntry.sha256)).all() == [review.sha256]
        assert s.scalars(select(NoticeContest.status)).one() == ContestStatus.ACCEPTED
    [decision] = decisions(portal)
    assert (decision.review_item_id, decision.classification) == (review_item_id, Classification.NOT_CSAM)
    # The notifier withdraws the item when review's decision reaches it on review.decisions, not before.
    assert portal.item(item_id).status == "open"
    assert deliver_decisions(portal) >= 1
    assert portal.item(item_id).status == "withdrawn"
    with portal.env.store.session() as s:
        assert not any(r.pending for r in s.scalars(select(NoticeRecipient)
                                                    .where(NoticeRecipient.notice_item_id == item_id)))
    portal.stage.handle(decision)  # redelivered: changes nothing
    assert portal.item(item_id).status == "withdrawn"
    view = state_of(portal.env.signed_in("staff-a"), notice_id, item_id)
    assert view["state"] == "withdrawn" and "Contest accepted at" in view["detail"]

    # Closed: no recheck, no notice, ever again.
    portal.env.clock.advance(hours=49)
    assert portal.stage.schedule_rechecks() == 0 and portal.stage.flush() == []
    # The same image, re-encoded (new SHA-256, near PDQ), is never queued for review.
    again = seed_candidate(portal.env.store, portal.env.blobs, portal.env.stage, image(1, quality=70),
                           media_url="http://files.a.test/1-copy.jpg")
    with portal.env.store.session() as s:
        copy = s.get(ReviewItem, again.item_id)
        assert copy is not None and (copy.status, copy.classification) == ("rejected", "not_csam")
    assert portal.workflow().queue("carol", senior=True) == []


def test_an_accepted_contest_the_bus_lost_is_announced_again_and_then_withdrawn(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    review_item_id = portal.item(item_id).review_item_id
    post(portal.env.signed_in("staff-a"), f"/provider/notices/{notice_id}/items/{item_id}/contest", reason="benign")
    with portal.env.store.session() as s:
        contest_id = s.scalars(select(NoticeContest.id)).one()

    class DeadBus(EmbeddedBus):
        def publish(self, message: object) -> None:
            raise TransientError("broker unreachable")

    dead = ReviewWorkflow(portal.env.store, DeadBus(portal.env.bus.path), portal.env.settings.review,
                          portal.env.clock)
    with pytest.raises(TransientError):
        dead.accept_contest(review_item_id, contest_id, "senior")
    with portal.env.store.session() as s:
        review = s.get(ReviewItem, review_item_id)
        assert review is not None and (review.classification, review.announced_at) == ("not_csam", None)
    deliver_decisions(portal)  # only the analysts' confirmation is on the bus
    assert portal.item(item_id).status == "open"

    # The outbox marker is still unset: the review stage's periodic sweep announces it.
    [sweep] = ReviewStage(portal.env.bus, portal.env.store, portal.env.settings.review).periodic()
    sweep.run()
    with portal.env.store.session() as s:
        review = s.get(ReviewItem, review_item_id)
        assert review is not None and review.announced_at is not None
    assert deliver_decisions(portal) == 1
    assert portal.item(item_id).status == "withdrawn"
    with portal.env.store.session() as s:
        contest = s.get(NoticeContest, contest_id)
        assert contest is not None and (contest.status, contest.decided_by) == (ContestStatus.ACCEPTED, "senior")
    assert portal.stage.flush() == []


def test_accepting_a_contest_takes_the_media_off_the_local_hash_list(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg", local_hash_list="local")
    [notice_id] = portal.stage.flush()
    sha = portal.item(item_id).sha256
    assert sha in {e.value for e in export_entries(portal.env.store, "local")}
    post(portal.env.signed_in("staff-a"), f"/provider/notices/{notice_id}/items/{item_id}/contest", reason="benign")
    with portal.env.store.session() as s:
        contest_id = s.scalars(select(NoticeContest.id)).one()
    portal.workflow(local_hash_list="local").accept_contest(portal.item(item_id).review_item_id, contest_id, "senior")
    assert export_entries(portal.env.store, "local") == []
    with portal.env.store.session() as s:
        assert s.scalar(select(func.count()).select_from(HashEntry).where(HashEntry.value == sha)) == 0


def test_provider_b_never_sees_or_touches_provider_a(portal: Portal) -> None:
    a_item = portal.confirm(1, "http://files.a.test/secret-a.jpg")
    b_item = portal.confirm(2, "http://files.b.test/b.jpg")
    portal.stage.flush()
    a_notice, b_notice = portal.notice_of(a_item), portal.notice_of(b_item)
    b = portal.env.signed_in("staff-b")
    assert a_notice not in b.get("/provider/notices").text and b_notice in b.get("/provider/notices").text

    missing = b.get("/provider/notices/OW-00000000-NOTHERE", headers={"Accept": "application/json"})
    refusals = [
        b.get(f"/provider/notices/{a_notice}", headers={"Accept": "application/json"}),
        b.get(f"/provider/notices/{a_notice}.json"),
        post(b, f"/provider/notices/{a_notice}/items/{a_item}/removed"),
        post(b, f"/provider/notices/{a_notice}/items/{a_item}/contest", reason="not ours"),
        # A's item through B's own notice: not listed there.
        post(b, f"/provider/notices/{b_notice}/items/{a_item}/removed"),
        post(b, f"/provider/notices/{b_notice}/items/{a_item}/contest", reason="not ours"),
    ]
    assert missing.status_code == 404
    for refused in refusals:
        assert refused.status_code == 404, refused.request.url
        assert "secret-a" not in refused.text and "Host A" not in refused.text
    html = b.get(f"/provider/notices/{a_notice}")
    assert html.status_code == 404 and "secret-a" not in html.text
    assert b.get(f"/provider/notices/{a_notice}", headers={"Accept": "application/json"}).json() == missing.json()
    assert recheck_requests(portal) == []
    with portal.env.store.session() as s:
        assert s.scalar(select(func.count()).select_from(NoticeContest)) == 0

    # Anonymous callers are sent to sign in (pages) or refused (API); analysts are the wrong role.
    anonymous = portal.env.client()
    analyst = portal.env.signed_in("analyst")
    for path in (f"/provider/notices/{a_notice}", f"/provider/notices/{a_notice}.json", "/provider/notices"):
        page = anonymous.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        assert anonymous.get(path, headers={"Accept": "application/json"}).status_code == 401
        assert analyst.get(path).status_code == 403
    for action in ("removed", "contest"):
        path = f"/provider/notices/{a_notice}/items/{a_item}/{action}"
        assert anonymous.post(path, headers={"Accept": "application/json"}).status_code == 401
        assert post(analyst, path, reason="x").status_code == 403
    for path in (f"/review/contests/{1}", f"/review/contests/{1}/media"):
        assert analyst.get(path).status_code == 403 and b.get(path).status_code == 403

    # Admins read any portal, act on none.
    root = portal.env.signed_in("root")
    index = root.get("/provider/notices").text
    assert f"/provider/notices?provider={portal.a}" in index and "Host B" in index
    a_list = root.get(f"/provider/notices?provider={portal.a}").text
    assert a_notice in a_list and b_notice not in a_list and "Read-only" in a_list
    a_page = root.get(f"/provider/notices/{a_notice}")
    assert a_page.status_code == 200 and "secret-a" in a_page.text and "<form method=\"post\" class" not in a_page.text
    assert post(root, f"/provider/notices/{a_notice}/items/{a_item}/removed").status_code == 403
    assert root.get("/provider/notices?provider=999999").status_code == 404
    assert [e.detail.get("read_only") for e in portal.audit("provider.notice_view") if e.actor == "root"] == [True]


def test_bad_input_is_refused_and_changes_nothing(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    a = portal.env.signed_in("staff-a")
    contest_path = f"/provider/notices/{notice_id}/items/{item_id}/contest"
    assert post(a, contest_path, reason="   ").status_code == 422
    # A browser gets the notice page again, the message beside the reason (issue 17: no bare 422 page).
    page = a.post(contest_path, data={"csrf_token": csrf_of(a.get("/").text), "reason": "   "},
                  headers={"Accept": "text/html"})
    assert page.status_code == 422 and f"Notice {notice_id}" in page.text
    assert 'id="error-reason"' in page.text and "Please give a reason" in page.text
    assert post(a, contest_path).status_code == 422
    assert post(a, contest_path, reason="x" * (REASON_MAX + 1)).status_code == 422
    assert a.post(contest_path, data={"reason": "no CSRF token"}).status_code == 403
    assert post(a, f"/provider/notices/{notice_id}/items/999999/removed").status_code == 404
    with portal.env.store.session() as s:
        assert s.scalar(select(func.count()).select_from(NoticeContest)) == 0
    assert post(a, contest_path, reason="benign").status_code == 303
    assert post(a, contest_path, reason="benign, again").status_code == 409
    with portal.env.store.session() as s:
        contest_id = s.scalars(select(NoticeContest.id)).one()
    senior = portal.env.signed_in("senior")
    assert post(senior, f"/review/contests/{contest_id}/decision", outcome="maybe").status_code == 422
    assert post(senior, f"/review/contests/{contest_id}/reveal", step="everything").status_code == 422
    assert post(senior, f"/review/contests/{contest_id}/reveal", step="full").status_code == 409  # one step at a time
    assert post(senior, "/review/contests/999999/decision", outcome="accept").status_code == 404
    with portal.env.store.session() as s:
        assert s.scalars(select(NoticeContest.status)).one() == ContestStatus.OPEN
    # Gone while contested: closed for good, and a closed item takes no further action.
    portal.stage.handle(result(portal, portal.item(item_id), RecheckOutcome.GONE))
    assert post(a, f"/provider/notices/{notice_id}/items/{item_id}/removed").status_code == 409


def test_provider_tooling_uses_an_api_token_and_json(portal: Portal) -> None:
    item_id = portal.confirm(1, "http://files.a.test/1.jpg")
    [notice_id] = portal.stage.flush()
    token = portal.env.accounts.create_token("staff-a", "ticketing", actor="test")
    api = portal.env.client()
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    listed = api.get(f"/provider/notices/{notice_id}", headers=auth)
    assert listed.status_code == 200 and listed.json()["items"][0]["state"] == "open"
    done = api.post(f"/provider/notices/{notice_id}/items/{item_id}/removed", headers=auth)
    assert done.status_code == 200 and done.json()["item"]["state"] == "removal_claimed"
    assert len(recheck_requests(portal)) == 1
    other = portal.env.accounts.create_token("staff-b", "ticketing", actor="test")
    refused = api.get(f"/provider/notices/{notice_id}.json", headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 404


def test_hostile_urls_are_escaped_everywhere(portal: Portal) -> None:
    item_id = portal.confirm(1, f"http://files.a.test/{HOSTILE}.jpg")
    [notice_id] = portal.stage.flush()
    a = portal.env.signed_in("staff-a")
    page = a.get(f"/provider/notices/{notice_id}").text
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in page
    assert "pages.test/1?q=&lt;script&gt;" in page
    post(a, f"/provider/notices/{notice_id}/items/{item_id}/contest", reason=HOSTILE)
    senior = portal.env.signed_in("senior")
    with portal.env.store.session() as s:
        contest_id = s.scalars(select(NoticeContest.id)).one()
    for text in (senior.get("/review").text, senior.get(f"/review/contests/{contest_id}").text):
        assert HOSTILE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# ---------------------------------------------------------------------------------------------------------------
# The notice as a table: filters, bulk "removed", CSV and JSON


def test_a_notice_is_a_table_filtered_by_status_and_day_with_bulk_removed(portal: Portal) -> None:
    ids = [portal.confirm(n, f"http://files.a.test/{n}.jpg") for n in range(1, 4)]
    [notice_id] = portal.stage.flush()
    client = portal.env.signed_in("staff-a")
    page = client.get(f"/provider/notices/{notice_id}").text
    assert page.count("<tr data-item=") == 3 and "3 items shown of 3" in page
    none_chosen = post(client, f"/provider/notices/{notice_id}/removed")
    assert none_chosen.status_code == 422 and "Tick the items you removed first" in none_chosen.text
    assert recheck_requests(portal) == []
    bulk = client.post(f"/provider/notices/{notice_id}/removed",
                       data={"csrf_token": csrf_of(page), "item": [str(ids[0]), str(ids[2])]})
    assert bulk.status_code == 303 and bulk.headers["location"] == f"/provider/notices/{notice_id}?done=bulk"
    assert sorted(r.media_url for r in recheck_requests(portal)) == ["http://files.a.test/1.jpg",
                                                                     "http://files.a.test/3.jpg"]
    assert len(portal.audit("provider.removal_claim")) == 2
    claimed = client.get(f"/provider/notices/{notice_id}", params={"status": "removal_claimed"}).text
    assert claimed.count("<tr data-item=") == 2 and "2 items shown of 3" in claimed
    still_open = client.get(f"/provider/notices/{notice_id}", params={"status": "open"}).text
    assert f'<tr data-item="{ids[1]}"' in still_open and "1 item shown of 3" in still_open
    today = datetime.fromisoformat(state_of(client, notice_id, ids[0])["first_seen"]).date()
    later = client.get(f"/provider/notices/{notice_id}",
                       params={"since": (today.replace(year=today.year + 1)).isoformat()}).text
    assert "<tr data-item=" not in later and "No item matches the filter." in later
    same_day = client.get(f"/provider/notices/{notice_id}", params={"since": today.isoformat(),
                                                                    "until": today.isoformat()}).text
    assert same_day.count("<tr data-item=") == 3
    # Another provider's staff cannot mark these items, in bulk or alone.
    other = portal.env.signed_in("staff-b")
    assert post(other, f"/provider/notices/{notice_id}/removed", item=str(ids[1])).status_code == 404


def test_a_notice_exports_as_csv_with_human_labels(portal: Portal) -> None:
    item_id = portal.confirm(5, "http://files.a.test/=cmd.jpg")
    [notice_id] = portal.stage.flush()
    client = portal.env.signed_in("staff-a")
    exported = client.get(f"/provider/notices/{notice_id}.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv_module.DictReader(io.StringIO(exported.text)))
    assert [r["item"] for r in rows] == [str(item_id)]
    assert rows[0]["classification"] == "Baseline CSAM (illegal everywhere)"
    assert rows[0]["classification_key"] == "baseline_csam" and rows[0]["state"] == "open"
    assert rows[0]["url"] == "http://files.a.test/=cmd.jpg"
    body = client.get(f"/provider/notices/{notice_id}.json").json()
    assert body["items"][0]["classification_label"] == "Baseline CSAM (illegal everywhere)"
    assert portal.env.signed_in("staff-b").get(f"/provider/notices/{notice_id}.csv").status_code == 404
    assert [e.detail.get("format") for e in portal.audit("provider.notice_view")] == ["csv", "json"]


def test_notice_csv_cells_never_run_as_spreadsheet_formulas() -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    item = PortalItem(id=1, url='=HYPERLINK("http://x.test")', page_url="+page", first_seen=at,
                      last_verified_present=at, sha256="a" * 64, pdq=None, classification="baseline_csam",
                      evidence_reference="@ref", state=ItemState.OPEN, label="open", detail="", removed_at=None,
                      time_to_removal=None, time_to_removal_hours=None, removal_claimed_at=None, contest_status=None,
                      contest_reason=None, contested_at=None, contest_decided_at=None, contest_note=None)
    [row] = list(csv_module.DictReader(io.StringIO(items_csv([item], {"baseline_csam": "Baseline CSAM"}))))
    assert row["url"] == "'=HYPERLINK(\"http://x.test\")" and row["page_url"] == "'+page"
    assert row["evidence_reference"] == "'@ref" and row["classification"] == "Baseline CSAM"
