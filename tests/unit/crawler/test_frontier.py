"""The on-disk frontier: dedupe that survives a restart, caps, order, and requests stored as JSON."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.utils.test import get_crawler

from core.errors import TransientError
from crawler.frontier import (
    FRONTIER_ID,
    Added,
    Budget,
    Frontier,
    FrontierScheduler,
    Stat,
    decode_request,
    encode_request,
    request_key,
)
from crawler.spiders.site import FetchKind, Meta, SiteSpider

SITE = "http://site.example"


def key(url: str, kind: str = FetchKind.PAGE, page: str | None = None) -> bytes:
    return request_key(kind, url, page)


def test_seen_set_survives_a_restart_and_duplicates_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    f = Frontier(path)
    assert f.add("a", key=key(f"{SITE}/a")) is Added.QUEUED
    assert f.add("a again", key=key(f"{SITE}/a#frag")) is Added.DUPLICATE  # canonical URL
    assert f.add("a", key=key(f"{SITE}/a?y=2&x=1")) is Added.QUEUED
    assert f.add("a", key=key(f"{SITE}/a?x=1&y=2")) is Added.DUPLICATE  # query order does not matter
    f.close()
    again = Frontier(path)
    assert again.add("a", key=key(f"{SITE}/a")) is Added.DUPLICATE
    assert again.pending == 2
    again.close()


def test_media_are_keyed_with_their_page() -> None:
    img = f"{SITE}/i.png"
    assert key(img, FetchKind.MEDIA, f"{SITE}/p1") != key(img, FetchKind.MEDIA, f"{SITE}/p2")
    assert key(img, FetchKind.MEDIA, f"{SITE}/p1") != key(img, FetchKind.PAGE)
    # A page's key ignores where it was linked from.
    assert key(f"{SITE}/p", FetchKind.PAGE, "x") == key(f"{SITE}/p", FetchKind.PAGE, "y")


def test_priority_then_first_in_first_out(tmp_path: Path) -> None:
    f = Frontier(tmp_path / "f.sqlite3")
    for name, priority in (("p1", 0), ("p2", 0), ("m1", 1), ("p3", 0), ("m2", 1)):
        f.add(name, key=None, priority=priority)
    assert [e.request for e in f.pop(10)] == ["m1", "m2", "p1", "p2", "p3"]
    assert f.pending == 0 and f.handed_out == 5 and f.pop() == []
    f.close()


def test_handed_out_but_unfinished_requests_come_back_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    f = Frontier(path, commit_interval_s=0)
    for i in range(5):
        f.add(f"r{i}", key=key(f"{SITE}/{i}"))
    entries = f.pop(3)
    f.finish(entries[0].id)  # finished (committed at once: interval 0)
    f.commit()
    # Crash: the process dies without closing; SQLite keeps what was committed.
    del f
    again = Frontier(path)
    assert again.pending == 4
    assert sorted(e.request for e in again.pop(10)) == ["r1", "r2", "r3", "r4"]
    again.close()


def test_uncommitted_work_is_rolled_back_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    f = Frontier(path, commit_interval_s=3600)
    f.add("seed", key=key(f"{SITE}/"))
    f.commit()
    (entry,) = f.pop()
    f.add("child", key=key(f"{SITE}/child"))  # found on the page...
    f.finish(entry.id)  # ...which then finished, but nothing was committed before the crash
    f._db.close()  # the process dies: the open transaction is lost
    again = Frontier(path)
    # The page is handed out again and its child is not half-recorded: the crawl redoes the page.
    assert [e.request for e in again.pop(10)] == ["seed"]
    assert not again.seen(key(f"{SITE}/child"))
    again.close()


def test_nothing_is_committed_finished_until_its_output_is_handed_on(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    handed_on: list[str] = []
    refuse = False

    def before_commit() -> None:
        # Stands in for the item pipeline writing its buffered page rows (a store that is locked, for a while).
        if refuse:
            raise TransientError("store locked")
        handed_on.append("rows")

    f = Frontier(path, commit_interval_s=0, before_commit=before_commit)
    f.add("seed", key=key(f"{SITE}/"))  # committed at once (interval 0), after handing on
    assert handed_on == ["rows"]
    refuse = True
    (entry,) = f.pop()
    f.finish(entry.id, page=True)  # interval 0 would commit now, but the rows could not be written
    assert f.pages_finished == 1
    with sqlite3.connect(path) as other:  # what a restart would find
        assert other.execute("SELECT count(*) FROM queue").fetchone()[0] == 1
    other.close()
    refuse = False
    f.try_commit()
    assert handed_on == ["rows", "rows"]
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM queue").fetchone()[0] == 0
        assert other.execute("SELECT value FROM counters WHERE name = 'pages_finished'").fetchone()[0] == 1
    other.close()
    f.close()


def test_a_close_that_cannot_hand_on_rolls_the_marks_back(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"

    def locked() -> None:
        raise TransientError("store locked")

    f = Frontier(path, commit_interval_s=3600)
    f.add("seed", key=key(f"{SITE}/"))
    f.commit()
    f.before_commit = locked
    (entry,) = f.pop()
    f.finish(entry.id, page=True)
    f.close()  # the pipeline could not write the page's row: the page must be fetched again
    again = Frontier(path)
    assert [e.request for e in again.pop(10)] == ["seed"] and again.pages_finished == 0
    again.close()


def test_caps_count_new_requests_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    budget = Budget(max_pages=3, max_media=2, max_pages_per_host=2)
    f = Frontier(path, budget)
    assert f.add("a1", key=key("http://a.example/1"), host="a.example") is Added.QUEUED
    assert f.add("a1", key=key("http://a.example/1"), host="a.example") is Added.DUPLICATE
    assert f.add("a2", key=key("http://a.example/2"), host="a.example") is Added.QUEUED
    assert f.add("a3", key=key("http://a.example/3"), host="a.example") is Added.OVER_HOST_LIMIT
    assert f.add("b1", key=key("http://b.example/1"), host="b.example") is Added.QUEUED
    assert f.add("b2", key=key("http://b.example/2"), host="b.example") is Added.OVER_PAGE_LIMIT
    assert f.add("m1", key=None, kind=FetchKind.MEDIA) is Added.QUEUED
    assert f.add("s1", key=None, kind=FetchKind.STYLESHEET) is Added.QUEUED  # stylesheets are not capped
    f.close()
    again = Frontier(path, budget)
    assert (again.pages_added, again.media_added) == (3, 1)
    assert again.add("m2", key=None, kind=FetchKind.MEDIA) is Added.QUEUED
    assert again.add("m3", key=None, kind=FetchKind.MEDIA) is Added.OVER_MEDIA_LIMIT
    # An over-cap URL was never marked seen: it is refused for the cap, not as a duplicate.
    assert again.add("b2", key=key("http://b.example/2"), host="b.example") is Added.OVER_PAGE_LIMIT
    again.close()


def test_a_redirect_replaces_its_entry_and_a_redirect_to_a_seen_page_finishes_it(tmp_path: Path) -> None:
    f = Frontier(tmp_path / "f.sqlite3")
    f.add("a", key=key(f"{SITE}/a"))
    f.add("b", key=key(f"{SITE}/b"))
    first, second = f.pop(2)
    assert f.requeue(first.id, "a->c", key=key(f"{SITE}/c")) is True
    assert f.pending == 1 and f.handed_out == 1
    assert f.requeue(second.id, "b->a", key=key(f"{SITE}/a")) is False  # /a was seen
    assert f.handed_out == 0
    assert [e.request for e in f.pop(5)] == ["a->c"]
    f.close()


def test_the_database_file_holds_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    f = Frontier(path)
    for i in range(1000):
        f.add(f"r{i}", key=key(f"{SITE}/{i}"))
    f.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM queue").fetchone()[0] == 1000
        assert db.execute("SELECT count(*) FROM seen").fetchone()[0] == 1000


def spider() -> SiteSpider:
    return SiteSpider(campaign_id="c1", seeds=[f"{SITE}/"])


def test_requests_round_trip_as_json_without_pickle() -> None:
    s = spider()
    request = Request(
        f"{SITE}/p?q=ü",
        callback=s.parse,
        errback=s.page_failed,
        priority=3,
        headers={"X-Test": "1"},
        meta={Meta.DEPTH.value: 2, Meta.KIND.value: "page", "handle_httpstatus_list": [404], "obj": object()},
    )
    data = encode_request(request, s)
    assert data.startswith("{") and "obj" not in data  # objects some middleware attaches are left out
    back = decode_request(data, s)
    assert back.url == request.url and back.priority == 3 and back.headers[b"X-Test"] == b"1"
    assert back.callback == s.parse and back.errback == s.page_failed
    assert back.meta[Meta.DEPTH.value] == 2 and back.meta["handle_httpstatus_list"] == [404]
    posted = Request(f"{SITE}/form", method="POST", body=b"\x00\xffdata", callback=s.parse)
    assert decode_request(encode_request(posted, s), s).body == b"\x00\xffdata"


@pytest.fixture
def scheduler(tmp_path: Path) -> FrontierScheduler:
    crawler = get_crawler(
        SiteSpider,
        {"ORBWEAVER_FRONTIER_PATH": str(tmp_path / "f.sqlite3"), "ORBWEAVER_MAX_PAGES": "2"},
    )
    sched = FrontierScheduler.from_crawler(crawler)
    sched.open(spider())
    return sched


def test_scheduler_dedupes_caps_and_tags_requests_with_their_entry(scheduler: FrontierScheduler) -> None:
    s = scheduler.spider
    assert isinstance(s, SiteSpider)

    def page(url: str) -> Request:
        return Request(url, callback=s.parse, meta={Meta.KIND.value: FetchKind.PAGE.value})

    assert scheduler.enqueue_request(page(f"{SITE}/a"))
    assert not scheduler.enqueue_request(page(f"{SITE}/a"))
    assert scheduler.enqueue_request(page(f"{SITE}/b"))
    assert not scheduler.enqueue_request(page(f"{SITE}/c"))  # over the page cap of 2
    assert not scheduler.enqueue_request(Request(f"{SITE}/x", callback=lambda r: None))  # not storable
    stats = scheduler.stats.get_stats()
    assert stats[Stat.DUPLICATES.value] == 1 and stats[f"{Stat.OVER_LIMIT.value}/over_page_limit"] == 1
    assert stats[Stat.UNSTORABLE.value] == 1
    assert len(scheduler) == 2 and scheduler.has_pending_requests()
    first = scheduler.next_request()
    assert first is not None and first.url == f"{SITE}/a" and first.meta[FRONTIER_ID] > 0
    scheduler._hold()
    assert not scheduler.has_pending_requests() and scheduler.next_request() is None
    scheduler.finish(first)
    scheduler.close("paused")
    path = scheduler._path
    assert path is not None
    reopened = Frontier(path)
    assert reopened.pending == 1  # /b is still queued; /a is finished
    reopened.close()


def test_a_frontier_without_a_path_is_temporary_and_removed(tmp_path: Path) -> None:
    crawler = get_crawler(SiteSpider, {})
    sched = FrontierScheduler.from_crawler(crawler)
    sched.open(spider())
    assert sched.frontier is not None
    where = sched.frontier.path
    assert where.exists()
    sched.close("finished")
    assert not where.exists()
