"""Crawler stage spiders (Scrapy finds them here through ``SPIDER_MODULES``)."""
