"""Locate the ``conf/`` tree: an explicit env var, the packaged copy, or the source checkout."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "TUNNELLAB_CONFIG_DIR"


def config_dir() -> Path:
    """The directory holding ``config.yaml`` and the config groups."""
    candidates = []
    if os.environ.get(CONFIG_ENV):
        candidates.append(Path(os.environ[CONFIG_ENV]))
    package_root = Path(__file__).resolve().parents[1]
    candidates += [package_root / "conf", package_root.parents[1] / "conf"]
    for candidate in candidates:
        if (candidate / "config.yaml").is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"tunnellab's config tree (config.yaml) was not found; looked in {tried}"
    )
