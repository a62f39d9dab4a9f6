"""Nuisances keep shape and dtype, change the images, and hurt fine detail the way they should."""

import pytest
import torch

from tunnellab.advise.nuisances import NUISANCES, blur, down_up, jpeg


def _checkerboard(n: int = 3, side: int = 32) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    board = (((yy // 2) + (xx // 2)) % 2 * 255).to(torch.uint8)
    return board.expand(n, 3, side, side).clone()


@pytest.mark.parametrize("name", sorted(NUISANCES))
def test_each_nuisance_keeps_shape_dtype_and_changes_pixels(name):
    images = _checkerboard()
    out = NUISANCES[name](images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert not torch.equal(out, images)


def test_blur_and_downscale_remove_high_frequencies():
    images = _checkerboard()
    assert blur(images).float().std() < 0.5 * images.float().std()
    assert down_up(images).float().std() < 0.5 * images.float().std()


def test_jpeg_keeps_flat_images_almost_unchanged():
    flat = torch.full((2, 3, 16, 16), 120, dtype=torch.uint8)
    assert (jpeg(flat).int() - 120).abs().max() <= 2
