"""Notifier stage (review → **notifier**): confirmed sightings become takedown notices to hosting providers.

The package is the ``notifier`` extra: notices are rendered with Babel catalogues and Jinja2
templates, checked here once with an error that names the extra. geoip2fast, dnspython and
jsonschema load where they are first used.
"""

from __future__ import annotations

from core.optional import require

for _module in ("babel", "jinja2"):
    require(_module, "notifier")
