"""Value rules attached to structured-config fields as dataclass ``metadata``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

RULE_KEY = "tunnellab_rule"


@dataclass(frozen=True)
class Rule:
    """A check on one config value and the sentence that says what is allowed."""

    check: Callable[[Any], bool]
    allowed: Callable[[], str]

    def as_metadata(self) -> dict[str, Rule]:
        return {RULE_KEY: self}


def choices(*values: str, source: Callable[[], Iterable[str]] | None = None) -> dict[str, Rule]:
    """The value must be one of ``values`` (or of ``source()``, evaluated lazily)."""

    def allowed_values() -> list[str]:
        return sorted(source()) if source is not None else list(values)

    return Rule(
        check=lambda v: v in allowed_values(),
        allowed=lambda: "one of: " + ", ".join(map(str, allowed_values())),
    ).as_metadata()


def in_range(low: float, high: float) -> dict[str, Rule]:
    """The value must lie in the closed interval ``[low, high]``."""
    return Rule(
        check=lambda v: v is not None and low <= v <= high,
        allowed=lambda: f"a number in [{low}, {high}]",
    ).as_metadata()


def at_least(low: float) -> dict[str, Rule]:
    """The value must be ``>= low``."""
    rule = Rule(check=lambda v: v is not None and v >= low, allowed=lambda: f"a number >= {low}")
    return rule.as_metadata()


def optional_at_least(low: int, meaning: str = "") -> dict[str, Rule]:
    """``null`` (what ``meaning`` says it stands for) or a number ``>= low``."""
    null = f"null ({meaning})" if meaning else "null"
    return Rule(
        check=lambda v: v is None or v >= low, allowed=lambda: f"{null} or a number >= {low}"
    ).as_metadata()


def positive() -> dict[str, Rule]:
    """The value must be ``> 0``."""
    rule = Rule(check=lambda v: v is not None and v > 0, allowed=lambda: "a number > 0")
    return rule.as_metadata()


def fraction() -> dict[str, Rule]:
    """The value must lie in ``[0, 1]``."""
    return in_range(0.0, 1.0)


def source_side(high: int, original: bool = True) -> dict[str, Rule]:
    """``<k>r`` (k times the resolution, k in 1..16), an integer number of pixels in
    ``[16, high]``, or (when ``original``) ``original``.
    """

    def check(value: Any) -> bool:
        if isinstance(value, str):
            multiple = re.fullmatch(r"([1-9][0-9]?)r", value)
            return (original and value == "original") or (
                multiple is not None and int(multiple[1]) <= 16
            )
        return isinstance(value, int) and not isinstance(value, bool) and 16 <= value <= high

    words = "original, " if original else ""
    return Rule(
        check=check,
        allowed=lambda: (
            f"{words}a multiple of the resolution written <k>r (k in 1..16, e.g. 4r) or an "
            f"integer number of pixels in [16, {high}]"
        ),
    ).as_metadata()


def no_width_multiplier() -> dict[str, Rule]:
    """External (timm / torchvision) models are used as built: ``width`` must stay 1."""
    rule = Rule(
        check=lambda v: v == 1.0,
        allowed=lambda: "1.0: timm and torchvision models have no width multiplier",
    )
    return rule.as_metadata()


WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".tar", ".ckpt")


def known_name(source: Callable[[], Iterable[str]], listing: str) -> dict[str, Rule]:
    """The value must be one of ``source()``; a miss names a few close matches, not every name.

    ``check`` remembers the rejected value so that ``allowed`` (asked right after a failed check
    by :func:`tunnellab.config.validate.config_problems`) can suggest its nearest names.
    """
    rejected: list[str] = [""]

    def check(value: Any) -> bool:
        ok = value in set(source())
        if not ok:
            rejected[0] = str(value)
        return ok

    def allowed() -> str:
        names = sorted(source())
        if not rejected[0]:  # no value yet: nothing to be close to
            return f"one of the {len(names)} names of {listing}"
        near = difflib.get_close_matches(rejected[0], names, n=6, cutoff=0.6)
        hint = f"close matches: {', '.join(near)}" if near else "no close match"
        return f"one of the {len(names)} names of {listing} ({hint})"

    return Rule(check=check, allowed=allowed).as_metadata()


def weights_source() -> dict[str, Rule]:
    """``null`` (random init), ``cache`` (local timm/torch hub cache) or a weights file path."""

    def check(value: Any) -> bool:
        if value is None or value == "cache":
            return True
        return isinstance(value, str) and PurePath(value).suffix in WEIGHT_SUFFIXES

    return Rule(
        check=check,
        allowed=lambda: (
            "null (random init), cache (weights already in the local timm / Hugging Face / "
            "torch hub cache; nothing is downloaded) or the path of a weights file ("
            + ", ".join(WEIGHT_SUFFIXES)
            + ")"
        ),
    ).as_metadata()
