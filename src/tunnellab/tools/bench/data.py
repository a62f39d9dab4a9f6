"""``make bench-data``: is data loading ever the bottleneck of pretraining?

On a generated folder of ImageNet-sized JPEGs (in a temporary dir; no real dataset needed), per
resolution: images/s of decoding the files (what a loader without the cache does every epoch),
of building the decode-once cache, of the cached path as pretraining consumes it (memory-mapped
uint8 → the Lightning DataModule's loader (``cached_host``), then normalised on the device
(``cached``), and with augmentation, RandomResizedCrop + flip per image from the source store at
the default ``data.source_side`` (``cached_aug``)), and of training the smallest paper models on
this machine.
Writes ``data.json`` into ``--out``.

    tunnellab-bench-data --out outputs/bench [--images 512] [--resolutions 32 224]
    (or: python -m tunnellab.tools.bench.data ...)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunnellab.data.arrays import DatasetSplits
from tunnellab.data.cropstore import DEFAULT_SOURCE_SIDE, cached_store, source_pixels
from tunnellab.data.folders import scan_class_folders
from tunnellab.data.image_sources import FileSource
from tunnellab.data.imagecache import cache_size_bytes, cached, decode, decode_workers
from tunnellab.data.imagenet100 import IMAGENET100_TRAIN
from tunnellab.data.views import eval_view
from tunnellab.models import create_model, list_models
from tunnellab.pretrain.datamodule import ArraysDataModule
from tunnellab.tools.fakes import write_image_folder

IMAGENET_LIKE = (500, 375)  # about the mean ImageNet image
SMALLEST_MODELS = ("vit_t", "resnet18", "vggm11")  # the smallest / fastest paper backbones
IMAGENET100_VAL = 5_000


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rate(n: int, seconds: float) -> float:
    return round(n / max(seconds, 1e-9), 1)


def make_jpeg_folder(root: Path, n_images: int, n_classes: int = 10) -> FileSource:
    """``n_images`` ImageNet-sized JPEGs in ``n_classes`` class folders."""
    per_class = max(1, n_images // n_classes)
    classes = [f"class{c:02d}" for c in range(n_classes)]
    write_image_folder(root, classes, per_class, size=IMAGENET_LIKE, jitter=60)
    return scan_class_folders(root)


def loader_rate(
    splits: DatasetSplits,
    batch_size: int,
    device: torch.device,
    min_seconds: float,
    augment: bool = False,
    transform: bool = True,
) -> float:
    """Images/s of the pretraining loader over ``splits.train``, or with ``augment`` of its
    RandomResizedCrop + flip crops (cut in the loader from ``splits.train_aug``).

    The batches come from the DataModule's own loader; with ``transform``, they are moved to
    ``device`` and normalised there.
    """
    aug = "rrc_flip" if augment else "none"
    dm = ArraysDataModule(splits, batch_size=batch_size, augmentation=aug)
    seen, started = 0, time.perf_counter()
    epoch = 0
    while time.perf_counter() - started < min_seconds or epoch == 0:
        dm.sampler.set_epoch(epoch)
        for images, labels in dm.train_dataloader():
            seen += len(images)
            if not transform:
                continue
            dm.on_after_batch_transfer((images.to(device), labels.to(device)), 0)
        _sync(device)
        epoch += 1
    return _rate(seen, time.perf_counter() - started)


def train_rate(
    name: str,
    resolution: int,
    batch_size: int,
    steps: int,
    device: torch.device,
    width: float = 1.0,
) -> float:
    """Images/s of forward + backward + AdamW on random batches (100 classes)."""
    model = create_model(name, num_classes=100, width=width).to(device).train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 3, resolution, resolution, device=device)
    y = torch.randint(0, 100, (batch_size,), device=device)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        optim.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optim.step()

    step()  # warm-up
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return _rate(batch_size * steps, time.perf_counter() - started)


def bench_resolution(
    source: FileSource,
    resolution: int,
    cache_dir: Path,
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    """Every measurement at one resolution."""
    workers = decode_workers(args.workers)
    out: dict[str, Any] = {"decode_threads": workers}
    view = eval_view(resolution)

    started = time.perf_counter()
    decode(source, view, workers)
    out["decode_files_img_s"] = _rate(len(source), time.perf_counter() - started)

    entry_dir = cache_dir / f"r{resolution}"
    started = time.perf_counter()
    cached(source, view, "bench", entry_dir, workers)
    out["cache_build_img_s"] = _rate(len(source), time.perf_counter() - started)
    started = time.perf_counter()
    arrays = cached(source, view, "bench", entry_dir, workers)  # a hit: only the mmap opens
    out["cache_open_s"] = round(time.perf_counter() - started, 4)

    batch = args.batch_size
    splits = DatasetSplits("bench", train=arrays, test=arrays, val=arrays)
    out["cached_host_img_s"] = loader_rate(splits, batch, device, args.min_seconds, transform=False)
    out["cached_img_s"] = loader_rate(splits, batch, device, args.min_seconds)

    side = int(source_pixels(DEFAULT_SOURCE_SIDE, resolution))
    splits.train_aug = cached_store(source, side, "bench", entry_dir, workers)
    out["cached_aug_img_s"] = loader_rate(splits, batch, device, args.min_seconds, augment=True)
    out["aug_source_side"] = side

    gpu = device.type == "cuda"
    train_batch = args.train_batch or (256 if gpu else 32) // (1 if resolution <= 64 else 4)
    steps = args.train_steps or (5 if gpu else 1)
    models = [m for m in args.models if m in list_models()]
    out["train_img_s"] = {
        m: train_rate(m, resolution, train_batch, steps, device, args.width) for m in models
    }
    out["train_batch"] = train_batch
    fastest = max(out["train_img_s"].values(), default=0.0)
    slowest_feed = min(out["cached_img_s"], out["cached_aug_img_s"])
    out["fastest_train_img_s"] = fastest
    out["cached_feeds_faster_than_training"] = bool(slowest_feed > fastest)
    out["feed_margin"] = round(slowest_feed / fastest, 1) if fastest else None
    # both deliver uint8 batches; normalisation then costs the same on either path
    out["cache_speedup_vs_decoding"] = round(
        out["cached_host_img_s"] / out["decode_files_img_s"], 1
    )

    size = cache_size_bytes(entry_dir)
    per_image = 3 * resolution * resolution
    out["cache_bytes"] = size
    out["cache_bytes_per_image"] = per_image
    out["imagenet100_cache_gb"] = round((IMAGENET100_TRAIN + IMAGENET100_VAL) * per_image / 1e9, 2)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns what goes into ``data.json``."""
    device = _device()
    with tempfile.TemporaryDirectory(prefix="tunnellab-bench-data-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        source = make_jpeg_folder(tmp_path / "jpegs", args.images)
        jpeg_bytes = sum(p.stat().st_size for p in source.paths)
        result: dict[str, Any] = {
            "what": "images/s: decoding JPEG files vs the decode-once cache feeding pretraining, "
            "and training the smallest paper models on this machine",
            "device": _device_name(device),
            "cpu_cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "images": len(source),
            "jpeg_size": list(IMAGENET_LIKE),
            "jpeg_mb": round(jpeg_bytes / 1e6, 2),
            "generate_s": round(time.perf_counter() - started, 2),
            "batch_size": args.batch_size,
            "model_width": args.width,
            "resolutions": {},
        }
        for r in args.resolutions:
            result["resolutions"][str(r)] = bench_resolution(
                source, r, tmp_path / "cache", args, device
            )
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/bench", help="directory for data.json")
    parser.add_argument("--images", type=int, default=512, help="generated JPEGs")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 224])
    parser.add_argument("--batch-size", type=int, default=512, help="pretraining batch size")
    parser.add_argument(
        "--train-batch", type=int, default=0, help="0: 256 on a GPU, 32 on CPU; ÷4 above 64²"
    )
    parser.add_argument("--train-steps", type=int, default=0, help="0: 5 on a GPU, 1 on CPU")
    parser.add_argument("--models", nargs="+", default=list(SMALLEST_MODELS))
    parser.add_argument("--width", type=float, default=1.0, help="model width (1 = the paper's)")
    parser.add_argument("--workers", type=int, default=0, help="decode threads (0 = cores)")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="per loader measurement")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.json").write_text(json.dumps(result, indent=2))
    for r, m in result["resolutions"].items():
        print(
            f"{r}²: files {m['decode_files_img_s']:,.0f} img/s, cached {m['cached_img_s']:,.0f} "
            f"img/s (aug {m['cached_aug_img_s']:,.0f}), training {m['fastest_train_img_s']:,.0f} "
            f"img/s → cache feeds training: {m['cached_feeds_faster_than_training']}; "
            f"ImageNet-100 cache {m['imagenet100_cache_gb']} GB"
        )
    print(f"wrote {out / 'data.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
