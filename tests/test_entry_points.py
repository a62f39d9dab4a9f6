"""Every console script of pyproject.toml resolves to a callable, and every Makefile command
calls a declared console script (the tools included), never ``python -m`` of a module."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
TOOLS = ("zoo", "bench", "bench-data", "gpu-check", "data-check")


def recipes(makefile: str) -> dict[str, list[str]]:
    """Target → its recipe lines (the tab-indented lines under ``target:``)."""
    found: dict[str, list[str]] = {}
    target = None
    for line in makefile.splitlines():
        if line.startswith("\t") and target:
            found[target].append(line.strip())
        elif match := re.match(r"^([\w-]+):", line):
            target = match.group(1)
            found[target] = []
        else:
            target = None if line.strip() == "" or not line.startswith("\t") else target
    return found


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_script_resolves_to_a_callable_without_arguments(script):
    module, _, attr = SCRIPTS[script].partition(":")
    function = getattr(importlib.import_module(module), attr)
    # a console script calls it with no arguments (Hydra apps: the wrapper, not the task)
    inspect.signature(function, follow_wrapped=False).bind()


def test_every_makefile_tool_is_a_console_script():
    targets = recipes((ROOT / "Makefile").read_text())
    for tool in TOOLS:
        called = [
            s for line in targets[tool] for s in re.findall(r"\$\(BIN\)/(tunnellab-\S+)", line)
        ]
        assert called, f"make {tool} calls no tunnellab-* console script: {targets[tool]}"
        assert set(called) <= set(SCRIPTS), f"make {tool}: {called} not in [project.scripts]"
    every = [line for lines in targets.values() for line in lines]
    assert not [line for line in every if "python -m tunnellab" in line]
    used = {s for line in every for s in re.findall(r"\$\(BIN\)/(tunnellab-\S+)", line)}
    assert used <= set(SCRIPTS)


def test_recipes_reads_a_makefile():
    text = "a: b\n\tone\n\ttwo\n\nc:\n\tthree\nVAR := 1\n"
    assert recipes(text) == {"a": ["one", "two"], "c": ["three"]}
