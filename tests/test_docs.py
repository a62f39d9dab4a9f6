"""The docs hold together: links to docs resolve to a file and a heading; nothing points outside
the repository; the protocol has the sections other docs and the code link to."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Sections of docs/protocol.md that docs and code link to by anchor.
PROTOCOL_SECTIONS = (
    "models",
    "taps",
    "datasets",
    "pretraining-recipe",
    "probe-recipe",
    "training-crops",
    "metrics",
    "statistics",
    "released-results-file",
    "deliberate-differences",
)
#: Files outside the repository the docs once pointed to; built here so this file does not match.
OUTSIDE = ("PAPER" + ".md", "ARCHITECTURE" + ".md", "../" + "shared")
#: Where those must not appear: everything the repository ships.
CHECKED = ("README.md", "docs", "experiments", "tests", "src", "conf", "scripts", "Makefile")
LINK = re.compile(r"(?:docs/|\]\()([\w./-]*?\w+\.md)#([\w-]+)")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {slug(line.lstrip("#")) for line in lines if line.startswith("#")}


def _text_files() -> list[Path]:
    files = []
    for entry in CHECKED:
        path = ROOT / entry
        files += (
            [path]
            if path.is_file()
            else [p for ext in ("md", "py", "yaml", "sh") for p in sorted(path.rglob(f"*.{ext}"))]
        )
    return files


def test_slug_as_github_makes_it():
    assert slug(" Pretraining recipe") == "pretraining-recipe"
    assert slug(" `make gpu-check`") == "make-gpu-check"
    assert slug(" The OOD suite: `ood=paper8`") == "the-ood-suite-oodpaper8"


def test_protocol_has_the_linked_sections():
    assert set(PROTOCOL_SECTIONS) <= anchors(DOCS / "protocol.md")
    assert "result-files" in anchors(DOCS / "architecture.md")


def test_nothing_points_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _text_files()
        for name in OUTSIDE
        if name in path.read_text(encoding="utf-8")
    ]
    assert not offenders


def test_links_to_our_docs_resolve():
    checked = 0
    for path in [*_text_files(), *sorted(DOCS.glob("*.md"))]:
        for target, anchor in LINK.findall(path.read_text(encoding="utf-8")):
            name = Path(target).name
            doc = DOCS / name if not (path.parent / target).is_file() else path.parent / target
            assert doc.is_file(), f"{path}: {target}"
            assert anchor in anchors(doc), f"{path}: {target}#{anchor}"
            checked += 1
    assert checked >= 10


#: A relative Markdown link: ``[text](target)`` or ``[text](target#anchor)``, no scheme.
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#([\w-]+))?\)")


def test_every_relative_link_of_the_markdown_docs_resolves():
    """README, docs/ and experiments/: every relative link names a file that exists (and a
    heading of it, when it names one)."""
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *(ROOT / "experiments").rglob("*.md")]
    broken = []
    for page in pages:
        for target, anchor in MD_LINK.findall(page.read_text(encoding="utf-8")):
            doc = (page.parent / target).resolve()
            if not doc.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and doc.suffix == ".md" and anchor not in anchors(doc):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken
