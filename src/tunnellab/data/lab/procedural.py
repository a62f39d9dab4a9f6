"""Procedural shape families: an offline, seeded image-classification dataset of any size.

A family is a shape (disk, star, letter-like bars, spiral...) times a fill style (solid, outline,
striped, checkered). Shapes are implicit functions ``inside(u, v)`` over local coordinates in which
the shape roughly fills the unit disk; each sample gets its own rotation, scale, mild stretch,
position, colours and cluttered background, so raw pixels carry little linear class signal while a
small CNN separates the families easily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.ndimage import minimum_filter

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.lab.clutter import (
    avg_pool,
    background,
    check_resolution,
    child_rngs,
    chunk_slices,
    composite,
    contrasting_colours,
    jitter_pose,
    pixel_grid,
    supersampling,
    to_uint8,
)

Mask = np.ndarray
ShapeFn = Callable[[np.ndarray, np.ndarray], Mask]
TAU = 2.0 * np.pi


def _polar(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hypot(u, v), np.arctan2(v, u)


def _box(u: np.ndarray, v: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> Mask:
    return (u > x0) & (u < x1) & (v > y0) & (v < y1)


def _circle(u: np.ndarray, v: np.ndarray, cx: float, cy: float, radius: float) -> Mask:
    return (u - cx) ** 2 + (v - cy) ** 2 < radius * radius


def _polygon(n: int) -> ShapeFn:
    """Regular ``n``-gon with circumradius 1."""

    def inside(u: np.ndarray, v: np.ndarray) -> Mask:
        r, th = _polar(u, v)
        sector = np.mod(th, TAU / n) - np.pi / n
        return r * np.cos(sector) < np.cos(np.pi / n)

    return inside


def _star(n: int, inner: float) -> ShapeFn:
    """``n``-pointed star: radius goes linearly (in angle) from 1 at the tips to ``inner``."""

    def inside(u: np.ndarray, v: np.ndarray) -> Mask:
        r, th = _polar(u, v)
        peak = np.abs(np.mod(th * (n / TAU), 1.0) - 0.5) * 2.0
        return r < inner + (1.0 - inner) * peak

    return inside


def _disk(u: np.ndarray, v: np.ndarray) -> Mask:
    return u * u + v * v < 1.0


def _ring(u: np.ndarray, v: np.ndarray) -> Mask:
    r2 = u * u + v * v
    return (r2 < 1.0) & (r2 > 0.52**2)


def _square(u: np.ndarray, v: np.ndarray) -> Mask:
    return np.maximum(np.abs(u), np.abs(v)) < 0.78


def _rect(u: np.ndarray, v: np.ndarray) -> Mask:
    return (np.abs(u) < 0.95) & (np.abs(v) < 0.5)


def _plus(u: np.ndarray, v: np.ndarray) -> Mask:
    au, av = np.abs(u), np.abs(v)
    return ((au < 0.32) & (av < 0.95)) | ((av < 0.32) & (au < 0.95))


def _crescent(u: np.ndarray, v: np.ndarray) -> Mask:
    return _disk(u, v) & ~_circle(u, v, 0.45, 0.0, 0.8)


def _halfdisk(u: np.ndarray, v: np.ndarray) -> Mask:
    w = v + 0.4
    return (u * u + w * w < 1.0) & (w > 0.0)


def _ellipse(u: np.ndarray, v: np.ndarray) -> Mask:
    return u * u + (v / 0.5) ** 2 < 1.0


def _twobars(u: np.ndarray, v: np.ndarray) -> Mask:
    av = np.abs(v)
    return (np.abs(u) < 0.95) & (av > 0.17) & (av < 0.62)


def _lshape(u: np.ndarray, v: np.ndarray) -> Mask:
    return _box(u, v, -0.75, -0.15, -0.9, 0.9) | _box(u, v, -0.75, 0.75, 0.3, 0.9)


def _tshape(u: np.ndarray, v: np.ndarray) -> Mask:
    return _box(u, v, -0.9, 0.9, -0.9, -0.35) | _box(u, v, -0.29, 0.29, -0.9, 0.9)


def _hshape(u: np.ndarray, v: np.ndarray) -> Mask:
    legs = _box(u, v, -0.9, -0.35, -0.9, 0.9) | _box(u, v, 0.35, 0.9, -0.9, 0.9)
    return legs | _box(u, v, -0.9, 0.9, -0.24, 0.24)


def _spiral(u: np.ndarray, v: np.ndarray) -> Mask:
    pitch = 0.78
    r, th = _polar(u, v)
    arm = np.mod(r - pitch * th / TAU, pitch) < 0.6 * pitch
    return (arm & (r < 1.0)) | (r < 0.22)


def _bullseye(u: np.ndarray, v: np.ndarray) -> Mask:
    r2 = u * u + v * v
    return (r2 < 0.34**2) | ((r2 > 0.64**2) & (r2 < 1.0))


def _arrow(u: np.ndarray, v: np.ndarray) -> Mask:
    shaft = _box(u, v, -0.95, 0.1, -0.22, 0.22)
    head = (u > 0.0) & (np.abs(v) < 0.75 * (0.95 - u))
    return shaft | head


def _heart(u: np.ndarray, v: np.ndarray) -> Mask:
    x, y = 1.2 * u, 0.2 - 1.2 * v
    q = x * x + y * y - 1.0
    return q * q * q - x * x * y * y * y < 0.0


def _pacman(u: np.ndarray, v: np.ndarray) -> Mask:
    return _disk(u, v) & (np.abs(np.arctan2(v, u)) > np.pi / 4)


def _dumbbell(u: np.ndarray, v: np.ndarray) -> Mask:
    ends = _circle(u, v, -0.55, 0.0, 0.42) | _circle(u, v, 0.55, 0.0, 0.42)
    return ends | _box(u, v, -0.6, 0.6, -0.17, 0.17)


def _bowtie(u: np.ndarray, v: np.ndarray) -> Mask:
    au = np.abs(u)
    return (np.abs(v) < 0.12 + 0.75 * au) & (au < 0.95)


def _chevron(u: np.ndarray, v: np.ndarray) -> Mask:
    return (np.abs(v - 0.85 * np.abs(u) + 0.35) < 0.3) & (np.abs(u) < 0.9)


def _frame(u: np.ndarray, v: np.ndarray) -> Mask:
    m = np.maximum(np.abs(u), np.abs(v))
    return (m < 0.85) & (m > 0.45)


def _keyhole(u: np.ndarray, v: np.ndarray) -> Mask:
    foot = (v > -0.2) & (v < 0.9) & (np.abs(u) < 0.16 + 0.3 * (v + 0.2))
    return _circle(u, v, 0.0, -0.4, 0.48) | foot


def _wedge(u: np.ndarray, v: np.ndarray) -> Mask:
    r, th = _polar(u + 0.75, v)
    return (r < 1.65) & (np.abs(th) < np.pi / 6.5)


def _clover(u: np.ndarray, v: np.ndarray) -> Mask:
    leaves = [_circle(u, v, 0.5 * np.cos(a), 0.5 * np.sin(a), 0.45) for a in (1.571, 3.665, 5.760)]
    return leaves[0] | leaves[1] | leaves[2] | _disk(u / 0.3, v / 0.3)


def _arc(u: np.ndarray, v: np.ndarray) -> Mask:
    w = v + 0.3
    r2 = u * u + w * w
    return (r2 < 1.0) & (r2 > 0.5**2) & (w > 0.0)


def _teardrop(u: np.ndarray, v: np.ndarray) -> Mask:
    half = 0.78 * (1.0 - u) * np.sqrt(np.clip((1.0 + u) / 2.0, 0.0, None))
    return (np.abs(v) < half) & (np.abs(u) < 1.0)


#: Shapes in catalogue order; the last ones are only ever used in the held-out OOD set.
SHAPES: dict[str, ShapeFn] = {
    "disk": _disk,
    "ring": _ring,
    "square": _square,
    "rect": _rect,
    "triangle": _polygon(3),
    "pentagon": _polygon(5),
    "hexagon": _polygon(6),
    "star4": _star(4, 0.38),
    "star5": _star(5, 0.45),
    "star6": _star(6, 0.5),
    "star8": _star(8, 0.55),
    "plus": _plus,
    "crescent": _crescent,
    "halfdisk": _halfdisk,
    "ellipse": _ellipse,
    "twobars": _twobars,
    "lshape": _lshape,
    "tshape": _tshape,
    "hshape": _hshape,
    "spiral": _spiral,
    "bullseye": _bullseye,
    "arrow": _arrow,
    "heart": _heart,
    "pacman": _pacman,
    "dumbbell": _dumbbell,
    "bowtie": _bowtie,
    "chevron": _chevron,
    "frame": _frame,
    "keyhole": _keyhole,
    "wedge": _wedge,
    "clover": _clover,
    "arc": _arc,
    "teardrop": _teardrop,
}
FILLS: tuple[str, ...] = ("solid", "outline", "striped", "checkered")
FAMILIES: tuple[str, ...] = tuple(f"{shape}/{fill}" for shape in SHAPES for fill in FILLS)
N_HELDOUT: int = 12
MAX_ID_CLASSES: int = len(FAMILIES) - N_HELDOUT
_SHAPE_FNS: tuple[ShapeFn, ...] = tuple(SHAPES.values())
_ORDER_SEED = 20241210
# The held-out families are whole shapes (every fill), so the OOD set shows unseen shapes.
assert N_HELDOUT % len(FILLS) == 0 and MAX_ID_CLASSES >= 100


def id_families(n_classes: int) -> list[int]:
    """The first ``n_classes`` families of a fixed, shape-diverse permutation of the ID families.

    The permutation visits every ID shape once (fill styles cycling) before any shape repeats, so
    small class counts are distinct shapes in mixed fills rather than fills of one shape.
    """
    if not 2 <= n_classes <= MAX_ID_CLASSES:
        raise ValueError(
            f"n_classes must be in 2..{MAX_ID_CLASSES} (the lab catalogue has {len(FAMILIES)} "
            f"families, the last {N_HELDOUT} held out), got {n_classes}"
        )
    return _id_order()[:n_classes]


def _id_order() -> list[int]:
    rng = np.random.default_rng(_ORDER_SEED)
    n_fills = len(FILLS)
    n_shapes = MAX_ID_CLASSES // n_fills
    first_round = rng.permutation(n_shapes)
    first_fill = np.empty(n_shapes, dtype=np.int64)
    first_fill[first_round] = np.arange(n_shapes) % n_fills  # fills cycle along the first round
    order = []
    for round_ in range(n_fills):
        shapes = first_round if round_ == 0 else rng.permutation(n_shapes)
        order += [int(s * n_fills + (first_fill[s] + round_) % n_fills) for s in shapes]
    return order


def heldout_families() -> list[int]:
    """Indices of the ``N_HELDOUT`` families reserved for the held-out OOD set."""
    return list(range(MAX_ID_CLASSES, len(FAMILIES)))


def _local_coords(
    x: np.ndarray, y: np.ndarray, pose: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample shape coordinates ``(B, G, G)``: shift, rotate, scale, area-preserving stretch."""
    cos = np.cos(pose["angle"])[:, None, None]
    sin = np.sin(pose["angle"])[:, None, None]
    dx = x - pose["shift"][:, 0, None, None]
    dy = y - pose["shift"][:, 1, None, None]
    inv = (1.0 / pose["scale"])[:, None, None]
    stretch = pose["stretch"][:, None, None]
    u = (cos * dx + sin * dy) * (inv / stretch)
    v = (cos * dy - sin * dx) * (inv * stretch)
    return u, v


