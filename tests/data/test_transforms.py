"""Batch normalisation and the batched RandomResizedCrop + flip."""

import pytest
import torch

from tunnellab.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NORM_STATS,
    normalize,
    random_resized_crop_flip,
)


def test_normalize_maps_uint8_to_standardised_floats():
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    x = normalize(images)
    assert x.dtype == torch.float32
    expected = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[0, :, 0, 0], expected)


def test_full_crop_without_flip_is_identity():
    x = torch.randn(3, 3, 16, 16)
    out = random_resized_crop_flip(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0)
    assert torch.allclose(out, x, atol=1e-5)


def test_flip_mirrors_columns():
    x = torch.randn(2, 3, 8, 8)
    out = random_resized_crop_flip(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(out, x.flip(-1), atol=1e-5)


def test_crops_are_seeded_per_sample_and_keep_shape():
    x = torch.randn(4, 3, 16, 16)
    a = random_resized_crop_flip(x, generator=torch.Generator().manual_seed(0))
    b = random_resized_crop_flip(x, generator=torch.Generator().manual_seed(0))
    c = random_resized_crop_flip(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[0], x[0])


def test_small_crop_zooms_in():
    # A left/right split image: a small crop mostly sees one half, so pixels become more uniform.
    x = torch.zeros(64, 1, 32, 32)
    x[..., 16:] = 1.0
    out = random_resized_crop_flip(x, scale=(0.05, 0.05), flip_p=0.0)
    per_image_std = out.flatten(1).std(1)
    assert (per_image_std < x[0].flatten().std()).float().mean() > 0.5


@pytest.mark.parametrize("norm", ["imagenet", "cifar10", "cifar100"])
def test_normalize_equals_torchvision_normalize_with_the_named_statistics(norm):
    from torchvision.transforms import Normalize

    images = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    mean, std = NORM_STATS[norm]
    expected = Normalize(mean, std)(images.float() / 255.0)
    torch.testing.assert_close(normalize(images, norm), expected)


def test_cifar_statistics_are_the_released_train_set_values():
    assert NORM_STATS["cifar10"] == ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2615))
    assert NORM_STATS["cifar100"] == ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
    with pytest.raises(ValueError, match="unknown normalisation 'svhn'"):
        normalize(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), "svhn")
