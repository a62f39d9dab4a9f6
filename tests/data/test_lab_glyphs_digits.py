"""Lab glyphs (DejaVu-rendered characters) and scikit-learn's handwritten digits."""

from __future__ import annotations

import string

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from tunnellab.data.lab import CHARACTERS, FONT_FACES, digits_splits, glyph_split
from tunnellab.data.lab.glyphs import _glyph_alphas, font_dir


def test_fonts_ship_with_matplotlib() -> None:
    assert len(FONT_FACES) >= 6
    assert all((font_dir() / face).is_file() for face in FONT_FACES)


def test_glyph_classes_counts_and_layout() -> None:
    data = glyph_split(26, 4, 32, seed=0)
    assert data.classes == list(string.ascii_uppercase)
    assert data.images.dtype == torch.uint8 and data.images.shape == (104, 3, 32, 32)
    assert data.labels.tolist() == [k for k in range(26) for _ in range(4)]
    assert data.class_counts().tolist() == [4] * 26


def test_glyph_36_classes_are_letters_then_digits() -> None:
    data = glyph_split(36, 1, 16, seed=0)
    assert "".join(data.classes) == string.ascii_uppercase + string.digits
    assert len(CHARACTERS) >= 36 and len(set(CHARACTERS)) == len(CHARACTERS)


def test_glyph_determinism() -> None:
    a, b = glyph_split(5, 6, 24, seed=4), glyph_split(5, 6, 24, seed=4)
    c = glyph_split(5, 6, 24, seed=5)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("n_classes", [1, len(CHARACTERS) + 1])
def test_glyph_class_bounds(n_classes: int) -> None:
    with pytest.raises(ValueError, match="n_classes"):
        glyph_split(n_classes, 2, 32, seed=0)


@pytest.mark.parametrize("resolution", [8, 300])
def test_glyph_resolution_validation(resolution: int) -> None:
    with pytest.raises(ValueError, match="resolution"):
        glyph_split(3, 2, resolution, seed=0)


@pytest.mark.parametrize("resolution", [16, 64, 224])
def test_glyph_resolutions(resolution: int) -> None:
    data = glyph_split(2, 2, resolution, seed=0)
    assert data.images.shape == (4, 3, resolution, resolution)
    assert data.images.float().flatten(1).std(dim=1).min() > 10.0


def test_glyph_masks_differ_between_characters() -> None:
    """Ink coverage follows the character, and its average shape differs between characters."""
    rng = np.random.default_rng(0)
    masks = {c: _glyph_alphas([c] * 40, 32, rng) for c in "IMOA"}
    cover = {c: float(m.mean()) for c, m in masks.items()}
    assert 0.0 < cover["I"] < min(cover["M"], cover["O"])
    same = np.abs(masks["A"][:20].mean(0) - masks["A"][20:].mean(0)).mean()
    other = np.abs(masks["A"].mean(0) - masks["O"].mean(0)).mean()
    assert other > 1.5 * same


def test_digits_split_sizes_and_stratification() -> None:
    train, test = digits_splits(16, seed=0)
    assert len(train) + len(test) == 1797
    assert train.classes == test.classes == [str(d) for d in range(10)]
    full = np.bincount(load_digits().target, minlength=10)
    np.testing.assert_array_equal(train.class_counts() + test.class_counts(), full)
    np.testing.assert_allclose(test.class_counts(), 0.2 * full, atol=1.0)


def test_digits_determinism_and_seed() -> None:
    a_train, a_test = digits_splits(16, seed=1)
    b_train, b_test = digits_splits(16, seed=1)
    c_train, _ = digits_splits(16, seed=2)
    assert torch.equal(a_train.images, b_train.images) and torch.equal(a_test.images, b_test.images)
    assert torch.equal(a_train.labels, b_train.labels)
    assert not torch.equal(a_train.images, c_train.images)


@pytest.mark.parametrize("resolution", [16, 64])
def test_digits_resize_grey_rgb(resolution: int) -> None:
    train, test = digits_splits(resolution, seed=0, test_fraction=0.3)
    assert train.images.dtype == torch.uint8
    assert train.images.shape[1:] == (3, resolution, resolution)
    assert torch.equal(train.images[:, 0], train.images[:, 1])
    assert torch.equal(train.images[:, 0], train.images[:, 2])
    assert int(train.images.max()) >= 250 and int(train.images.min()) == 0
    assert abs(len(test) / 1797 - 0.3) < 0.01


def test_digits_argument_validation() -> None:
    with pytest.raises(ValueError, match="resolution"):
        digits_splits(8, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        digits_splits(16, seed=0, test_fraction=1.0)
