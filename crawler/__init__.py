"""Crawler stage (pipeline start): an ordinary Scrapy project that fetches pages and media.

Spiders find media; one item pipeline (:class:`crawler.pipelines.BusPipeline`) hands every
fetched media response to the bus as a :class:`core.messages.FetchedMedia` and records pages
and failed fetches in the store. :func:`crawler.run.run_crawl` runs a crawl in a child process.
"""
