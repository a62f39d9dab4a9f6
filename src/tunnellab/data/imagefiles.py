"""Image files as cameras, scrapers and colleagues leave them: open, check, make 8-bit RGB.

What converts faithfully is converted:

* grey (``L``, ``LA``), palette (``P``, ``PA``, with or without transparency), ``CMYK``,
  ``YCbCr``, 1-bit: PIL's own conversion to RGB;
* alpha (``RGBA``, ``LA``, ``PA``, transparent palettes) is dropped, not composited: what
  torchvision's ``ImageFolder`` loader (the paper's pipeline) does, so a folder decodes to the
  pixels the released code sees;
* 16-bit grey (``I;16``, and ``I`` holding values in 0..65535) is scaled to 8 bits
  (``round(v / 257)``), not clipped; 16-bit RGB PNGs PIL already reads as 8-bit.

What does not is skipped, with a reason: an empty file, a file that is not an image, a broken
link, a truncated or corrupt file, an image over PIL's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS`` pixels), floating-point or wider-than-16-bit pixels (no fixed
8-bit scale). EXIF orientation is not applied (as torchvision's loader).
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class UnusableImage(ValueError):
    """An image that decodes but has no faithful 8-bit RGB version (the message says why)."""


#: what decoding a bad file may raise (PIL raises several kinds)
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)
SIXTEEN_BIT = 65535


def _check_size(image: Image.Image) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit and width * height > limit:
        raise UnusableImage(
            f"{width}x{height} px is over PIL's decompression-bomb limit of {limit:,} px"
        )


def _check_mode(image: Image.Image) -> None:
    if image.mode == "F":
        raise UnusableImage("floating-point pixels (mode F) have no fixed 8-bit scale")


@contextmanager
def _checked(path: str | Path) -> Iterator[Image.Image]:
    """``Image.open(path)``, its size and mode checked (:class:`UnusableImage` if unusable)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                _check_size(image)
                _check_mode(image)
                yield image
        except Image.DecompressionBombError:
            raise UnusableImage("over PIL's decompression-bomb limit") from None


def open_image(path: str | Path) -> Image.Image:
    """The decoded image at ``path`` (pixels loaded, file closed); raises a DECODE_ERRORS."""
    with _checked(path) as image:
        image.load()
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, converted faithfully (see the module docstring) or refused."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "I" or mode.startswith("I;16"):
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > SIXTEEN_BIT):
            raise UnusableImage(f"{mode} pixels outside 0..65535 have no fixed 8-bit scale")
        grey = (values.astype(np.uint32) * 255 + SIXTEEN_BIT // 2) // SIXTEEN_BIT
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    _check_mode(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "palette images with transparency ..."
        try:
            return image.convert("RGB")
        except ValueError as err:
            raise UnusableImage(f"mode {mode} cannot be converted to RGB ({err})") from None


def reason_of(err: BaseException) -> str:
    """A short reason for a decode failure (what the skip warnings print)."""
    if isinstance(err, UnusableImage):
        return str(err)
    if isinstance(err, UnidentifiedImageError):
        return "not an image"
    if isinstance(err, FileNotFoundError):
        return "missing (a broken link?)"
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if "truncated" in text.lower():
        return "truncated"
    return f"not decodable ({text[:120]})"


def problem_of(path: Path) -> str | None:
    """Why ``path`` cannot be used, from what is cheap to read (size, header, PNG checksums);
    None when it may be. A truncated JPEG passes here and is caught when decoded."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
    except FileNotFoundError:
        return "missing (a broken link?)"
    except OSError as err:
        return f"unreadable ({err.strerror})"
    try:
        with _checked(path) as image:
            image.verify()
    except DECODE_ERRORS as err:
        return reason_of(err)
    return None


def skipped_summary(skipped: Sequence[tuple[str, str]], total: int, few: int = 3) -> str:
    """``skipped 3 of 120 files (truncated: a.jpg, b.jpg; not an image: c.txt.jpg)``.

    ``skipped`` holds (name, reason) pairs; at most ``few`` names are given per reason.
    """
    by_reason: dict[str, list[str]] = {}
    for name, reason in skipped:
        by_reason.setdefault(reason, []).append(name)
    parts = []
    for reason, names in by_reason.items():
        shown = ", ".join(Path(n).name for n in names[:few])
        more = f" and {len(names) - few} more" if len(names) > few else ""
        parts.append(f"{reason}: {shown}{more}")
    return f"skipped {len(skipped)} of {total} files ({'; '.join(parts)})"
