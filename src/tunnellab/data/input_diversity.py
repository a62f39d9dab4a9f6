"""``id_diversity``: how diverse a run's ID training inputs are, in one fixed reference embedding.

The reference embedding does not depend on the run: every image is shrunk to
:data:`REFERENCE_SIDE`² pixels (antialiased bilinear), standardised with the ImageNet mean / std and
flattened (3 · 32 · 32 = 3,072 numbers). The score is the Vendi score (cosine kernel) of
:data:`REFERENCE_SAMPLES` training images drawn with a fixed seed, so runs with other resolutions,
class counts or networks are measured on the same scale. With ``rrc_flip`` augmentation each
drawn image counts as the view the run trained on in its first epoch (the crop of draw key i at
epoch 0 of the run's seed), since those views are the inputs the network saw. Nothing here
touches the global RNG. docs/protocol.md#input-diversity gives the reasons for these choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tunnellab.data.arrays import DatasetSplits
from tunnellab.data.crops import CropSpec
from tunnellab.data.cropstore import ArrayCropSource
from tunnellab.data.loading import RandomCropDataset
from tunnellab.data.transforms import normalize
from tunnellab.metrics.diversity import seeded_sample, vendi_score

__all__ = ["REFERENCE_SAMPLES", "REFERENCE_SIDE", "input_diversity", "reference_embedding"]

#: Side the reference embedding shrinks every image to.
REFERENCE_SIDE = 32
#: Training images (or views) the score is computed on; fewer when the split has fewer.
REFERENCE_SAMPLES = 2048
#: Seed of the image sample: fixed, so twins that differ only in their seed share it.
SAMPLE_SEED = 0
AUGMENTATIONS = ("none", "rrc_flip")


@dataclass
class _FirstEpoch:
    """The :class:`~tunnellab.data.loading.EpochClock` of the run's first epoch."""

    seed: int
    epoch: int = 0


def reference_embedding(images: torch.Tensor, side: int = REFERENCE_SIDE) -> np.ndarray:
    """uint8 ``(N, 3, H, W)`` → ``(N, 3·side²)`` float64: shrunk, ImageNet-standardised pixels."""
    x = normalize(images, "imagenet")
    if x.shape[-2:] != (side, side):
        x = F.interpolate(
            x, size=(side, side), mode="bilinear", antialias=True, align_corners=False
        )
    return x.reshape(x.shape[0], -1).double().numpy()


def input_diversity(
    splits: DatasetSplits,
    augmentation: str = "none",
    seed: int = 0,
    scale_min: float = 0.08,
    flip_p: float = 0.5,
    samples: int = REFERENCE_SAMPLES,
) -> float:
    """Vendi score (cosine kernel) of ``samples`` ID training inputs in the reference embedding.

    ``augmentation="rrc_flip"``: each drawn image is replaced by its first-epoch crop under the
    run's ``seed`` (cut from ``splits.train_aug`` when set, as the run's loader does).
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(
            f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}"
        )
    train = splits.train
    index = seeded_sample(len(train), samples, seed=SAMPLE_SEED)
    if augmentation == "none":
        images = train.images[torch.from_numpy(index)]
    else:
        source = (
            splits.train_aug if splits.train_aug is not None else ArrayCropSource.from_arrays(train)
        )
        spec = CropSpec(train.resolution, scale=(scale_min, 1.0), flip_p=flip_p)
        crops = RandomCropDataset(source, spec, _FirstEpoch(int(seed)), threads=1)
        images, _ = crops.__getitems__(index.tolist())
    return vendi_score(reference_embedding(images), kernel="cosine")
