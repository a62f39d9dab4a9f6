"""Image folders as cameras, scrapers and colleagues leave them.

What converts faithfully is converted (checked against hand-derived pixels and against
``Image.open(p).convert("RGB")``, torchvision's ``ImageFolder`` loader); what does not is skipped,
counted and named; nothing usable left is a clear error.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tunnellab.data.builders import Materialize, materialize_splits
from tunnellab.data.folders import folder_splits, index_imagefolder, scan_class_folders
from tunnellab.data.image_sources import SplitSources
from tunnellab.data.imagecache import decode, load_entry
from tunnellab.data.imagefiles import (
    UnusableImage,
    open_image,
    problem_of,
    reason_of,
    skipped_summary,
    to_rgb,
)
from tunnellab.data.views import View
from tunnellab.errors import DataError


def _rgb(seed: int, size: tuple[int, int] = (20, 24)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _decoded(path: Path) -> np.ndarray:
    return np.asarray(to_rgb(open_image(path)))


def _truncated_jpeg(path: Path, seed: int) -> Path:
    Image.fromarray(_rgb(seed, (64, 64))).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_sixteen_bit_grey_is_scaled_to_eight_bits_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    rgb = _decoded(path)
    expected = np.array([0, 1, 4, 128, 255], dtype=np.uint8)  # round(v / 257), by hand
    assert (rgb == expected[None, :, None]).all()
    assert Image.open(path).convert("RGB").getpixel((2, 0))[0] == 255  # what clipping gives


def test_thirty_two_bit_pixels_in_sixteen_bit_range_are_scaled(tmp_path):
    image = Image.fromarray(np.array([[0, 65535, 514]], dtype=np.int32))
    assert image.mode == "I"
    assert np.asarray(to_rgb(image))[0, :, 0].tolist() == [0, 255, 2]
    with pytest.raises(UnusableImage, match=r"0\.\.65535"):
        to_rgb(Image.fromarray(np.array([[0, 70000]], dtype=np.int32)))


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", "png"), ("LA", "png"), ("RGBA", "png"), ("P", "png"), ("1", "png"),
     ("CMYK", "jpg"), ("L", "jpg"), ("RGB", "gif")],
)  # fmt: skip
def test_other_modes_decode_like_torchvision_s_loader(tmp_path, mode, suffix):
    image = Image.fromarray(_rgb(1)).convert(mode)
    if mode == "P":
        image.info["transparency"] = 0  # a transparent palette entry
    path = tmp_path / f"odd {mode} (copy).{suffix}"
    image.save(path)
    oracle = np.asarray(Image.open(path).convert("RGB"))  # torchvision's pil_loader
    got = _decoded(path)
    assert got.dtype == np.uint8 and got.shape == (20, 24, 3)
    assert np.array_equal(got, oracle)


def test_alpha_is_dropped_not_composited(tmp_path):
    rgb = _rgb(2)
    alpha = np.zeros((20, 24, 1), dtype=np.uint8)  # fully transparent
    path = tmp_path / "clear.png"
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(path)
    assert np.array_equal(_decoded(path), rgb)


def test_float_and_oversized_images_are_refused(tmp_path, monkeypatch):
    floats = tmp_path / "float.tif"
    Image.fromarray(np.ones((4, 4), dtype=np.float32)).save(floats)
    assert "floating-point" in problem_of(floats)
    with pytest.raises(UnusableImage):
        open_image(floats)
    big = tmp_path / "big.png"
    Image.fromarray(_rgb(3, (60, 60))).save(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3,600 px is over it (and over 2x)
    assert "decompression-bomb" in problem_of(big)
    with pytest.raises(UnusableImage, match="decompression-bomb"):
        open_image(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # over it, under 2x: PIL only warns
    with pytest.raises(UnusableImage, match="3,000 px"):
        open_image(big)


def test_problems_found_from_the_header_and_at_decode_time(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt.jpg"
    text.write_text("not an image at all")
    png = tmp_path / "cut.png"
    Image.fromarray(_rgb(4)).save(png)
    png.write_bytes(png.read_bytes()[:-40])
    jpeg = _truncated_jpeg(tmp_path / "cut.jpg", 5)
    broken = tmp_path / "gone.jpg"
    broken.symlink_to(tmp_path / "nowhere.jpg")
    assert problem_of(empty) == "empty file"
    assert problem_of(text) == "not an image"
    assert problem_of(png) is not None
    assert problem_of(broken).startswith("missing")
    assert problem_of(jpeg) is None  # a JPEG's header verifies; its pixels do not decode
    with pytest.raises(OSError) as err:
        open_image(jpeg)
    assert reason_of(err.value) == "truncated"


def test_skipped_summary_names_a_few_per_reason():
    pairs = [(f"/d/{i}.jpg", "truncated") for i in range(5)] + [("/d/x.txt.jpg", "not an image")]
    text = skipped_summary(pairs, 120)
    assert text == (
        "skipped 6 of 120 files (truncated: 0.jpg, 1.jpg, 2.jpg and 2 more; "
        "not an image: x.txt.jpg)"
    )


def messy_folder(root: Path) -> dict[str, str]:
    """Two class folders of every kind of file; returns the expected skips (path → reason)."""
    cats, dogs = root / "cats (2024)", root / "dogs"
    cats.mkdir(parents=True)
    (dogs / "sub folder").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(_rgb(10 + i)).save(cats / f"photo {i} (1).jpg")
        Image.fromarray(_rgb(20 + i)).save(dogs / "sub folder" / f"dog {i}.png")
    Image.fromarray(np.full((20, 24), 40000, dtype=np.uint16)).save(cats / "deep 16bit.png")
    Image.fromarray(_rgb(5)).convert("CMYK").save(cats / "print cmyk.jpg")
    Image.fromarray(_rgb(6)).convert("LA").save(dogs / "grey alpha.png")
    Image.fromarray(_rgb(7)).convert("P").save(dogs / "palette.gif")
    (cats / "notes.txt.jpg").write_text("a text file")
    (dogs / "zero.png").write_bytes(b"")
    Image.fromarray(_rgb(8, (80, 80))).save(dogs / "huge.png")
    Image.fromarray(np.ones((20, 24), dtype=np.float32)).save(dogs / "float.tif")
    _truncated_jpeg(cats / "cut off.jpg", 9)  # passes the index, fails to decode
    (cats / "again.jpg").symlink_to(cats / "photo 0 (1).jpg")  # the same file: the link is dropped
    (cats / "loop").symlink_to(root, target_is_directory=True)  # a walk that would never end
    (dogs / "cats too").symlink_to(cats, target_is_directory=True)  # another class's files
    skips = {
        "cats (2024)/notes.txt.jpg": "not an image",
        "cats (2024)/again.jpg": "duplicate",
        "dogs/zero.png": "empty file",
        "dogs/huge.png": "decompression-bomb",
        "dogs/float.tif": "floating-point",
    }
    for name in ["notes.txt.jpg", "again.jpg", "cut off.jpg", "deep 16bit.png", "print cmyk.jpg"]:
        skips[f"dogs/cats too/{name}"] = "duplicate"
    for i in range(4):
        skips[f"dogs/cats too/photo {i} (1).jpg"] = "duplicate"
    return skips


def test_messy_folder_is_indexed_once_with_reasons(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 80x80 is over, 20x24 is not
    root = tmp_path / "my images"
    expected = messy_folder(root)
    with caplog.at_level(logging.WARNING, logger="tunnellab"):
        source = scan_class_folders(root, check_readable=True)
    assert source.classes == ["cats (2024)", "dogs"]
    assert len(source.paths) == len({os.path.realpath(p) for p in source.paths}) == 13
    assert np.bincount(source.labels).tolist() == [7, 6]
    assert not any("loop" in p.parts for p in source.paths)
    assert root / "cats (2024)" / "cut off.jpg" in source.paths
    skipped = {p.relative_to(root).as_posix(): reason for p, reason in source.skipped.items()}
    assert set(skipped) == set(expected)
    for name, reason in expected.items():
        assert reason in skipped[name], (name, skipped[name])
    assert "skipped 14 of 27 files" in caplog.text and "notes.txt.jpg" in caplog.text


def test_undecodable_images_are_skipped_counted_and_remembered(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    messy_folder(tmp_path / "my images")
    cache = tmp_path / "cache"
    sources = index_imagefolder(str(tmp_path / "my images"), test_fraction=0.3, seed=0)
    n_train, n_test = len(sources.train), len(sources.test)
    with caplog.at_level(logging.WARNING, logger="tunnellab"):
        first = materialize_splits(sources, Materialize(resolution=16, cache_dir=cache))
    assert "cut off.jpg" in caplog.text and "truncated" in caplog.text
    assert len(first.train) + len(first.test) == n_train + n_test - 1
    cut = [s for s in (first.train, first.test) if s.skipped]
    assert len(cut) == 1 and list(cut[0].skipped.values()) == ["truncated"]
    metas = [json.loads(p.read_text()) for p in cache.glob("*/meta.json")]
    assert sum(len(m["skipped"]) for m in metas) == 1

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tunnellab"):
        again = materialize_splits(sources, Materialize(resolution=16, cache_dir=cache))
    assert "cut off.jpg" in caplog.text  # every load says so again
    in_ram = materialize_splits(sources, Materialize(resolution=16, cache=False))
    for split in ("train", "test"):
        a, b, c = getattr(first, split), getattr(again, split), getattr(in_ram, split)
        assert torch.equal(a.images, b.images) and torch.equal(a.images, c.images)
        assert torch.equal(a.labels, c.labels)


def test_nothing_decodable_is_a_clear_error(tmp_path):
    root = tmp_path / "broken"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            _truncated_jpeg(root / c / f"{i}.jpg", i)
    sources = index_imagefolder(str(root), test_fraction=0.34, seed=0)
    with pytest.raises(DataError, match=r"No image of .* could be decoded .*truncated"):
        decode(sources.train, View(16, 16), desc="decode broken-train")
    with pytest.raises(DataError, match="could be decoded"):
        materialize_splits(sources, Materialize(resolution=16, cache_dir=tmp_path / "c"))
    assert not [p for p in (tmp_path / "c").iterdir() if p.is_dir()]  # no entry left behind


def test_too_few_images_per_class_names_the_classes(tmp_path):
    root = tmp_path / "tiny"
    for i, c in enumerate(["one", "two", "three"]):
        (root / c).mkdir(parents=True)
        Image.fromarray(_rgb(i)).save(root / c / "only.png")
    Image.fromarray(_rgb(9)).save(root / "three" / "second.png")
    with pytest.raises(DataError) as err:
        folder_splits(root, "train", "test", 0.2, 0, "data.path")
    message = str(err.value)
    assert str(root) in message and "'one'" in message and "'two'" in message
    assert "'three'" not in message and "test_fraction" in message


def test_load_entry_checks_the_count_against_its_skips(tmp_path):
    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(_rgb(i)).save(root / "a" / f"{i}.png")
        Image.fromarray(_rgb(i + 5)).save(root / "b" / f"{i}.png")
    _truncated_jpeg(root / "b" / "z.jpg", 3)
    source = scan_class_folders(root)  # no header checks: the JPEG is found when decoded
    sources = SplitSources(name="x", train=source, test=source)
    arrays = materialize_splits(sources, Materialize(resolution=16, cache_dir=tmp_path / "c")).train
    assert len(arrays) == 6 and arrays.labels.tolist() == [0, 0, 0, 1, 1, 1]
    entry = next(p for p in (tmp_path / "c").iterdir() if p.is_dir())
    assert torch.equal(load_entry(entry, source).images, arrays.images)
