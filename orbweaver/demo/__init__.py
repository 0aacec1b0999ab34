"""Demo support, beside the pipeline: benign generated images, a demo website and its server.

Needs the ``hashing`` extra (numpy, Pillow, pdqhash); importing the package checks for it so a
missing dependency names the extra to install instead of failing deep inside a module.
"""

from __future__ import annotations

from core.optional import require

require("numpy", "hashing")
require("PIL", "hashing")
