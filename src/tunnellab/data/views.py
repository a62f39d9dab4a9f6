"""The paper's deterministic image transform, applied once per decoded image.

``Resize(int(256/224 · r), bicubic) → CenterCrop(r)`` (torchvision's own functions, so the pixels
are the ones the paper's ``transforms.Compose`` produces). Normalisation is not done here: cached
images stay uint8 and are standardised batch-wise by :func:`tunnellab.data.transforms.normalize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from tunnellab.data.imagefiles import to_rgb

RESIZE_RATIO = 256 / 224


def resize_side(resolution: int) -> int:
    """The shorter side the paper resizes to before cropping ``resolution``: int(256/224 · r)."""
    return int(RESIZE_RATIO * resolution)


@dataclass(frozen=True)
class View:
    """Resize the shorter side to ``resize`` (bicubic), then centre-crop ``crop`` × ``crop``.

    ``View(None, None)`` keeps images as stored (a dataset already at the target size, e.g.
    CIFAR at 32²).
    """

    resize: int | None
    crop: int | None

    @property
    def is_identity(self) -> bool:
        return self.resize is None and self.crop is None

    def size(self, native: int | None) -> int:
        """Side of the output images (``native`` for the identity view)."""
        side = self.crop or self.resize or native
        if side is None:
            raise ValueError("the identity view needs a dataset whose images share one size")
        return side

    @property
    def key(self) -> str:
        """What the cache key records about the transform."""
        if self.is_identity:
            return "native"
        return f"resize{self.resize}-bicubic-antialias-centercrop{self.crop}"

    def apply(self, image: Image.Image) -> np.ndarray:
        """One PIL image → uint8 ``(H, W, 3)`` RGB, converted faithfully by
        :func:`~tunnellab.data.imagefiles.to_rgb` (which refuses what has no 8-bit version)."""
        image = to_rgb(image)
        if self.resize is not None:
            image = TF.resize(image, self.resize, interpolation=InterpolationMode.BICUBIC)
        if self.crop is not None:
            image = TF.center_crop(image, [self.crop, self.crop])
        return np.asarray(image, dtype=np.uint8)


def eval_view(resolution: int, native: int | None = None) -> View:
    """The paper's deterministic view (probes, validation, no-aug training).

    A dataset whose images are all ``resolution``² already (``native``) is kept as is: CIFAR at
    its native 32².
    """
    if native == resolution:
        return View(None, None)
    return View(resize_side(resolution), resolution)
