"""How close are the project's training crops to torchvision's, per ``data.source_side``?

On real photos (matplotlib's ``grace_hopper.jpg``, scikit-learn's ``china.jpg`` and
``flower.jpg``), for each output size r and source setting: the same RandomResizedCrop boxes and
flips (drawn on the original image) are cut by the project (:mod:`tunnellab.data.crops` from the
source store the setting builds) and by torchvision (``transforms.functional.resized_crop`` +
``hflip`` on the decoded PIL image, what ``RandomResizedCrop(r)`` + ``RandomHorizontalFlip`` do
in the released code); the table holds the mean absolute difference per pixel and channel, in
units of 1/255. Also the cost of each setting: bytes per average ImageNet image (400×350) and for
ImageNet-100's training split, and, on this machine, ms per image to decode + shrink a photo (once
per image when stored; at every crop for ``original``) and to cut one crop. Writes
``crop_parity.json`` and ``crop_parity.md`` into ``--out``.

    python -m tunnellab.tools.bench.crop_parity --out outputs/bench [--boxes 40]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import matplotlib.cbook
import numpy as np
import torch
import torchvision.transforms.functional as TF
from sklearn.datasets import load_sample_images
from torchvision.transforms import InterpolationMode

from tunnellab.data.crops import CropSpec, draw_seed, resized_crop, sample_box, sample_flip
from tunnellab.data.cropstore import (
    ORIGINAL,
    CropSource,
    DecodingCropSource,
    decode_store,
    shrink_to,
    source_pixels,
)
from tunnellab.data.image_sources import FileSource
from tunnellab.data.imagenet100 import IMAGENET100_TRAIN
from tunnellab.data.views import resize_side

RESOLUTIONS = (32, 64, 128, 224)
#: source settings: the old cache's side int(256/224·r), twice r, fixed sides, the files
SETTINGS: tuple[str | int, ...] = ("1.14r", "2r", "4r", 256, 384, 512, ORIGINAL)
IMAGENET_MEAN_WH = (400, 350)  # about the average ImageNet training image


def sample_photos() -> FileSource:
    """The three real photos that ship with matplotlib and scikit-learn, as an image source."""
    paths = [matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)]
    paths += list(load_sample_images().filenames)
    return FileSource(paths, list(range(len(paths))), [Path(p).stem for p in paths])


def side_of(setting: str | int, resolution: int) -> int | str:
    """The source side in pixels a setting stands for at ``resolution``."""
    if setting == "1.14r":  # the side the old crop-from cache stored (its centre square)
        return resize_side(resolution)
    return source_pixels(setting, resolution)


def crop_source(source: FileSource, side: int | str) -> CropSource:
    """What the project's loader would crop from at ``side`` (in memory)."""
    return DecodingCropSource(source) if side == ORIGINAL else decode_store(source, int(side))


def reference_crop(image: Any, box: tuple[int, int, int, int], size: int, flip: bool) -> np.ndarray:
    """torchvision on the decoded PIL image: ``resized_crop`` (bilinear, antialiased), ``hflip``."""
    out = TF.resized_crop(image, *box, [size, size], InterpolationMode.BILINEAR, antialias=True)
    return np.asarray(TF.hflip(out) if flip else out)


def parity(
    source: FileSource, resolution: int, side: int | str, boxes: int, seed: int = 0
) -> float:
    """Mean |project − torchvision| per pixel and channel (in 1/255) over ``boxes`` crops of
    every image of ``source``.
    """
    spec = CropSpec(resolution)
    store = crop_source(source, side)
    generator = torch.Generator()
    total, count = 0.0, 0
    for i in range(len(source)):
        original = source.image(i).convert("RGB")
        pixels, original_hw = store.image(i)
        for k in range(boxes):
            generator.manual_seed(draw_seed(seed, i, k))
            box = sample_box(*original_hw, spec, generator)
            flip = sample_flip(spec, generator)
            ours = resized_crop(pixels, box, original_hw, resolution, flip).astype(np.float64)
            total += np.abs(ours - reference_crop(original, box, resolution, flip)).sum()
            count += ours.size
    return total / count


def stored_bytes(side: int | str, size_wh: tuple[int, int] = IMAGENET_MEAN_WH) -> int:
    """Bytes of one image of ``size_wh`` stored at ``side`` pixels (shorter side; never
    enlarged); 0 for ``original`` (nothing is stored).
    """
    if side == ORIGINAL:
        return 0
    w, h = size_wh
    if min(w, h) <= int(side):
        return 3 * w * h
    return 3 * int(side) * int(int(side) * max(w, h) / min(w, h))


