"""Settings of the web app (top of the stack): where it listens, sessions, sign-in limits, review display."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.settings import Section


class WebSettings(Section):
    """How ``orbweaver serve`` listens, keeps sessions, throttles sign-ins and shows media to analysts."""

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on.")
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description=(
            "Reverse proxies trusted for X-Forwarded-For/-Proto (client address, and https for Secure cookies); "
            "empty trusts none."
        ),
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Mark cookies Secure: auto = when the request came over https (directly or via a trusted proxy).",
    )
    cookie_samesite: Literal["lax", "strict"] = Field(default="lax", description="SameSite of the session cookie.")
    session_idle_minutes: int = Field(default=30, ge=1, description="A session unused this long ends.")
    session_max_hours: int = Field(default=12, ge=1, description="A session ends this long after sign-in.")
    login_max_failures: int = Field(
        default=5, ge=1,
        description="Failed sign-ins to one account (from browsers it never used) within the window after which "
        "each further try waits, longer each time (login_delay_s doubling, at most login_lockout_s). A browser "
        "the account signed in from before counts its own failures only, so strangers cannot lock it out.",
    )
    login_ip_max_failures: int = Field(
        default=20, ge=1,
        description="Failed sign-ins from one client address within the window after which that address's tries "
        "from browsers that never signed in wait the same way; browsers that signed in before are not held up.",
    )
    login_window_s: int = Field(default=900, ge=1, description="Window in which failed sign-ins are counted.")
    login_lockout_s: int = Field(default=900, ge=1, description="Longest wait after the last failed sign-in.")
    login_delay_s: float = Field(
        default=1.0, gt=0, description="First wait once a limit is reached; it doubles with each further failure."
    )
    login_device_days: int = Field(
        default=90, ge=1, description="How long a browser that signed in is remembered for its own sign-in limit."
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes over memory per password hash.")
    argon2_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory per password hash, KiB.")
    argon2_parallelism: int = Field(default=4, ge=1, description="argon2id lanes per password hash.")
    preview_px: int = Field(
        default=240, ge=32, le=1024, description="Longest side of the reduced image analysts see before revealing."
    )
    blur_radius: float = Field(default=10.0, ge=0, description="Gaussian blur radius of the reduced image.")
    max_image_pixels: int = Field(
        default=50_000_000, ge=1, description="Larger evidence images are not decoded (decompression bombs)."
    )
    break_after_items: int = Field(
        default=40, ge=0, description="Remind an analyst to take a break after viewing this many items (0: never)."
    )
    break_after_minutes: int = Field(
        default=45, ge=0, description="Remind an analyst to take a break after this many minutes (0: never)."
    )
    break_minutes: int = Field(
        default=5, ge=0, le=240,
        description="Length of an enforced break: once one is due, items are held back until the analyst has "
        "started a break and it has run this long (0: reminders only, nothing held back).",
    )
    audit_page_size: int = Field(default=200, ge=1, le=5000, description="Audit events per page.")
    # --- request body limits by route class (web/limits.py) ---
    form_max_request_bytes: int = Field(
        default=131_072, ge=1024,
        description="Largest body of a sign-in, review, admin or dashboard form, bytes (more: 413).",
    )
    list_import_max_bytes: int = Field(
        default=67_108_864, ge=1024,
        description="Largest hash-list file uploaded on the hash lists page, bytes (more: 413).",
    )
    # --- hash-check API (web/api.py) ---
    api_max_batch: int = Field(default=1000, ge=1, description="Most hashes in one POST /v1/hashes (more: 413).")
    api_max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest POST /v1/hashes body, bytes (more: 413)."
    )
    api_max_media_items: int = Field(default=16, ge=1, description="Most files in one POST /v1/media (more: 413).")
    api_max_media_bytes: int = Field(
        default=33_554_432, ge=1024, description="Largest POST /v1/media body, bytes, all files together (more: 413)."
    )
    api_rate_per_minute: float = Field(
        default=120.0, gt=0, description="Requests per minute each API token may make on average (token bucket)."
    )
    api_burst: int = Field(
        default=30, ge=1, description="Requests an API token may make at once before the per-minute rate applies."
    )
    # --- Arachnid Shield-compatible routes (web/shield.py) ---
    shield_url_fetch: bool = Field(
        default=False,
        description=(
            "POST /v1/url/ fetches a URL orbweaver has not seen, through the crawler's safe fetcher (address policy, "
            "pinned connections, api_max_media_bytes cap), and scans it; off: unknown URLs get 404."
        ),
    )
    shield_fetch_allow: list[str] = Field(
        default_factory=list,
        description=(
            "Hosts, addresses or networks POST /v1/url/ may fetch although not public, besides [crawler] "
            "allow_private_hosts (tests: 127.0.0.1); empty fetches public addresses only."
        ),
    )
    shield_fetch_timeout_s: float = Field(
        default=20.0, gt=0, le=55, description="Budget of one POST /v1/url/ fetch, redirects included, seconds."
    )
    # --- the survivor page (web/survivor.py) ---
    survivor_max_request_bytes: int = Field(
        default=262_144, ge=1024, description="Largest body of the survivor page's hash submission, bytes (more: 413)."
    )
    survivor_max_files: int = Field(default=100, ge=1, description="Most files in one survivor submission.")
    survivor_max_frames: int = Field(default=16, ge=1, description="Most PDQ hashes (video frames) per submitted file.")
    survivor_note_max_chars: int = Field(default=2000, ge=0, description="Longest note with a survivor submission.")
    survivor_rate_per_minute: float = Field(
        default=2.0, gt=0, description="Survivor submissions per minute one address may make on average (token bucket)."
    )
    survivor_burst: int = Field(default=5, ge=1, description="Survivor submissions one address may make at once.")
    # --- public and partner reports (web/reports.py) ---
    report_max_urls: int = Field(default=20, ge=1, le=1000, description="Most URLs in one report.")
    report_max_request_bytes: int = Field(
        default=65_536, ge=1024, description="Largest body of a report (the /report form or POST /v1/reports), bytes."
    )
    report_rate_per_minute: float = Field(
        default=2.0, gt=0,
        description="Reports (and status look-ups) per minute one client address may send on average.",
    )
    report_burst: int = Field(default=5, ge=1, description="Reports one client address may send at once.")
    # --- feeds partners pull (web/feeds.py) ---
    feed_page_size: int = Field(
        default=800, ge=1, le=10_000, description="Most records in one page of the hash feed or the filtering feed."
    )
    api_lists_check_s: float = Field(
        default=5.0, ge=0, description="How often the API looks for changed hash lists and reloads its indexes."
    )
