"""Hashing stage (crawler → **hashing** → matcher): exact and perceptual hashes of fetched media.

The package is the ``hashing`` extra: every module needs numpy and Pillow, so both are checked
here, once, with an error that names the extra to install. OpenCV loads lazily, on the first
video.

BLAS runs single-threaded in a process that hashes: PDQ's filter is a few small matrix
products per image (well under a millisecond on one core), and OpenBLAS's default of one thread
per core spent 20-80 ms per product waking and spinning threads on a shared two-core machine.
Parallelism belongs one level up (more workers), where it scales.
"""

from __future__ import annotations

from core.optional import require

for _module in ("numpy", "PIL", "threadpoolctl"):
    require(_module, "hashing")

require("threadpoolctl", "hashing").threadpool_limits(limits=1, user_api="blas")
