"""Shared helpers of the lab datasets: resolution checks, colours, backgrounds, clutter, noise.

All image maths is float32 in ``[0, 1]``, channels first ``(B, 3, H, W)`` (so per-pixel alphas
broadcast cheaply), vectorised over a batch of samples; only :func:`to_uint8` leaves that space.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

MIN_RESOLUTION = 16
MAX_RESOLUTION = 224
#: Pixels (of the rendering grid) handled per chunk, so memory stays bounded at 224x224.
CHUNK_PIXELS = 1 << 20
MAX_CHUNK = 256
NOISE_STD = 0.035
N_LINES = 3
N_BLOBS = 3
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_resolution(resolution: int) -> int:
    """``resolution`` as an int, or ValueError unless it is an integer in 16..224."""
    if isinstance(resolution, bool) or int(resolution) != resolution:
        raise ValueError(f"resolution must be an integer, got {resolution!r}")
    if not MIN_RESOLUTION <= int(resolution) <= MAX_RESOLUTION:
        raise ValueError(
            f"resolution must be in {MIN_RESOLUTION}..{MAX_RESOLUTION} pixels, got {resolution}"
        )
    return int(resolution)


def supersampling(resolution: int) -> int:
    """Supersampling factor for anti-aliased masks: 2 up to 64 pixels, 1 above."""
    return 2 if resolution <= 64 else 1


def chunk_slices(n: int, grid: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` holding at most ~CHUNK_PIXELS grid pixels each."""
    size = int(np.clip(CHUNK_PIXELS // (grid * grid), 8, MAX_CHUNK))
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def child_rngs(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived deterministically from ``rng``."""
    return [np.random.default_rng(s) for s in rng.integers(0, 2**63 - 1, size=n)]


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in ``[-1, 1]``: ``x`` ``(1, 1, size)``, ``y`` ``(1, size, 1)``."""
    c = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    return c[None, None, :], c[None, :, None]


def avg_pool(a: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool the two last axes of ``(B, H, W)`` by ``factor`` (box anti-aliasing)."""
    if factor == 1:
        return a.astype(np.float32, copy=False)
    b, h, w = a.shape
    return a.reshape(b, h // factor, factor, w // factor, factor).mean(
        axis=(2, 4), dtype=np.float32
    )


def luminance(colours: np.ndarray) -> np.ndarray:
    """Luma of ``(..., 3)`` RGB colours in ``[0, 1]``."""
    return colours @ _LUMA


def contrasting_colours(
    rng: np.random.Generator, n: int, min_luma: float = 0.2, min_dist: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(fg, bg)`` RGB colour pairs, each ``(n, 3)``, with visible contrast.

    Pairs are redrawn until their luma differs by ``min_luma`` and RGB distance is ``min_dist``.
    """
    fg = rng.random((n, 3), dtype=np.float32)
    bg = rng.random((n, 3), dtype=np.float32)
    bad = _low_contrast(fg, bg, min_luma, min_dist)
    while bad.any():
        k = int(bad.sum())
        fg[bad] = rng.random((k, 3), dtype=np.float32)
        bg[bad] = rng.random((k, 3), dtype=np.float32)
        bad = _low_contrast(fg, bg, min_luma, min_dist)
    return fg, bg


def _low_contrast(fg: np.ndarray, bg: np.ndarray, min_luma: float, min_dist: float) -> np.ndarray:
    luma_gap = np.abs(luminance(fg) - luminance(bg))
    return (luma_gap < min_luma) | (np.linalg.norm(fg - bg, axis=1) < min_dist)


def composite(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Paint ``colour`` ``(B, 3)`` over ``canvas`` ``(B, 3, H, W)`` with ``alpha`` ``(B, H, W)``."""
    a = alpha[:, None]
    canvas *= 1.0 - a
    canvas += a * colour[:, :, None, None]
    return canvas


def _soft_edge(signed_dist: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased coverage of the region ``signed_dist < 0`` (``pixel`` = one pixel's size)."""
    return np.clip(0.5 - signed_dist / pixel, 0.0, 1.0)


def _line_alpha(
    x: np.ndarray, y: np.ndarray, ends: np.ndarray, half_width: np.ndarray, pixel: float
) -> np.ndarray:
    """Coverage ``(B, H, W)`` of segments ``ends`` ``(B, 4)`` = (x0, y0, x1, y1) of given width."""
    x0, y0, x1, y1 = (ends[:, i, None, None] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy + 1e-6), 0.0, 1.0)
    dist = np.hypot(x - x0 - t * dx, y - y0 - t * dy)
    return _soft_edge(dist - half_width[:, None, None], pixel)


def _blob_alpha(
    x: np.ndarray, y: np.ndarray, centre: np.ndarray, radii: np.ndarray, pixel: float
) -> np.ndarray:
    """Coverage ``(B, H, W)`` of axis-aligned ellipses with ``centre`` and ``radii`` ``(B, 2)``."""
    rx, ry = radii[:, 0, None, None], radii[:, 1, None, None]
    d = np.hypot((x - centre[:, 0, None, None]) / rx, (y - centre[:, 1, None, None]) / ry)
    return _soft_edge((d - 1.0) * np.minimum(rx, ry), pixel)


def background(rng: np.random.Generator, bg: np.ndarray, resolution: int) -> np.ndarray:
    """Cluttered backgrounds ``(B, 3, H, W)`` float32 around the base colours ``bg`` ``(B, 3)``.

    A mild linear colour gradient, then up to ``N_LINES`` thin lines and ``N_BLOBS`` small blobs
    in random colours (each present with probability 1/2 to 2/3).
    """
    b = bg.shape[0]
    x, y = pixel_grid(resolution)
    pixel = 2.0 / resolution
    slope = rng.uniform(-0.12, 0.12, size=(b, 2)).astype(np.float32)
    shade = x * slope[:, 0, None, None] + y * slope[:, 1, None, None]
    canvas = np.clip(bg[:, :, None, None] + shade[:, None], 0.0, 1.0).astype(np.float32)
    for _ in range(N_LINES):
        ends = rng.uniform(-1.2, 1.2, size=(b, 4)).astype(np.float32)
        width = rng.uniform(0.015, 0.04, size=b).astype(np.float32)
        alpha = _line_alpha(x, y, ends, width, pixel) * (rng.random(b) < 0.67)[:, None, None]
        composite(canvas, alpha.astype(np.float32), rng.random((b, 3), dtype=np.float32))
    for _ in range(N_BLOBS):
        centre = rng.uniform(-1.0, 1.0, size=(b, 2)).astype(np.float32)
        radii = rng.uniform(0.04, 0.13, size=(b, 2)).astype(np.float32)
        alpha = _blob_alpha(x, y, centre, radii, pixel) * (rng.random(b) < 0.5)[:, None, None]
        composite(canvas, alpha.astype(np.float32), rng.random((b, 3), dtype=np.float32))
    return canvas


def to_uint8(
    canvas: np.ndarray, rng: np.random.Generator, noise_std: float = NOISE_STD
) -> np.ndarray:
    """Add Gaussian pixel noise and quantise ``[0, 1]`` floats to uint8 (same layout)."""
    noisy = canvas + rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_std)
    return np.rint(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.uint8)


def jitter_pose(
    rng: np.random.Generator,
    n: int,
    scale_range: tuple[float, float] = (0.45, 0.85),
    max_angle: float = np.pi,
) -> dict[str, np.ndarray]:
    """Per-sample ``scale``, ``angle`` (radians) and ``shift`` ``(n, 2)`` keeping shapes inside.

    The angle is uniform in ``[-max_angle, max_angle]``; the shift is uniform within
    ``+-0.9 * (1 - scale)`` of the image half-size.
    """
    scale = rng.uniform(*scale_range, size=n).astype(np.float32)
    angle = rng.uniform(-max_angle, max_angle, size=n).astype(np.float32)
    room = (0.9 * (1.0 - scale))[:, None]
    shift = (rng.uniform(-1.0, 1.0, size=(n, 2)) * room).astype(np.float32)
    return {"scale": scale, "angle": angle, "shift": shift}
