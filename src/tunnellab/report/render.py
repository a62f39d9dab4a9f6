"""Jinja2 rendering of the reports from the templates shipped in this package."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from tunnellab.atomic import atomic_write


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tunnellab.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> str:
    return (resources.files("tunnellab.report") / "templates" / name).read_text(encoding="utf-8")


def render(template: str, context: dict[str, Any]) -> str:
    """``template`` filled with ``context`` plus the inline stylesheet and script."""
    return (
        _environment()
        .get_template(template)
        .render(
            **context,
            css=_asset("report.css"),
            js=_asset("report.js"),
            written=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )


def write_page(path: Path, template: str, context: dict[str, Any]) -> Path:
    """Render and write atomically; returns ``path``."""
    text = render(template, context)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
