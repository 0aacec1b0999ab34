"""Content security policy of the web app (top of the stack): this site's own scripts, styles and images only."""

from __future__ import annotations

DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
"""No CDN, no inline script: every page loads only what this site serves."""


def csp_with(**extra: str) -> str:
    """The policy with directives added or replaced (``media_src="blob:"`` sets ``media-src blob:``)."""
    directives = {**DIRECTIVES, **{name.replace("_", "-"): value for name, value in extra.items()}}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = csp_with()
"""The policy of every response that sets none of its own."""
