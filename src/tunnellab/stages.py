"""The stage a command is in (loading data, pretraining, probing, ...).

Each stage says so when it starts; an interrupted command reports the last stage entered.
"""

from __future__ import annotations

_current = "start-up"


def enter_stage(name: str) -> None:
    """Record that the command now runs stage ``name``."""
    global _current
    _current = name


def current_stage() -> str:
    """The stage entered last (``start-up`` before any)."""
    return _current