def _shape_masks(shape_ids: np.ndarray, u: np.ndarray, v: np.ndarray) -> Mask:
    mask = np.empty(u.shape, dtype=bool)
    for s in np.unique(shape_ids):
        sel = shape_ids == s
        mask[sel] = _SHAPE_FNS[s](u[sel], v[sel])
    return mask


def _pattern(fill: str, u: np.ndarray, v: np.ndarray, phase: np.ndarray) -> Mask:
    """Interior pattern of a fill style in shape coordinates (stripes/checks rotate with it)."""
    if fill == "striped":
        return np.mod(v / 0.34 + phase[:, 0, None, None], 1.0) < 0.5
    cell_u = np.floor(u / 0.32 + phase[:, 0, None, None])
    cell_v = np.floor(v / 0.32 + phase[:, 1, None, None])
    return np.mod(cell_u + cell_v, 2.0) < 1.0


def _apply_fills(
    mask: Mask, fill_ids: np.ndarray, u: np.ndarray, v: np.ndarray, phase: np.ndarray
) -> Mask:
    """Paint mask of each sample: solid, outline, or outline plus a striped/checkered interior."""
    grid = mask.shape[-1]
    stroke = max(3, round(0.09 * grid))
    paint = mask.copy()
    hollow = fill_ids != FILLS.index("solid")
    if not hollow.any():
        return paint
    inner = minimum_filter(mask[hollow].view(np.uint8), size=(1, stroke, stroke)).astype(bool)
    paint[hollow] &= ~inner
    for name in ("striped", "checkered"):
        sel = fill_ids == FILLS.index(name)
        if sel.any():
            paint[sel] |= mask[sel] & _pattern(name, u[sel], v[sel], phase[sel])
    return paint


