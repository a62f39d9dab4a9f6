"""Decide the W&B mode: online only when the user is logged in or asks for it, and the server
answers within a few seconds (else offline: a run never waits on an unreachable server)."""

from __future__ import annotations

import netrc
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, MutableMapping
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


REACH_TIMEOUT_S = 5.0  # how long the start-up check waits for the W&B server to accept a connection
INIT_TIMEOUT_S = 30.0  # wandb.init's own bound (its default is 90 s) once the server answered


def drop_empty_wandb_mode(environ: MutableMapping[str, str] | None = None) -> None:
    """An empty ``WANDB_MODE`` means unset (wandb itself would reject ``''`` with a traceback)."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_MODE") is not None and not env["WANDB_MODE"].strip():
        del env["WANDB_MODE"]


def wandb_base_url(environ: Mapping[str, str] | None = None) -> str:
    """The W&B server this process talks to (``WANDB_BASE_URL``, default the public cloud)."""
    env = os.environ if environ is None else environ
    return (env.get("WANDB_BASE_URL") or "").strip() or f"https://{DEFAULT_HOST}"


def server_unreachable(url: str, timeout: float = REACH_TIMEOUT_S) -> str | None:
    """Why the W&B server at ``url`` does not answer within ``timeout`` seconds, or None if it does.

    One HTTP request (any status counts as an answer) in a daemon thread, so neither a slow name
    lookup, a firewall that drops packets nor a proxy that accepts and never answers can hold the
    caller longer than ``timeout``.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"WANDB_BASE_URL '{url}' is not an http(s) URL with a host"
    outcome: list[str | None] = []

    def ask() -> None:
        request = urllib.request.Request(url.rstrip("/") + "/healthz", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                outcome.append(None)
        except urllib.error.HTTPError:  # the server answered, with an error status
            outcome.append(None)
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):
                return  # the same as no answer by the deadline
            outcome.append(str(getattr(reason, "strerror", None) or reason or type(err).__name__))

    thread = threading.Thread(target=ask, name="wandb-reach", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"no answer from {url} within {timeout:g} s"
    return None if outcome[0] is None else f"{url} not reachable ({outcome[0].lower()})"
