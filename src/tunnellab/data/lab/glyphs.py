"""Rendered characters: an offline OOD dataset of letters and digits in matplotlib's DejaVu fonts.

Each glyph is drawn once per (character, font face) with Pillow, then every sample warps that mask
with its own scale, rotation and position, and is composited with numpy over the same cluttered
backgrounds as the procedural shapes.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.lab.clutter import (
    background,
    check_resolution,
    child_rngs,
    chunk_slices,
    composite,
    contrasting_colours,
    jitter_pose,
    supersampling,
    to_uint8,
)

#: Class characters in order: A..Z, 0..9, then lowercase letters unlike any uppercase one.
CHARACTERS: str = string.ascii_uppercase + string.digits + "abdefghnqrty"
FONT_FACES: tuple[str, ...] = tuple(
    f"DejaVu{family}{style}.ttf"
    for family in ("Sans", "Serif", "SansMono")
    for style in (
        ("", "-Bold", "-Oblique", "-BoldOblique")
        if family != "Serif"
        else ("", "-Bold", "-Italic", "-BoldItalic")
    )
)
#: Glyph height as a fraction of the image (cap height), and the largest rotation (radians).
SCALE_RANGE = (0.4, 0.75)
MAX_ANGLE = np.deg2rad(25.0)
_CAP_HEIGHT_EM = 0.73  # DejaVu cap height in em units
_SOURCE_MARGIN = 1.5  # source canvas side relative to the output grid, so wide glyphs fit


def font_dir() -> Path:
    """Folder of the TrueType fonts that ship with matplotlib."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=64)
def _font(face: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_dir() / face), size)


def _glyph_source(char: str, face: str, grid: int) -> Image.Image:
    """Greyscale mask of ``char`` at the largest scale, ink centred on a square canvas."""
    side = int(np.ceil(_SOURCE_MARGIN * grid))
    font = _font(face, round(SCALE_RANGE[1] * grid / _CAP_HEIGHT_EM))
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("L", (side, side), 0)
    origin = (side / 2 - (left + right) / 2, side / 2 - (top + bottom) / 2)
    ImageDraw.Draw(canvas).text(origin, char, fill=255, font=font)
    return canvas


def _warp(
    source: Image.Image, grid: int, zoom: float, angle: float, shift: np.ndarray
) -> Image.Image:
    """Output ``grid`` square: ``source`` zoomed by ``zoom``, rotated by ``angle``, shifted.

    ``shift`` is in units of the half-size of the output image.
    """
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    cx, cy = grid / 2 + shift[0] * grid / 2, grid / 2 + shift[1] * grid / 2
    c_in = source.width / 2
    coeffs = (cos, sin, c_in - cos * cx - sin * cy, -sin, cos, c_in + sin * cx - cos * cy)
    return source.transform((grid, grid), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)


def _glyph_alphas(chars: list[str], resolution: int, rng: np.random.Generator) -> np.ndarray:
    """Coverage ``(N, H, W)`` float32 of one randomly posed glyph per entry of ``chars``."""
    n = len(chars)
    grid = resolution * supersampling(resolution)
    faces = rng.integers(0, len(FONT_FACES), size=n)
    pose = jitter_pose(rng, n, SCALE_RANGE, MAX_ANGLE)
    alphas = np.empty((n, resolution, resolution), dtype=np.float32)
    sources: dict[tuple[str, int], Image.Image] = {}
    for i, char in enumerate(chars):
        key = (char, int(faces[i]))
        if key not in sources:
            sources[key] = _glyph_source(char, FONT_FACES[key[1]], grid)
        source = sources[key]
        zoom = float(pose["scale"][i]) / SCALE_RANGE[1]
        img = _warp(source, grid, zoom, float(pose["angle"][i]), pose["shift"][i])
        if grid != resolution:
            img = img.resize((resolution, resolution), Image.Resampling.BOX)
        alphas[i] = np.asarray(img, dtype=np.float32) / 255.0
    return alphas


def render_glyphs(chars: list[str], resolution: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` images, one randomly styled glyph per entry of ``chars``."""
    resolution = check_resolution(resolution)
    alphas = _glyph_alphas(chars, resolution, rng)
    fg, bg = contrasting_colours(rng, len(chars))
    out = np.empty((len(chars), 3, resolution, resolution), dtype=np.uint8)
    slices = list(chunk_slices(len(chars), resolution))
    for sl, chunk_rng in zip(slices, child_rngs(rng, len(slices)), strict=True):
        canvas = composite(background(chunk_rng, bg[sl], resolution), alphas[sl], fg[sl])
        out[sl] = to_uint8(canvas, chunk_rng)
    return out.transpose(0, 2, 3, 1)


def glyph_split(n_classes: int, per_class: int, resolution: int, seed: int) -> ImageArrays:
    """``per_class`` images of each of the first ``n_classes`` CHARACTERS; classes = the characters.

    Random font face (DejaVu Sans/Serif/Mono, regular/bold/oblique), size, rotation (+-25 degrees),
    position and colours over cluttered backgrounds; the same arguments give identical tensors.
    """
    if not 2 <= n_classes <= len(CHARACTERS):
        raise ValueError(f"n_classes must be in 2..{len(CHARACTERS)}, got {n_classes}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    classes = list(CHARACTERS[:n_classes])
    labels = np.repeat(np.arange(n_classes), per_class)
    images = render_glyphs([classes[k] for k in labels], resolution, np.random.default_rng(seed))
    return ImageArrays.from_numpy(images, labels, classes)
