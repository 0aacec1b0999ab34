"""Crawler stage control: a Scrapy extension that keeps a running crawl in step with its campaign row.

Once a second (``ORBWEAVER_CONTROL_POLL_S``) it renews the campaign's lease, stores the crawl's
counters, and reads the campaign's state. When an operator asked to pause or stop (or another
process took the campaign over), it tells the frontier to hand out nothing more; the requests
in flight finish, and when the crawl is idle it closes with the reason ``paused``, ``stopped``
or ``lease lost``. :mod:`crawler.run` turns that reason into the campaign's next state.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Self

import structlog
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, NotConfigured
from twisted.internet import task

from core.errors import OrbweaverError
from core.store import Store
from crawler.campaigns import Campaigns, CampaignState
from crawler.frontier import Stat as FrontierStat
from crawler.frontier import hold_requests
from crawler.pipelines import Setting as PipelineSetting
from crawler.pipelines import Stat as PipelineStat

log = structlog.get_logger(__name__)


class Setting(StrEnum):
    """Scrapy settings of a campaign-managed crawl."""

    CAMPAIGN_ID = "ORBWEAVER_CAMPAIGN_ID"
    LEASE_OWNER = "ORBWEAVER_LEASE_OWNER"
    LEASE_S = "ORBWEAVER_LEASE_S"
    POLL_S = "ORBWEAVER_CONTROL_POLL_S"
    BASE_COUNTERS = "ORBWEAVER_BASE_COUNTERS"
    """JSON: counters of the earlier sessions of a resumed run, added to this session's."""


class CloseReason(StrEnum):
    """Scrapy close reasons this extension gives."""

    PAUSED = "paused"
    STOPPED = "stopped"
    LEASE_LOST = "lease lost"


class CampaignControl:
    """Heartbeat, counters, and graceful pause/stop for a crawl that holds a campaign's lease.

    Disabled (``NotConfigured``) for crawls without a lease owner.
    """

    def __init__(
        self,
        crawler: Crawler,
        campaigns: Campaigns,
        campaign_id: str,
        owner: str,
        lease_s: float,
        poll_s: float,
        base: dict[str, int],
    ) -> None:
        self.crawler = crawler
        self.campaigns = campaigns
        self.campaign_id = campaign_id
        self.owner = owner
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.base = base
        self.reason: CloseReason | None = None
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawl's settings and connect to its signals.

        Raises:
            NotConfigured: If the crawl holds no lease (a bare crawl job).

        """
        settings = crawler.settings
        owner = settings.get(Setting.LEASE_OWNER.value)
        if not owner:
            raise NotConfigured  # bare: Scrapy logs a reason given here as a warning
        store = Store(str(settings.get(PipelineSetting.STORE_URL.value)))
        base = json.loads(settings.get(Setting.BASE_COUNTERS.value) or "{}")
        ext = cls(
            crawler,
            Campaigns(store),
            str(settings.get(Setting.CAMPAIGN_ID.value)),
            str(owner),
            settings.getfloat(Setting.LEASE_S.value, 60.0),
            settings.getfloat(Setting.POLL_S.value, 1.0),
            {k: int(v) for k, v in base.items()},
        )
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def counters(self) -> dict[str, int]:
        """This run's totals so far, as campaign columns."""
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()

        def total(column: str, stat: str) -> int:
            return self.base.get(column, 0) + int(stats.get(stat, 0))

        return {
            # Counted by the frontier as it commits pages finished (their rows written first), over all the
            # run's sessions: a page fetched again after a kill is not counted twice.
            "pages_fetched": int(stats.get(FrontierStat.PAGES_FINISHED.value, 0)),
            "media_fetched": total("media_fetched", PipelineStat.MEDIA.value),
            "fetch_errors": total("fetch_errors", PipelineStat.ERRORS.value),
            "queued": int(stats.get(FrontierStat.PENDING.value, 0)),
        }

    def spider_opened(self) -> None:
        """Start heartbeating."""
        self._loop = task.LoopingCall(self.poll)
        self._loop.start(self.poll_s, now=False)

    def poll(self) -> None:
        """Renew the lease, store counters, and wind down if the campaign asks for it."""
        try:
            state = self.campaigns.heartbeat(self.campaign_id, self.owner, self.lease_s, self.counters())
        except OrbweaverError as exc:
            # The store is briefly unreachable: keep crawling; if the lease lapses meanwhile,
            # the next heartbeat that gets through finds it lost and winds down.
            log.warning("crawler.heartbeat_failed", campaign_id=self.campaign_id, error=str(exc))
            return
        if state is None:
            self.wind_down(CloseReason.LEASE_LOST)
        elif state is CampaignState.PAUSING:
            self.wind_down(CloseReason.PAUSED)
        elif state is CampaignState.STOPPING:
            self.wind_down(CloseReason.STOPPED)

    def wind_down(self, reason: CloseReason) -> None:
        """Hand out no further request; close with ``reason`` once the crawl is idle."""
        if self.reason is not None:
            return
        self.reason = reason
        log.info("crawler.winding_down", campaign_id=self.campaign_id, reason=reason.value)
        self.crawler.signals.send_catch_log(hold_requests)

    def spider_idle(self) -> None:
        """Close with the wind-down reason instead of "finished" when winding down.

        Raises:
            CloseSpider: While winding down.

        """
        if self.reason is not None:
            raise CloseSpider(self.reason.value)

    def spider_closed(self, reason: str) -> None:
        """Stop heartbeating; store the final counters."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.reason is not CloseReason.LEASE_LOST:
            try:
                self.campaigns.heartbeat(self.campaign_id, self.owner, self.lease_s, self.counters())
            except OrbweaverError as exc:
                log.warning("crawler.heartbeat_failed", campaign_id=self.campaign_id, error=str(exc))
        self.campaigns.store.dispose()

    def __repr__(self) -> str:
        return f"CampaignControl(campaign_id={self.campaign_id!r}, owner={self.owner!r})"

