"""A public report becomes work: the crawler worker the runtime runs fetches the reported page, and only it.

The report goes in through the web app's /report form; the worker (built as ``orbweaver worker crawler``
builds it) claims the report's campaign ahead of an operator's older one, fetches the page at depth 0
through the crawler's safe fetcher (loopback allowed by ``[crawler] allow_private_hosts``, as the usual
setting), and every media message it publishes says ``origin=report``; until hashing recorded its media,
the report still reads "received".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, FetchOrigin, Topic, decode
from crawler.campaigns import Campaigns, CampaignSpec, page_count
from crawler.worker import CrawlerWorker
from orbweaver.runtime import crawl_infrastructure
from orbweaver.settings import Settings
from tests.integration.test_campaigns import Site, serve
from tests.unit.web.conftest import make_env
from web.reports import lookup

pytestmark = pytest.mark.integration


def test_a_reported_page_is_crawled_first_at_depth_zero_and_its_media_say_report(tmp_path: Path) -> None:
    with serve(Site(pages=3)) as site:
        for env in make_env(tmp_path):
            settings = Settings.model_validate({
                **env.settings.model_dump(mode="json"),
                "core": {**env.settings.core.model_dump(mode="json"), "bus": f"embedded:{tmp_path / 'bus.db'}",
                         "store": env.store.url},
                "crawler": {"allow_private_hosts": ["127.0.0.1"], "download_delay_s": 0, "autothrottle": False,
                            "operator": "report test"}})
            env.app.state.ctx.settings = settings
            older = Campaigns(env.store).create(CampaignSpec(
                name="operator's", seeds=[site.url("/p/2.html")], operator="op", contact_url="https://op.test/",
                allow_private_hosts=["127.0.0.1"]), queued=True)
            client = env.client()
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/report").text)
            assert token is not None
            sent = client.post("/report", data={"csrf_token": token.group(1), "urls": site.url("/p/0.html"),
                                                "where_seen": "website", "lang": "fr"})
            assert sent.status_code == 200
            code = re.search(r'id="report-code" dir="ltr">([^<]+)<', sent.text)
            assert code is not None

            worker = CrawlerWorker(crawl_infrastructure(settings), Campaigns(env.store))
            ran = worker.run_once()
            assert ran is not None and ran != older.id
            # Depth 0: the reported page and its image; its links (/p/1.html, /p/2.html) wait for nobody.
            with env.store.session() as s:
                assert page_count(s, ran) == 1
            counts = site.counts()
            assert counts["/p/0.html"] == 1 and counts["/img/0.png"] == 1
            assert counts["/p/1.html"] == 0 and counts["/p/2.html"] == 0
            bus = EmbeddedBus(tmp_path / "bus.db")
            try:
                fetched = [decode(p) for p in bus.read_topic(Topic.MEDIA_FETCHED)]
            finally:
                bus.close()
            assert fetched and all(isinstance(m, FetchedMedia) and m.ref.origin is FetchOrigin.REPORT
                                   and m.ref.campaign_id == ran for m in fetched)
            # Fetched, but its image is not hashed yet (no hashing stage runs here): not assessed.
            found = lookup(env.store, code.group(1))
            assert found is not None and [s.value for _, s in found] == ["received"]