def _ms_per_image(work: Any, n: int, repeats: int = 3) -> float:
    """CPU ms per image of ``work`` (``n`` images), the best of ``repeats``: CPU time rather
    than wall time, so other jobs on a shared machine disturb it less.
    """
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return round(best * 1e3 / n, 3)


def costs(source: FileSource, side: int | str, resolution: int, repeats: int) -> dict[str, Any]:
    """What a setting costs: bytes per (average ImageNet) image and for ImageNet-100's training
    split, CPU ms per image to build the store (once; ``original``: at every crop) and to crop.
    """
    n = repeats * len(source)

    def build() -> None:
        for _ in range(repeats):
            for i in range(len(source)):
                image = source.image(i)  # decoded from the JPEG file
                if side != ORIGINAL:
                    shrink_to(image, int(side))

    store, spec, generator = crop_source(source, side), CropSpec(resolution), torch.Generator()

    def crop() -> None:
        for k in range(repeats):
            for i in range(len(source)):
                generator.manual_seed(draw_seed(0, k, i))
                pixels, original_hw = store.image(i)
                box = sample_box(*original_hw, spec, generator)
                resized_crop(pixels, box, original_hw, resolution, sample_flip(spec, generator))

    per_image = stored_bytes(side)
    return {
        "bytes_per_image": per_image,
        "imagenet100_gb": round(per_image * IMAGENET100_TRAIN / 1e9, 1),
        "decode_ms_per_image": _ms_per_image(build, n),
        "crop_ms_per_image": _ms_per_image(crop, n),
    }


def run(boxes: int, resolutions: tuple[int, ...] = RESOLUTIONS, repeats: int = 3) -> dict[str, Any]:
    """Per source setting and resolution: the parity (``mad_per_255``) and the costs."""
    source = sample_photos()
    rows = []
    for setting in SETTINGS:
        for r in resolutions:
            side = side_of(setting, r)
            row = {"setting": str(setting), "resolution": r, "side": side}
            row["mad_per_255"] = round(parity(source, r, side, boxes), 3)
            rows.append({**row, **costs(source, side, r, repeats)})
    sizes = [list(source.image(i).size) for i in range(len(source))]
    return {"photos": source.classes, "sizes_wh": sizes, "boxes_per_photo": boxes, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    """Two Markdown tables (rows: source settings, columns: r): parity, then costs."""
    rows = result["rows"]
    settings = list(dict.fromkeys(row["setting"] for row in rows))
    rs = list(dict.fromkeys(row["resolution"] for row in rows))
    cell = {(row["setting"], row["resolution"]): row for row in rows}
    head = " | ".join(f"r = {r}" for r in rs)
    parity_lines = [f"| source_side | {head} |", "|---|" + "---:|" * len(rs)]
    cost_lines = [
        f"| source_side | KB / image (ImageNet-100 GB): {head} | decode CPU ms / image: {head} "
        f"| crop CPU ms / image: {head} |",
        "|---|" + "---:|" * (3 * len(rs)),
    ]
    for s in settings:
        parity_lines.append(
            f"| {s} | " + " | ".join(f"{cell[s, r]['mad_per_255']:.2f}" for r in rs) + " |"
        )
        row = [
            f"{cell[s, r]['bytes_per_image'] / 1e3:.0f} ({cell[s, r]['imagenet100_gb']})"
            for r in rs
        ]
        row += [f"{cell[s, r]['decode_ms_per_image']:.1f}" for r in rs]
        row += [f"{cell[s, r]['crop_ms_per_image']:.2f}" for r in rs]
        cost_lines.append(f"| {s} | " + " | ".join(row) + " |")
    return "\n".join(parity_lines) + "\n\n" + "\n".join(cost_lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/bench", help="directory for the results")
    parser.add_argument("--boxes", type=int, default=40, help="crops per photo and setting")
    parser.add_argument("--resolutions", type=int, nargs="+", default=list(RESOLUTIONS))
    args = parser.parse_args(argv)
    result = run(args.boxes, tuple(args.resolutions))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crop_parity.json").write_text(json.dumps(result, indent=2))
    (out / "crop_parity.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'crop_parity.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