def _paint(
    family_ids: np.ndarray, grid: int, pose: dict[str, np.ndarray], phase: np.ndarray
) -> Mask:
    """Boolean paint masks ``(B, grid, grid)`` of the families in the given poses."""
    u, v = _local_coords(*pixel_grid(grid), pose)
    shape_ids, fill_ids = np.divmod(family_ids, len(FILLS))
    return _apply_fills(_shape_masks(shape_ids, u, v), fill_ids, u, v, phase)


def canonical_masks(family_ids: Sequence[int], resolution: int) -> np.ndarray:
    """Float coverage ``(N, H, W)`` of each family centred, upright, at scale 0.7, no clutter.

    For inspection and tests: how a family looks with every nuisance factor switched off.
    """
    resolution = check_resolution(resolution)
    ids = np.asarray(family_ids, dtype=np.int64).reshape(-1)
    n, factor = len(ids), supersampling(resolution)
    pose = {
        "scale": np.full(n, 0.7, dtype=np.float32),
        "angle": np.zeros(n, dtype=np.float32),
        "shift": np.zeros((n, 2), dtype=np.float32),
        "stretch": np.ones(n, dtype=np.float32),
    }
    paint = _paint(ids, resolution * factor, pose, np.zeros((n, 2), dtype=np.float32))
    return avg_pool(paint, factor)


