"""Campaign specs, their rows in the store, leases and recurrence (SQLite store, fake clock, no crawling)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.store import Store
from crawler.campaigns import (
    CampaignError,
    Campaigns,
    CampaignSpec,
    CampaignState,
    frontier_path_for,
    parse_spec,
    read_seeds_file,
)
from crawler.run import CrawlJob, CrawlSummary
from crawler.settings import CrawlerSettings
from crawler.worker import CrawlerWorker, CrawlInfrastructure, prepare_run
from tests.fixtures.clock import FakeClock

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def spec_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "test",
        "seeds": ["http://site.example/"],
        "operator": "Test Hotline",
        "contact_url": "https://hotline.example/crawler",
    }
    data.update(over)
    return data


def spec(**over: Any) -> CampaignSpec:
    return parse_spec(spec_data(**over))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def campaigns(tmp_path: Path, clock: FakeClock) -> Iterator[Campaigns]:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    yield Campaigns(store, clock)
    store.dispose()


# -- the spec ------------------------------------------------------------------------------------


def test_spec_defaults_are_polite_and_the_user_agent_names_operator_and_contact() -> None:
    s = spec()
    assert s.robots.obey and s.robots.override_reason is None
    assert s.limits.max_depth == 3 and s.rate.concurrent_requests_per_host == 2 and s.rate.autothrottle
    assert s.user_agent == "orbweaver/0.1 (+https://hotline.example/crawler; operator: Test Hotline)"
    settings = s.crawler_settings(CrawlerSettings(allow_private_hosts=["10.0.0.1"], download_timeout_s=7))
    assert settings.effective_user_agent() == s.user_agent and settings.obey_robots
    assert settings.download_timeout_s == 7 and settings.allow_private_hosts == ["10.0.0.1"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"seed": ["http://x.example/"]}, "unknown key 'seed'"),
        ({"limits": {"max_dpeth": 2}}, "unknown key 'limits.max_dpeth'"),
        ({"robots": {"obey": False}}, "needs a reason"),
        ({"robots": {"obey": False, "override_reason": "   "}}, "needs a reason"),
        ({"robots": {"obey": True, "override_reason": "because"}}, "only for campaigns that do not obey"),
        ({"seeds": []}, "seeds"),
        ({"seeds": ["ftp://site.example/"]}, "absolute http(s) URL"),
        ({"seeds": ["http://site.example:99999/"]}, "not a valid URL"),
        ({"operator": ""}, "operator"),
        ({"operator": "Evil (bot); x"}, "printable name"),
        ({"contact_url": "mailto:a@b.example"}, "contact_url"),
        ({"proxy": "ftp://proxy.example:21"}, "proxy must be a URL"),
        ({"proxy": "socks5://proxy.example"}, "needs a port"),
        ({"proxy": "socks5h://127.0.0.2:1080"}, "proxy 127.0.0.2: refused: 127.0.0.2 is a private/loopback address"),
        ({"proxy": "socks5://[::1]:1080"}, "proxy ::1: refused: ::1 is a private/loopback address"),
        ({"proxy": "http://10.0.0.5:3128"}, "proxy 10.0.0.5: refused: 10.0.0.5 is a private/loopback address"),
        ({"proxy": "https://169.254.169.254:443"}, "proxy 169.254.169.254: refused"),
        ({"proxy": "socks5h://127.0.0.2:1080", "allow_private_hosts": ["127.0.0.1"]}, "proxy 127.0.0.2: refused"),
        ({"recurrence_hours": 0}, "recurrence_hours"),
        ({"scope": {"mode": "domains", "domains": ["other.example"]}}, "out of scope"),
        ({"scope": {"include": ["(unclosed"]}}, "bad URL pattern"),
        ({"scope": {"mode": "domains", "domains": ["http://x.example/"]}}, "not a domain name"),
        ({"scope": {"mode": "galaxy"}}, "scope.mode"),
    ],
)
def test_bad_specs_are_rejected_with_a_reason(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="invalid campaign") as err:
        parse_spec(spec_data(**over))
    assert message in str(err.value)


def test_a_robots_override_carries_its_reason_and_proxy_and_scope_are_kept() -> None:
    s = spec(
        robots={"obey": False, "override_reason": "court order 123: site hides evidence behind robots.txt"},
        proxy="socks5h://127.0.0.1:1080",
        allow_private_hosts=["127.0.0.1"],  # the proxy's address, allowed as such
        scope={"mode": "site", "exclude": ["/logout"]},
        seeds=["http://www.site.example/", "http://www.site.example/"],
    )
    assert not s.robots.obey and s.robots.override_reason is not None
    assert s.seeds == ["http://www.site.example/"]  # duplicates dropped
    assert s.crawler_settings(CrawlerSettings()).obey_robots is False
    assert CampaignSpec.model_validate_json(s.model_dump_json()) == s


def test_seeds_file_skips_comments_and_names_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "seeds.txt"
    good.write_text("# seeds\nhttp://a.example/\n\n  https://b.example/x  \n")
    assert read_seeds_file(good) == ["http://a.example/", "https://b.example/x"]
    bad = tmp_path / "bad.txt"
    bad.write_text("http://a.example/\nnot a url\njavascript:alert(1)\n")
    with pytest.raises(CampaignError) as err:
        read_seeds_file(bad)
    assert f"{bad}:2:" in str(err.value) and f"{bad}:3:" in str(err.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(CampaignError, match="lists no URL"):
        read_seeds_file(empty)
    with pytest.raises(CampaignError, match="cannot read"):
        read_seeds_file(tmp_path / "missing.txt")


# -- rows, states and leases ----------------------------------------------------------------------


def test_create_get_list_and_robots_reason_is_stored(campaigns: Campaigns, clock: FakeClock) -> None:
    a = campaigns.create(spec(name="a"))
    clock.advance(seconds=1)
    b = campaigns.create(spec(name="b", robots={"obey": False, "override_reason": "lab site we own"}), queued=True)
    assert a.state is CampaignState.CREATED and b.state is CampaignState.QUEUED
    assert campaigns.get(b.id).robots_override_reason == "lab site we own"
    assert [r.id for r in campaigns.list_all()] == [b.id, a.id]
    view = campaigns.get(b.id).to_json(clock())
    assert view["robots"] == "ignored" and view["robots_override_reason"] == "lab site we own"
    with pytest.raises(CampaignError, match="already exists"):
        campaigns.create(spec(), campaign_id=a.id)
    with pytest.raises(CampaignError, match="no campaign"):
        campaigns.get("nope")


def test_only_one_owner_holds_a_lease_and_a_dead_owners_lease_is_taken_over(
    campaigns: Campaigns, clock: FakeClock
) -> None:
    cid = campaigns.create(spec(), queued=True).id
    first = campaigns.claim_next("worker-1", lease_s=60)
    assert first is not None and first.id == cid and first.state is CampaignState.RUNNING
    assert campaigns.claim_next("worker-2", lease_s=60) is None
    assert campaigns.claim(cid, "worker-2", 60) is None
    clock.advance(seconds=30)
    assert campaigns.heartbeat(cid, "worker-1", 60, {"pages_fetched": 5, "queued": 7}) is CampaignState.RUNNING
    clock.advance(seconds=61)  # worker-1 died: no heartbeat for longer than the lease
    taken = campaigns.claim_next("worker-2", lease_s=60)
    assert taken is not None and taken.lease_owner == "worker-2" and taken.pages_fetched == 5
    # The old owner's next heartbeat learns it lost the lease; its release changes nothing.
    assert campaigns.heartbeat(cid, "worker-1", 60) is None
    assert campaigns.release(cid, "worker-1", CampaignState.FINISHED, "late") is None
    assert campaigns.get(cid).state is CampaignState.RUNNING


def test_pause_stop_and_queue_follow_the_state_machine(campaigns: Campaigns, clock: FakeClock, tmp_path: Path) -> None:
    cid = campaigns.create(spec()).id
    assert campaigns.pause(cid) is CampaignState.PAUSED  # nothing running: paused at once
    assert campaigns.queue(cid) is CampaignState.QUEUED
    assert campaigns.claim(cid, "w", 60) is not None
    assert campaigns.pause(cid) is CampaignState.PAUSING  # a live crawl winds down first
    assert campaigns.heartbeat(cid, "w", 60) is CampaignState.PAUSING
    assert campaigns.release(cid, "w", CampaignState.PAUSED, "paused") is CampaignState.PAUSED
    # A stopped campaign's frontier is deleted.
    frontier = frontier_path_for(tmp_path, cid)
    frontier.write_bytes(b"x")
    campaigns.set_frontier(cid, frontier, fresh_run=False)
    assert campaigns.stop(cid) is CampaignState.STOPPED and not frontier.exists()
    with pytest.raises(CampaignError, match="already stopped"):
        campaigns.stop(cid)
    with pytest.raises(CampaignError, match="cannot be paused"):
        campaigns.pause(cid)
    # Stopping a live crawl asks it to wind down.
    other = campaigns.create(spec()).id
    campaigns.claim(other, "w", 60)
    assert campaigns.stop(other) is CampaignState.STOPPING
    with pytest.raises(CampaignError, match="stopping under w"):
        campaigns.queue(other)


def test_a_dead_crawlers_pending_pause_or_stop_is_carried_out_on_claim(campaigns: Campaigns, clock: FakeClock) -> None:
    cid = campaigns.create(spec()).id
    campaigns.claim(cid, "w", 10)
    campaigns.pause(cid)
    clock.advance(seconds=11)
    assert campaigns.claim(cid, "w2", 10) is None
    assert campaigns.get(cid).state is CampaignState.PAUSED
    assert campaigns.get(cid).to_json(clock())["crashed"] is False
    # A crashed running campaign shows as such and is paused at once when asked.
    campaigns.claim(cid, "w3", 10)
    clock.advance(seconds=11)
    assert campaigns.get(cid).to_json(clock())["crashed"] is True
    assert campaigns.pause(cid) is CampaignState.PAUSED


# -- recurrence and the worker loop ----------------------------------------------------------------


class FakeRunner:
    """Stands in for run_crawl: records jobs and ends each run the way a crawl would."""

    def __init__(self, campaigns: Campaigns) -> None:
        self.campaigns = campaigns
        self.jobs: list[CrawlJob] = []

    def __call__(self, job: CrawlJob, **_: Any) -> CrawlSummary:
        self.jobs.append(job)
        assert job.lease_owner is not None
        state = self.campaigns.release(job.campaign_id, job.lease_owner, CampaignState.FINISHED, "crawl ended")
        return CrawlSummary(pages=1, reason="finished", state=None if state is None else state.value)


def infra(tmp_path: Path) -> CrawlInfrastructure:
    return CrawlInfrastructure(
        bus_url=f"embedded:{tmp_path / 'bus.sqlite3'}",
        store_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        blobs_url=str(tmp_path / "blobs"),
        inline_media_limit=1000,
        frontier_dir=tmp_path / "frontiers",
        crawler=CrawlerSettings(lease_s=30),
    )


def test_recurring_campaigns_are_queued_when_due_by_the_injected_clock(
    campaigns: Campaigns, clock: FakeClock, tmp_path: Path
) -> None:
    recurring = campaigns.create(spec(name="every 6h", recurrence_hours=6), queued=True).id
    once = campaigns.create(spec(name="once"), queued=True).id
    runner = FakeRunner(campaigns)
    worker = CrawlerWorker(infra(tmp_path), campaigns, owner="w1", runner=runner)
    assert worker.run_once() == recurring and worker.run_once() == once and worker.run_once() is None
    row = campaigns.get(recurring)
    assert row.state is CampaignState.FINISHED and row.next_run_at == T0 + timedelta(hours=6)
    assert campaigns.get(once).next_run_at is None
    clock.advance(hours=5, minutes=59)
    assert campaigns.promote_due() == [] and worker.run_once() is None
    clock.advance(minutes=1)
    assert worker.run_once() == recurring
    assert campaigns.get(recurring).next_run_at == T0 + timedelta(hours=12)
    assert campaigns.get(recurring).run_count == 2 and campaigns.get(once).run_count == 1
    assert [j.campaign_id for j in runner.jobs] == [recurring, once, recurring]
    assert all(j.interrupted_state == "queued" for j in runner.jobs)  # a stopped worker hands campaigns back


def test_prepare_run_resumes_when_a_frontier_file_exists(campaigns: Campaigns, tmp_path: Path) -> None:
    record = campaigns.create(spec(limits={"max_pages": 9, "max_media": 5, "max_pages_per_host": 3},
                                   rate={"concurrent_requests": 4}, proxy="http://proxy.example:3128",
                                   render=True))
    campaigns.claim(record.id, "w", 60)
    fresh = prepare_run(campaigns, campaigns.get(record.id), infra(tmp_path), owner="w")
    assert fresh.base_counters == {} and fresh.settings.max_pages == 9 and fresh.max_media == 5
    assert fresh.max_pages_per_host == 3 and fresh.concurrent_requests == 4 and fresh.render
    assert fresh.proxy == "http://proxy.example:3128" and fresh.lease_owner == "w"
    assert fresh.settings.effective_user_agent() == record.spec.user_agent
    assert campaigns.get(record.id).run_count == 1
    campaigns.heartbeat(record.id, "w", 60, {"pages_fetched": 4, "media_fetched": 2, "fetch_errors": 1})
    assert fresh.frontier_path is not None
    Path(fresh.frontier_path).parent.mkdir(parents=True, exist_ok=True)
    Path(fresh.frontier_path).write_bytes(b"")
    resumed = prepare_run(campaigns, campaigns.get(record.id), infra(tmp_path), owner="w")
    # Pages are counted by the frontier file itself (committed with the pages it finishes), not carried on.
    assert resumed.base_counters == {"media_fetched": 2, "fetch_errors": 1}
    assert campaigns.get(record.id).run_count == 1  # a resumed run is the same run
    assert resumed.run_key == fresh.run_key == f"{record.id}/run-1"  # its sightings keep their natural keys
