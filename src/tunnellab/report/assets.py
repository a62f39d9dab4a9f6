"""What the reports embed instead of linking: images as data URIs, file listings, the
environment."""

from __future__ import annotations

import base64
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

#: Images larger than this are listed, not embedded (keeps a report small).
MAX_IMAGE_BYTES = 1_500_000


@dataclass(frozen=True)
class Image:
    """An embedded PNG: its caption and its data URI."""

    caption: str
    uri: str


def png_image(path: Path, caption: str | None = None) -> Image | None:
    """``path`` as an embedded image, or None where it is missing, not a PNG or too large."""
    if not path.is_file() or path.suffix.lower() != ".png":
        return None
    data = path.read_bytes()
    if len(data) > MAX_IMAGE_BYTES or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Image(caption or path.stem, uri)


def listing(root: Path) -> list[tuple[str, str]]:
    """(relative path, size) of the top-level entries of ``root`` (folders with their size)."""
    rows = []
    for p in sorted(root.iterdir()):
        if p.is_dir():
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            rows.append((p.name + "/", _size(size)))
        else:
            rows.append((p.name, _size(p.stat().st_size)))
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """The software that writes the report (the run's own record is its done.json)."""
    packages = ("tunnellab", "torch", "torchvision", "pytorch-lightning", "timm", "numpy")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **{p: _version(p) for p in packages},
    }
