"""Decide the W&B mode: online only when the user is logged in or asks for it."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_HOST = "api.wandb.ai"


def wandb_api_key_configured(environ: dict[str, str] | None = None) -> bool:
    """True when ``WANDB_API_KEY`` is set or ``~/.netrc`` holds a key for the W&B host."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY"):
        return True
    host = urlparse(env.get("WANDB_BASE_URL", f"https://{DEFAULT_HOST}")).hostname or DEFAULT_HOST
    netrc_path = Path(env.get("NETRC", Path.home() / ".netrc"))
    if not netrc_path.is_file():
        return False
    try:
        return netrc.netrc(str(netrc_path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: str, environ: dict[str, str] | None = None) -> str:
    """``auto`` → ``WANDB_MODE`` if set, else ``online`` with an API key, else ``offline``."""
    env = os.environ if environ is None else environ
    if mode != "auto":
        return mode
    if env.get("WANDB_MODE"):
        return env["WANDB_MODE"]
    return "online" if wandb_api_key_configured(env) else "offline"
