"""Offline "lab" datasets generated on the fly: procedural shapes, rendered glyphs, small digits."""

from tunnellab.data.lab.clutter import MAX_RESOLUTION, MIN_RESOLUTION, check_resolution
from tunnellab.data.lab.digits import DIGIT_CLASSES, digits_images, digits_splits
from tunnellab.data.lab.glyphs import CHARACTERS, FONT_FACES, glyph_split, render_glyphs
from tunnellab.data.lab.procedural import (
    FAMILIES,
    FILLS,
    MAX_ID_CLASSES,
    N_HELDOUT,
    SHAPES,
    canonical_masks,
    heldout_families,
    id_families,
    procedural_source,
    procedural_split,
    render_families,
)

__all__ = [
    "CHARACTERS",
    "DIGIT_CLASSES",
    "FAMILIES",
    "FILLS",
    "FONT_FACES",
    "MAX_ID_CLASSES",
    "MAX_RESOLUTION",
    "MIN_RESOLUTION",
    "N_HELDOUT",
    "SHAPES",
    "canonical_masks",
    "check_resolution",
    "digits_images",
    "digits_splits",
    "glyph_split",
    "heldout_families",
    "id_families",
    "procedural_source",
    "procedural_split",
    "render_families",
    "render_glyphs",
]
