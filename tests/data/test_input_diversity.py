"""id_diversity: a fixed reference embedding, deterministic, blind to the global RNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.input_diversity import input_diversity, reference_embedding
from tunnellab.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from tunnellab.metrics.diversity import vendi_score


def _splits(images: torch.Tensor) -> DatasetSplits:
    arrays = ImageArrays(images, torch.zeros(len(images), dtype=torch.long), ["a"])
    return DatasetSplits("fake", arrays, arrays)


def _images(n: int, side: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, side, side), generator=g, dtype=torch.uint8)


def test_embedding_is_standardised_pixels_at_32():
    images = _images(3)
    manual = (images.double() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).double()) / (
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1).double()
    )
    emb = reference_embedding(images)
    assert emb.shape == (3, 3 * 32 * 32)
    np.testing.assert_allclose(emb, manual.reshape(3, -1).numpy(), atol=1e-6)
    assert reference_embedding(_images(2, side=64)).shape == (2, 3072)  # any resolution


def test_identical_images_score_one_and_the_score_is_the_vendi_of_the_sample():
    assert input_diversity(_splits(torch.full((50, 3, 32, 32), 9, dtype=torch.uint8))) == (
        pytest.approx(1.0)
    )
    images = _images(40)
    assert input_diversity(_splits(images)) == pytest.approx(
        vendi_score(reference_embedding(images))
    )


def test_resolution_does_not_change_the_scale():
    base = _images(60, side=8).float()  # smooth scenes rendered at 32² and at 64²

    def render(side: int) -> torch.Tensor:
        out = F.interpolate(base, size=(side, side), mode="bilinear", align_corners=False)
        return out.round().clamp(0, 255).to(torch.uint8)

    low, high = input_diversity(_splits(render(32))), input_diversity(_splits(render(64)))
    assert high == pytest.approx(low, rel=0.05)
    assert input_diversity(_splits(_images(60))) > low  # pixel noise is more diverse


def test_deterministic_and_blind_to_the_global_rng():
    splits = _splits(_images(80))
    state = torch.random.get_rng_state()
    first = input_diversity(splits, "rrc_flip", seed=1, samples=50)
    assert torch.equal(state, torch.random.get_rng_state())
    torch.manual_seed(123)
    np.random.seed(5)
    assert input_diversity(splits, "rrc_flip", seed=1, samples=50) == first
    assert input_diversity(splits, "rrc_flip", seed=2, samples=50) != first  # the run's crops
    assert input_diversity(splits, "none", samples=50) != first


def test_unknown_augmentation_is_named():
    with pytest.raises(ValueError, match="mixup"):
        input_diversity(_splits(_images(4)), "mixup")
