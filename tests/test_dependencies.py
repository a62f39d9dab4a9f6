"""pyproject.toml declares what src/ imports; requirements-lock.txt pins the whole venv."""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NOT_LOCKED = {"pip", "tunnellab"}  # pip freeze leaves out pip and the editable project


def _requirements() -> list[Requirement]:
    """The project's own requirements: dependencies and the dev extra."""
    extras = PROJECT["optional-dependencies"]["dev"]
    return [Requirement(r) for r in [*PROJECT["dependencies"], *extras]]


def _lock() -> dict[str, str]:
    lines = (ROOT / "requirements-lock.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    assert all(len(pin) == 2 for pin in pins), "every line of the lock is name==version"
    return {canonicalize_name(name): version for name, version in pins}


def _imported_modules(root: Path) -> set[str]:
    modules = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"tunnellab"}


def _closure(requirements: list[Requirement]) -> dict[str, str]:
    """Every installed distribution the requirements pull in, transitively → its version."""
    versions: dict[str, str] = {}
    expanded: set[tuple[str, str]] = set()  # (distribution, extra) whose requirements are queued
    todo = [(r, "") for r in requirements]  # (requirement, the extra its marker is evaluated for)
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        dist = md.distribution(req.name)
        versions[name] = dist.version
        for wanted in ["", *req.extras]:
            if (name, wanted) not in expanded:
                expanded.add((name, wanted))
                todo += [(Requirement(line), wanted) for line in dist.requires or []]
    return versions


def test_every_imported_package_is_declared():
    declared = {canonicalize_name(r.name) for r in _requirements()}
    owners = md.packages_distributions()
    undeclared = {}
    for module in sorted(_imported_modules(ROOT / "src" / "tunnellab")):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        assert dists, f"src/ imports '{module}', which no installed distribution provides"
        if not dists & declared:
            undeclared[module] = sorted(dists)
    assert not undeclared, f"imported by src/ but not in pyproject dependencies: {undeclared}"


def test_the_lock_pins_every_installed_dependency_at_its_version():
    lock = _lock()
    installed = _closure(_requirements())
    assert {"pyyaml", "safetensors", "huggingface-hub", "setuptools"} <= set(installed)
    missing = sorted(set(installed) - set(lock) - NOT_LOCKED)
    assert not missing, f"installed (required by the project) but not in the lock: {missing}"
    other = {n: (lock[n], v) for n, v in installed.items() if n in lock and lock[n] != v}
    assert not other, f"lock version != installed version: {other}"
    # Nothing in the lock that the project does not pull in (a stale pin).
    assert sorted(set(lock) - set(installed)) == []
    assert not NOT_LOCKED & set(lock)