def _render_chunk(family_ids: np.ndarray, resolution: int, rng: np.random.Generator) -> np.ndarray:
    n = len(family_ids)
    factor = supersampling(resolution)
    pose = jitter_pose(rng, n)
    pose["stretch"] = np.exp(rng.uniform(-0.15, 0.15, size=n)).astype(np.float32)
    phase = rng.random((n, 2), dtype=np.float32)
    fg, bg = contrasting_colours(rng, n)
    paint = _paint(family_ids, resolution * factor, pose, phase)
    canvas = composite(background(rng, bg, resolution), avg_pool(paint, factor), fg)
    return to_uint8(canvas, rng)


def render_families(
    family_ids: np.ndarray,
    resolution: int,
    rng: np.random.Generator,
    render_side: int | None = None,
) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` images, one per entry of ``family_ids`` (indices into FAMILIES).

    ``render_side`` draws the very same scenes (pose, fill phase, colours, clutter; only the
    pixel noise differs) at another side, as a photo of them at a higher resolution: every draw
    but the noise is independent of the side, and the chunking, which seeds each chunk's draws,
    follows ``resolution``.
    """
    resolution = check_resolution(resolution)
    side = resolution if render_side is None else check_resolution(render_side)
    family_ids = np.asarray(family_ids, dtype=np.int64).reshape(-1)
    if family_ids.size and (family_ids.min() < 0 or family_ids.max() >= len(FAMILIES)):
        raise ValueError(f"family ids must be in 0..{len(FAMILIES) - 1}")
    out = np.empty((len(family_ids), 3, side, side), dtype=np.uint8)
    slices = list(chunk_slices(len(family_ids), resolution * supersampling(resolution)))
    for sl, chunk_rng in zip(slices, child_rngs(rng, len(slices)), strict=True):
        out[sl] = _render_chunk(family_ids[sl], side, chunk_rng)
    return out.transpose(0, 2, 3, 1)  # NHWC view of NCHW memory: ImageArrays needs no copy


def _split_families(family_ids: Sequence[int], per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``0..len(family_ids)-1`` grouped by class, and the family id of every sample."""
    family_ids = [int(f) for f in family_ids]
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    if len(set(family_ids)) != len(family_ids):
        raise ValueError(f"family ids must be distinct, got {family_ids}")
    labels = np.repeat(np.arange(len(family_ids)), per_class)
    ids = np.asarray(family_ids, dtype=np.int64)[labels] if family_ids else labels
    return labels, ids


def procedural_split(
    family_ids: Sequence[int], per_class: int, resolution: int, seed: int
) -> ImageArrays:
    """``per_class`` images of each listed family, labelled ``0..len(family_ids)-1`` in that order.

    Samples are grouped by class; the same arguments always give identical tensors.
    """
    labels, ids = _split_families(family_ids, per_class)
    images = render_families(ids, resolution, np.random.default_rng(seed))
    return ImageArrays.from_numpy(images, labels, [FAMILIES[int(f)] for f in family_ids])


def procedural_source(
    family_ids: Sequence[int], per_class: int, resolution: int, seed: int, side: int
) -> np.ndarray:
    """The scenes of ``procedural_split(family_ids, per_class, resolution, seed)`` rendered at
    ``side``: uint8 channels-last ``(N, side, side, 3)``, the same samples in the same order.
    """
    _, ids = _split_families(family_ids, per_class)
    images = render_families(ids, resolution, np.random.default_rng(seed), render_side=side)
    return np.ascontiguousarray(images)
