"""Crawler stage Scrapy settings: the project's fixed settings, plus those derived from a crawl job.

The module-level names are an ordinary Scrapy settings module (``SCRAPY_SETTINGS_MODULE=
crawler.scrapy_settings``); :func:`for_job` layers one job's values on top of them.
"""

from __future__ import annotations

import typing
from typing import Any

from crawler import middlewares
from crawler.pipelines import Setting

# typing.TYPE_CHECKING rather than the bare name: every upper-case global here is a setting.
if typing.TYPE_CHECKING:
    from crawler.run import CrawlJob

BOT_NAME = "orbweaver"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

ROBOTSTXT_OBEY = True
# robots.txt groups are matched on this product token, not on the whole User-Agent header.
ROBOTSTXT_USER_AGENT = "orbweaver"

# The private-address check awaits asyncio's getaddrinfo, so the asyncio reactor is required
# (it is also Scrapy's default).
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

DOWNLOADER_MIDDLEWARES = {
    # Puts the campaign's HTTP proxy on every request; HttpProxyMiddleware (750) does the proxying.
    "crawler.proxy.CampaignProxyMiddleware": 740,
    # After OffsiteMiddleware (50) and before RobotsTxtMiddleware (100): a refused host is
    # never contacted, not even for its robots.txt.
    "crawler.middlewares.PrivateAddressMiddleware": 60,
    # After RedirectMiddleware (600), so it sees a 3xx first: a redirect loop becomes an error.
    "crawler.middlewares.RedirectLoopMiddleware": 650,
    # Inside RetryMiddleware (550) and RedirectMiddleware (600), so it remembers final outcomes:
    # answers repeat media requests of a run without downloading them again (crawler/fetch_once.py).
    "crawler.fetch_once.FetchOnceMiddleware": 540,
    # Last, after every middleware that prepares a request: answers page requests marked
    # orbweaver_render with the DOM rendered in Chromium (idle, no browser, otherwise).
    "crawler.render.RenderMiddleware": 950,
}
# Every Twisted connection resolves through this: answers with a non-public address are dropped,
# so a connect can only reach checked addresses (closes the DNS-rebinding gap).
TWISTED_DNS_RESOLVER = "crawler.middlewares.PublicAddressResolver"
ITEM_PIPELINES = {"crawler.pipelines.BusPipeline": 300}
# The frontier is on disk (crawler/frontier.py): dedupe, caps, and resuming after a restart.
SCHEDULER = "crawler.frontier.FrontierScheduler"
SPIDER_MIDDLEWARES = {
    # Nearest the engine, so it sees a response's output only after every other middleware.
    "crawler.frontier.FrontierSpiderMiddleware": 10,
    # The spider counts depth in page hops itself (see DEPTH_LIMIT); Scrapy's counter would
    # only cost a generator layer per response.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
}
# Heartbeats the campaign's lease and carries out pause and stop (crawler/control.py).
EXTENSIONS = {"crawler.control.CampaignControl": 100}
# The pipeline is synchronous, so parallel item processing buys nothing, and Scrapy starts
# CONCURRENT_ITEMS asyncio tasks for every response (100 by default: a third of the crawl's CPU).
CONCURRENT_ITEMS = 1
# Per-request byte counts (it serialises every request and response to measure them).
DOWNLOADER_STATS = False

# Depth is counted by the spider in page hops; Scrapy's own counter would also count the hop
# to each image and cut off the images of the deepest pages.
DEPTH_LIMIT = 0
COOKIES_ENABLED = False
RETRY_TIMES = 1
# Media bodies are kept whole in memory up to DOWNLOAD_MAXSIZE; no separate early warning.
DOWNLOAD_WARNSIZE = 0

AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Both consoles execute code inside the crawler; nobody should be able to reach one.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "WARNING"
# The service configures logging (core.logging); Scrapy must not add a second root handler.
LOG_INSTALL_ROOT_HANDLER = False
# REQUEST_FINGERPRINTER_IMPLEMENTATION is not set: Scrapy 2.19 has a single (current)
# fingerprinter and no longer reads that setting.


def for_job(job: CrawlJob) -> dict[str, Any]:
    """Every Scrapy setting of one crawl: this module's values plus the job's.

    Args:
        job: The crawl to run.

    Returns:
        A settings dict for :class:`scrapy.crawler.CrawlerProcess`.

    """
    import json

    from crawler import control, frontier, proxy

    fixed = {name: value for name, value in globals().items() if name.isupper()}
    cs = job.settings
    return {
        **fixed,
        "CONCURRENT_REQUESTS": job.concurrent_requests,
        frontier.Setting.PATH.value: job.frontier_path,
        frontier.Setting.COMMIT_INTERVAL_S.value: job.frontier_commit_interval_s,
        frontier.Setting.MAX_PAGES.value: cs.max_pages,
        frontier.Setting.MAX_MEDIA.value: job.max_media,
        frontier.Setting.MAX_PAGES_PER_HOST.value: job.max_pages_per_host,
        control.Setting.CAMPAIGN_ID.value: job.campaign_id,
        control.Setting.LEASE_OWNER.value: job.lease_owner,
        control.Setting.LEASE_S.value: job.lease_s,
        control.Setting.POLL_S.value: job.control_poll_s,
        control.Setting.BASE_COUNTERS.value: json.dumps(job.base_counters),
        proxy.PROXY_SETTING: job.proxy,
        # Scrapy proxies only over HTTP; a SOCKS5 proxy gets its own handler (crawler/socks.py).
        "DOWNLOAD_HANDLERS": (
            {"http": "crawler.socks.SocksDownloadHandler", "https": "crawler.socks.SocksDownloadHandler"}
            if proxy.is_socks(job.proxy) else {}
        ),
        # Rendering loads a browser; only campaigns that ask for it get the middleware (crawler/render.py).
        "DOWNLOADER_MIDDLEWARES": (
            {**DOWNLOADER_MIDDLEWARES, "crawler.render.RenderMiddleware": 950} if job.render else DOWNLOADER_MIDDLEWARES
        ),
        "USER_AGENT": cs.effective_user_agent(),
        "ROBOTSTXT_OBEY": cs.obey_robots,
        "CONCURRENT_REQUESTS_PER_DOMAIN": cs.concurrent_requests_per_host,
        "DOWNLOAD_DELAY": cs.download_delay_s,
        "AUTOTHROTTLE_ENABLED": cs.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(cs.download_delay_s, 0.1),
        "DOWNLOAD_TIMEOUT": cs.download_timeout_s,
        "DOWNLOAD_MAXSIZE": cs.max_response_bytes,
        "REDIRECT_MAX_TIMES": cs.max_redirects,
        "REDIRECT_ENABLED": cs.max_redirects > 0,
        middlewares.ALLOW_SETTING: list(cs.allow_private_hosts),
        Setting.STORE_URL.value: job.store_url,
        Setting.BUS_URL.value: job.bus_url,
        Setting.BLOBS_URL.value: job.blobs_url,
        Setting.S3_ENDPOINT_URL.value: job.s3_endpoint_url,
        Setting.INLINE_MEDIA_LIMIT.value: job.inline_media_limit,
        Setting.MAX_MEDIA_BACKLOG.value: cs.max_media_backlog,
        Setting.RUN_KEY.value: job.run_key,
        Setting.ORIGIN.value: job.origin.value,
    }
