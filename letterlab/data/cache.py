"""Where decoded and generated data sets are cached: $LETTERLAB_CACHE, default ~/.cache/letterlab."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("LETTERLAB_CACHE") or Path.home() / ".cache" / "letterlab")
