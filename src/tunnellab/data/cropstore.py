"""Where augmented training crops are cut from: each training image at ``data.source_side``.

RandomResizedCrop draws its box relative to the whole image (its width and height), so the
source keeps every image's aspect ratio. ``source_side`` is the shorter side it is stored at:

- ``<k>r`` (k times the resolution r; the default ``4r``) or an integer ``S``: each image is
  decoded once, its shorter side resized to ``k·r`` or ``S`` pixels (bicubic,
  antialiased; never enlarged) and kept in a ragged uint8 store — one flat file of HWC pixels
  plus a per-image index ``(offset, height, width, original height, original width)`` —
  memory-mapped like the decode-once cache (:mod:`tunnellab.data.imagecache`), written to a
  temporary directory and renamed into place;
- ``original``: nothing is stored; every crop decodes the file again (the released code's way).

Crop boxes are drawn in original pixels and scaled to the stored copy (:mod:`.crops`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from tqdm.auto import tqdm

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.image_sources import ImageSource, digest
from tunnellab.data.imagecache import CHUNK, decode_workers, default_cache_dir

log = logging.getLogger("tunnellab")

ORIGINAL = "original"
#: ``data.source_side`` unless a config says otherwise (docs/datasets.md, "Training crops"): at 4r
#: even RandomResizedCrop's smallest boxes (8 % of the area, ~1.1 r wide) shrink to r.
DEFAULT_SOURCE_SIDE = "4r"
PIXELS = "pixels.bin"
INDEX = "index.npy"
META = "meta.json"
FORMAT_VERSION = 1
#: index columns: byte offset, stored height and width, original height and width
OFFSET, HEIGHT, WIDTH, ORIG_HEIGHT, ORIG_WIDTH = range(5)


class CropSource(ABC):
    """Training images to crop from: pixels as stored and the size of the original image."""

    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def image(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        """uint8 ``(h, w, 3)`` pixels of image ``i`` and its original ``(height, width)``."""


class ArrayCropSource(CropSource):
    """Same-size images in one uint8 ``(N, H, W, 3)`` array, stored at their original size.

    A channels-last array crops fastest (each crop is a block of whole pixels); a
    channels-first one (:meth:`from_arrays`) works through a transposed view.
    """

    def __init__(self, images: np.ndarray, labels: torch.Tensor) -> None:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(
                f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}"
            )
        self.images = images
        self.labels = labels

    @classmethod
    def from_arrays(cls, arrays: ImageArrays) -> ArrayCropSource:
        """Crop from the images of ``arrays`` as they are (no copy)."""
        return cls(arrays.images.numpy().transpose(0, 2, 3, 1), arrays.labels)

    def image(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        pixels = self.images[i]
        return pixels, (pixels.shape[0], pixels.shape[1])


class RaggedCropSource(CropSource):
    """Images of any size, flat in ``pixels`` (HWC each), located by ``index`` rows."""

    def __init__(self, pixels: np.ndarray, index: np.ndarray, labels: torch.Tensor) -> None:
        self.pixels = pixels
        self.index = index
        self.labels = labels

    def image(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        offset, h, w, orig_h, orig_w = (int(v) for v in self.index[i])
        pixels = self.pixels[offset : offset + h * w * 3].reshape(h, w, 3)
        return pixels, (orig_h, orig_w)

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes + self.index.nbytes)


class DecodingCropSource(CropSource):
    """``source_side=original``: every access decodes the image again, at full size."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source
        self.labels = torch.from_numpy(source.labels.copy())

    def image(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        pixels = np.asarray(self.source.image(i).convert("RGB"))
        return pixels, (pixels.shape[0], pixels.shape[1])


def source_pixels(side: int | str, resolution: int) -> int | str:
    """``data.source_side`` at ``resolution``: ``<k>r`` is ``k · resolution`` pixels; an integer
    and ``original`` stay as they are.
    """
    if isinstance(side, str) and side != ORIGINAL:
        return int(side.removesuffix("r")) * resolution
    return side


def shrink_to(image: Image.Image, side: int) -> np.ndarray:
    """uint8 ``(h, w, 3)`` RGB with the shorter side resized to ``side`` (bicubic, antialiased);
    an image whose shorter side is already at most ``side`` is kept as is.
    """
    image = image.convert("RGB") if image.mode != "RGB" else image
    if min(image.size) > side:
        image = TF.resize(image, side, interpolation=InterpolationMode.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def _decoded(
    source: ImageSource, side: int, workers: int, desc: str
) -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
    """Every image of ``source`` in order, shrunk: ``(pixels, original (h, w))``.

    Chunks decode on a thread pool (PIL releases the GIL), a bounded window at a time.
    """

    def work(start: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
        out = []
        for i in range(start, min(start + CHUNK, len(source))):
            image = source.image(i)
            out.append((shrink_to(image, side), (image.height, image.width)))
        return out

    threads = decode_workers(workers)
    starts = list(range(0, len(source), CHUNK))
    window = 4 * threads
    with (
        ThreadPoolExecutor(threads) as pool,
        tqdm(total=len(source), desc=desc, unit="img", disable=None, leave=False) as bar,
    ):
        for k in range(0, len(starts), window):
            for chunk in pool.map(work, starts[k : k + window]):
                bar.update(len(chunk))
                yield from chunk


def _index_row(offset: int, pixels: np.ndarray, original_hw: tuple[int, int]) -> list[int]:
    return [offset, pixels.shape[0], pixels.shape[1], *original_hw]


def decode_store(
    source: ImageSource, side: int, workers: int = 0, desc: str = "decode"
) -> RaggedCropSource:
    """``source`` at ``side`` into memory (``cache=false``)."""
    parts, rows, offset = [], [], 0
    for pixels, original_hw in _decoded(source, side, workers, desc):
        rows.append(_index_row(offset, pixels, original_hw))
        parts.append(pixels.reshape(-1))
        offset += pixels.size
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)
    index = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    return RaggedCropSource(flat, index, torch.from_numpy(source.labels.copy()))


def store_name(label: str, source: ImageSource, side: int) -> str:
    """``<label>-source<side>-<key>``: unique per content and side."""
    key = digest(f"source-v{FORMAT_VERSION}", source.fingerprint(), f"shorter{side}-bicubic")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    return f"{safe}-source{side}-{key[:16]}"


def _build_store(entry: Path, source: ImageSource, side: int, workers: int, label: str) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        started = time.perf_counter()
        rows, offset = [], 0
        with open(tmp / PIXELS, "wb") as f:
            for pixels, original_hw in _decoded(source, side, workers, f"{label} at {side}px"):
                rows.append(_index_row(offset, pixels, original_hw))
                f.write(np.ascontiguousarray(pixels).data)
                offset += pixels.size
        np.save(tmp / INDEX, np.asarray(rows, dtype=np.int64).reshape(-1, 5))
        meta = {
            "label": label,
            "n": len(source),
            "source_side": side,
            "bytes": offset,
            "seconds": round(time.perf_counter() - started, 2),
            "format": FORMAT_VERSION,
        }
        (tmp / META).write_text(json.dumps(meta, indent=1))
        try:
            tmp.rename(entry)
        except OSError:  # another process finished the same entry first: keep theirs
            if not (entry / INDEX).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_store(entry: Path, source: ImageSource) -> RaggedCropSource:
    """Memory-map a finished store (read-only)."""
    index = np.load(entry / INDEX)
    if len(index) != len(source):
        raise ValueError(f"source store {entry} holds {len(index)} images, not {len(source)}")
    size = (entry / PIXELS).stat().st_size
    pixels = np.memmap(entry / PIXELS, dtype=np.uint8, mode="r") if size else np.empty(0, np.uint8)
    return RaggedCropSource(pixels, index, torch.from_numpy(source.labels.copy()))


def cached_store(
    source: ImageSource,
    side: int,
    label: str,
    cache_dir: str | Path | None = None,
    workers: int = 0,
) -> RaggedCropSource:
    """``source`` at ``side``, decoded at most once per machine (beside the image cache)."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    entry = root / store_name(label, source, side)
    if not (entry / INDEX).is_file():
        log.info("storing %s (%d images) at shorter side %d in %s", label, len(source), side, entry)
        _build_store(entry, source, side, workers, label)
    return load_store(entry, source)
