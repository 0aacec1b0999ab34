"""Hashing stage (crawler → **hashing** → matcher): exact and perceptual hashes of fetched media.

The package is the ``hashing`` extra: every module needs numpy and Pillow, so both are checked
here, once, with an error that names the extra to install. ``pdqhash`` loads lazily, on the
first PDQ hash.
"""

from __future__ import annotations

from core.optional import require

for _module in ("numpy", "PIL"):
    require(_module, "hashing")
