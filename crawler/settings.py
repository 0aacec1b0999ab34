"""Crawler stage settings: the typed ``[crawler]`` section every crawl is configured from."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section

DEFAULT_CONTACT_URL = "https://github.com/orbweaver/orbweaver"


class CrawlerSettings(Section):
    """How politely, how far and how safely the crawler fetches."""

    contact_url: str = Field(
        default=DEFAULT_CONTACT_URL,
        description="Where site operators read who crawls them and why; part of the user agent.",
    )
    user_agent: str = Field(
        default="",
        description="User-Agent header; empty: the honest 'orbweaver/0.1 (+contact_url)'.",
    )
    max_depth: int = Field(
        default=3, ge=0, description="Link hops followed from a seed page (0: the seed pages only)."
    )
    max_pages: int = Field(
        default=1000,
        ge=1,
        description="Most HTML pages fetched per crawl (media fetches not counted).",
    )
    concurrent_requests_per_host: int = Field(
        default=2,
        ge=1,
        description="Parallel requests to one host (Scrapy CONCURRENT_REQUESTS_PER_DOMAIN).",
    )
    download_delay_s: float = Field(
        default=0.5,
        ge=0,
        description="Least delay between requests to one host, in seconds (AutoThrottle's floor).",
    )
    autothrottle: bool = Field(
        default=True,
        description=(
            "Adapt the delay per host to its response times (Scrapy AutoThrottle). Off only for "
            "servers you run yourself, such as the demo site."
        ),
    )
    download_timeout_s: float = Field(
        default=30.0, gt=0, description="Give up on one request after this many seconds."
    )
    max_response_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description="Abort downloads larger than this; such a media fetch is recorded as an error.",
    )
    max_redirects: int = Field(
        default=5, ge=0, description="Most redirects followed for one request."
    )
    obey_robots: bool = Field(
        default=True, description="Honour robots.txt (for the user agent token 'orbweaver')."
    )
    allow_private_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Hosts or IP addresses fetched even though they resolve to private, loopback or other "
            "non-public addresses (tests, lab set-ups); everything else non-public is refused."
        ),
    )
    operator: str = Field(
        default="",
        description=(
            "Who runs the crawls, named in every campaign's user agent; campaign create and crawl "
            "use it when --operator is not given (one of the two is required)."
        ),
    )
    frontier_dir: str = Field(
        default="",
        description="Folder of the campaigns' on-disk frontiers; empty: data_dir/frontiers.",
    )
    frontier_commit_interval_s: float = Field(
        default=0.25,
        ge=0,
        description=(
            "Most seconds between frontier commits; a killed crawl refetches at most what finished "
            "in that window. 0 commits every finished request (slower)."
        ),
    )
    lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A running campaign's lease; another worker takes it over this long after its crawler died.",
    )
    max_media_backlog: int = Field(
        default=0,
        ge=0,
        description=(
            "Pause the crawl while the hashing stage has more than this many fetched media waiting "
            "on the bus (its consumer lag); 0: never (the bus's own buffer limits still apply). Set it "
            "only where hashing workers drain the bus while the crawl runs, or the crawl waits for them."
        ),
    )
    worker_poll_s: float = Field(
        default=5.0, gt=0, description="How often an idle crawler worker looks for queued or due campaigns."
    )

    def effective_user_agent(self) -> str:
        """Return the User-Agent header sent: the configured one, or the honest default."""
        return self.user_agent or f"orbweaver/0.1 (+{self.contact_url})"
