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
    # After OffsiteMiddleware (50) and before RobotsTxtMiddleware (100): a refused host is
    # never contacted, not even for its robots.txt.
    "crawler.middlewares.PrivateAddressMiddleware": 60,
}
ITEM_PIPELINES = {"crawler.pipelines.BusPipeline": 300}

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
    fixed = {name: value for name, value in globals().items() if name.isupper()}
    cs = job.settings
    return {
        **fixed,
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
    }
