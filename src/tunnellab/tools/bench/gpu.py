"""``make gpu-check``: what one GPU does with the paper's recipe, and what each study costs on it.

On CUDA, with synthetic data shaped as the decode-once cache holds it (uint8 images in pinned host
memory, copied and normalised on the device every step), it measures

- pretraining img/s of VGGm-11, ResNet-18 and ViT-T at 32² and 224², bf16-mixed and fp32, with
  the recipe in effect (``experiment=paper/main_grid``: AdamW, its lr, weight decay and global
  batch, label smoothing 0.1, warm-up + cosine, ViT drop-path): a few warm-up steps, then timed
  steps; a batch that does not fit is halved until it does (``capped`` says so);
- extraction img/s: one inference pass with every paper tap hooked and pooled
  (:func:`tunnellab.probe.extract.extract_features`, as a probe stage runs it);
- probe-head time: all taps' heads (:func:`tunnellab.probe.heads.train_linear_probes`) on random
  fp16 features of the taps' widths, per epoch of ``probe_samples`` images, and the ratio of the
  recipe's probing (its epochs, one head bank) to one extraction pass over the same images;
- peak GPU memory (``torch.cuda.max_memory_allocated``) of each measurement,

then estimates the GPU-hours of every paper study from those rates
(:mod:`tunnellab.tools.bench.study_cost`). Writes ``gpu.json`` into ``--out`` and prints a
table. Without a GPU it prints ``no GPU found: ...`` and exits 0; ``--device cpu --tiny`` runs
every part with tiny sizes on the CPU (what the tests do).

    tunnellab-gpu-check --out outputs/gpu-check [--device cpu --tiny] [--budget-s 420]
    (or: python -m tunnellab.tools.bench.gpu ...)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import itertools
import json
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tunnellab.atomic import atomic_write_text
from tunnellab.data.arrays import ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.models import create_model, tap_dims
from tunnellab.pretrain.recipe import build_optimizer, build_scheduler
from tunnellab.probe.extract import extract_features
from tunnellab.probe.heads import ProbeRecipe, train_linear_probes
from tunnellab.tools.bench.gpu_report import render
from tunnellab.tools.bench.study_cost import ASSUMPTIONS, Measured, estimate_studies

GPU_JSON = "gpu.json"
MODELS = ("vggm11", "resnet18", "vit_t")
PRECISIONS = ("bf16-mixed", "32-true")
GIB = 2**30


@dataclass(frozen=True)
class CheckSize:
    """What is measured, and how long each measurement runs."""

    models: tuple[str, ...] = MODELS
    resolutions: tuple[int, ...] = (32, 224)
    precisions: tuple[str, ...] = PRECISIONS
    width: float = 1.0
    classes: int = 100
    warmup_steps: int = 3
    timed_steps: int = 10  # at 224²; more at smaller sizes (see ``scaled``)
    max_batch: int | None = None  # caps the recipe's batch (tiny runs)
    min_batch: int = 8  # below this a batch that does not fit is an error
    extract_images: int = 4096  # at 224²; more at smaller sizes (see ``scaled``)
    probe_samples: int = 10_000
    probe_test: int = 2_000
    probe_epochs: int = 2
    budget_s: float = 420.0  # measurements after this are skipped (and listed)
    studies: bool = True
    scale_small: bool = True  # more steps / images at small resolutions, where each is quick

    def scaled(self, n: int, resolution: int) -> int:
        """``n`` × (224 / resolution)², at most × 8: similar wall time at every resolution."""
        if not self.scale_small:
            return n
        return n * min(8, max(1, round((224 / resolution) ** 2)))


TINY = CheckSize(
    resolutions=(32,),
    width=0.0625,
    classes=10,
    warmup_steps=1,
    timed_steps=1,
    max_batch=4,
    min_batch=1,
    extract_images=16,
    probe_samples=64,
    probe_test=16,
    probe_epochs=1,
    budget_s=600.0,
    scale_small=False,
)


@dataclass(frozen=True)
class Recipe:
    """The numbers of the paper recipe in effect for one model (from its composed config)."""

    batch_size: int
    lr: float
    weight_decay: float
    warmup_epochs: float
    label_smoothing: float
    drop_path_rate: float
    trainer_precision: str
    probe_batch_size: int
    probe_epochs: int
    probe_lr: float
    probe_weight_decay: float
    extract_batch_size: int


def model_recipe(model: str) -> Recipe:
    """The recipe ``tunnellab-run experiment=paper/main_grid model=<model>`` would use."""
    from tunnellab.config import compose_config

    cfg = compose_config(["experiment=paper/main_grid", f"model={model}", "aug=none"])
    optim, probe = cfg.optim, cfg.probe
    return Recipe(
        batch_size=int(optim.batch_size),
        lr=float(optim.lr),
        weight_decay=float(optim.weight_decay),
        warmup_epochs=float(optim.warmup_epochs),
        label_smoothing=float(optim.get("label_smoothing", 0.1)),
        drop_path_rate=float(cfg.model.get("drop_path_rate", 0.0) or 0.0),
        trainer_precision=str(cfg.trainer.precision),
        probe_batch_size=int(probe.batch_size),
        probe_epochs=int(probe.epochs),
        probe_lr=float(probe.lr),
        probe_weight_decay=float(probe.weight_decay),
        extract_batch_size=int(probe.extract_batch_size),
    )


def build_model(name: str, resolution: int, size: CheckSize, drop_path: float = 0.0) -> nn.Module:
    """A paper model at ``resolution`` (ViTs take their image size and drop-path rate)."""
    kwargs: dict[str, Any] = {}
    if name.startswith("vit"):
        kwargs = {"img_size": resolution, "drop_path_rate": drop_path}
    return create_model(name, num_classes=size.classes, width=size.width, **kwargs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / GIB, 2)


def _free(device: torch.device) -> None:
    """Return the last measurement's GPU memory (nothing to do on the CPU)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision.startswith("bf16"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synthetic_images(n: int, resolution: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """``n`` uint8 images as the cache holds them (pinned when feeding a GPU)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=gen)
    return images.pin_memory() if device.type == "cuda" else images


def pretrain_rate(
    name: str,
    resolution: int,
    precision: str,
    batch: int,
    recipe: Recipe,
    size: CheckSize,
    device: torch.device,
) -> dict[str, Any]:
    """Img/s of pretraining steps (copy, normalise, forward, loss, backward, AdamW, schedule)."""
    torch.manual_seed(0)
    model = build_model(name, resolution, size, recipe.drop_path_rate).to(device).train()
    optimizer = build_optimizer(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = build_scheduler(optimizer, 100, 100, recipe.warmup_epochs, 0.01)
    n_batches = 2
    images = synthetic_images(n_batches * batch, resolution, device)
    labels = torch.randint(0, size.classes, (n_batches * batch,))
    labels = labels.pin_memory() if device.type == "cuda" else labels

    def step(i: int) -> None:
        part = slice((i % n_batches) * batch, (i % n_batches + 1) * batch)
        x = images[part].to(device, non_blocking=True)
        y = labels[part].to(device, non_blocking=True)
        with _autocast(precision, device):
            loss = F.cross_entropy(model(normalize(x)), y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()

    for i in range(size.warmup_steps):
        step(i)
    _sync(device)
    steps = size.scaled(size.timed_steps, resolution)
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    _sync(device)
    seconds = time.perf_counter() - started
    return {
        "img_s": round(batch * steps / seconds, 1),
        "step_s": round(seconds / steps, 4),
        "timed_steps": steps,
    }


def extraction_rate(
    name: str, resolution: int, recipe: Recipe, size: CheckSize, device: torch.device
) -> dict[str, Any]:
    """Img/s of one extraction pass with every paper tap hooked and pooled (after a warm-up)."""
    torch.manual_seed(0)
    model = build_model(name, resolution, size).to(device).eval()
    taps = model.taps("paper")
    n = size.scaled(size.extract_images, resolution)
    labels = torch.randint(0, size.classes, (n,))
    arrays = ImageArrays(
        synthetic_images(n, resolution, device), labels, [str(c) for c in range(size.classes)]
    )
    batch = recipe.extract_batch_size
    extract_features(model, taps, arrays.subset(np.arange(min(n, batch))), batch, device)
    _sync(device)
    started = time.perf_counter()
    features = extract_features(model, taps, arrays, batch, device)
    _sync(device)
    seconds = time.perf_counter() - started
    return {
        "img_s": round(n / seconds, 1),
        "images": n,
        "taps": len(taps),
        "feature_dims": sum(features.dims),
    }


def probe_head_time(
    name: str, recipe: Recipe, size: CheckSize, device: torch.device, resolution: int
) -> dict[str, Any]:
    """Seconds per epoch of all taps' heads (one bank) on random features of the taps' widths."""
    with torch.device("meta"):
        model = build_model(name, resolution, size)
    dims = tap_dims(model, model.taps("paper"), resolution)
    gen = torch.Generator().manual_seed(0)

    def features(n: int) -> list[torch.Tensor]:
        return [torch.randn(n, d, generator=gen).half() for d in dims]

    n, n_test, k = size.probe_samples, size.probe_test, size.classes
    train, test = features(n), features(n_test)
    y_train = torch.randint(0, k, (n,), generator=gen)
    y_test = torch.randint(0, k, (n_test,), generator=gen)
    probe = ProbeRecipe(
        epochs=size.probe_epochs,
        lr=recipe.probe_lr,
        weight_decay=recipe.probe_weight_decay,
        batch_size=recipe.probe_batch_size,
    )
    few = min(n, recipe.probe_batch_size)
    warm = dataclasses.replace(probe, epochs=1)
    train_linear_probes(
        [f[:few] for f in train], y_train[:few], test, y_test, k, warm, device=device
    )
    _sync(device)
    started = time.perf_counter()
    train_linear_probes(train, y_train, test, y_test, k, probe, device=device)
    _sync(device)
    seconds = time.perf_counter() - started
    per_epoch = seconds / size.probe_epochs
    return {
        "taps": len(dims),
        "feature_dims": sum(dims),
        "samples": n,
        "test_samples": n_test,
        "classes": k,
        "batch_size": recipe.probe_batch_size,
        "s_per_epoch": round(per_epoch, 4),
        "s_per_sample_epoch": per_epoch / n,
    }


def _with_batch_cap(
    measure: Callable[[int], dict[str, Any]], batch: int, size: CheckSize, device: torch.device
) -> dict[str, Any]:
    """``measure(batch)``, halving the batch while it runs out of GPU memory."""
    wanted = batch
    while True:
        try:
            return {**measure(batch), "batch_size": batch, "capped": batch < wanted}
        except torch.cuda.OutOfMemoryError:
            if batch // 2 < size.min_batch:
                raise
        _free(device)  # outside the handler: the traceback no longer holds the tensors
        batch //= 2


@contextlib.contextmanager
def _recorded(
    rows: list[dict[str, Any]], key: dict[str, Any], device: torch.device
) -> Iterator[dict]:
    """Append ``key`` + what the block measured (or its error) + peak memory to ``rows``."""
    row = dict(key)
    _free(device)
    _reset_peak(device)
    try:
        yield row
    except Exception as exc:  # one failed measurement must not lose the others
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
    row["peak_gib"] = _peak_gib(device)
    rows.append(row)
    _free(device)


def device_info(device: torch.device) -> dict[str, Any]:
    """The device, the software and the numeric settings the rates were measured under."""
    info: dict[str, Any] = {
        "device": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_precision": torch.get_float32_matmul_precision(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            memory_gib=round(props.total_memory / GIB, 1),
            capability=f"{props.major}.{props.minor}",
            cudnn=torch.backends.cudnn.version(),
        )
    else:
        info["name"] = platform.processor() or platform.machine()
    return info


def measured_rates(report: dict[str, Any]) -> Measured:
    """The rates ``study_cost`` needs, from the measurements that succeeded."""
    precision = {"bf16-mixed": "bf16", "32-true": "fp32"}
    return Measured(
        pretrain={
            (r["model"], r["resolution"], precision[r["precision"]]): r["img_s"]
            for r in report["pretrain"]
            if "img_s" in r
        },
        forward={
            (r["model"], r["resolution"]): r["img_s"] for r in report["extraction"] if "img_s" in r
        },
        head_s_per_sample_epoch={
            r["model"]: r["s_per_sample_epoch"] for r in report["probe_heads"] if "s_per_epoch" in r
        },
    )


def probe_over_extract(report: dict[str, Any], recipes: dict[str, Recipe]) -> list[dict[str, Any]]:
    """Per (model, resolution): the recipe's probing (its epochs, one bank) over one extraction
    pass of the same images = s per sample-epoch × epochs × extraction img/s."""
    heads = {r["model"]: r for r in report["probe_heads"] if "s_per_epoch" in r}
    rows = []
    for r in report["extraction"]:
        if "img_s" not in r or r["model"] not in heads:
            continue
        epochs = recipes[r["model"]].probe_epochs
        ratio = heads[r["model"]]["s_per_sample_epoch"] * epochs * r["img_s"]
        rows.append(
            {
                "model": r["model"],
                "resolution": r["resolution"],
                "probe_epochs": epochs,
                "ratio": round(ratio, 3),
            }
        )
    return rows


def run_check(size: CheckSize, device: torch.device, out: Path) -> dict[str, Any]:
    """Every measurement (within ``size.budget_s``), the study estimates, ``gpu.json``."""
    started = time.perf_counter()
    recipes = {name: model_recipe(name) for name in size.models}
    report: dict[str, Any] = {
        "device": device_info(device),
        "settings": dataclasses.asdict(size),
        "recipes": {name: dataclasses.asdict(r) for name, r in recipes.items()},
        "pretrain": [],
        "extraction": [],
        "probe_heads": [],
        "skipped": [],
    }

    def in_budget(what: str) -> bool:
        if time.perf_counter() - started < size.budget_s:
            return True
        report["skipped"].append(what)
        return False

    for name, res, precision in itertools.product(size.models, size.resolutions, size.precisions):
        if not in_budget(f"pretrain {name} {res} {precision}"):
            continue
        recipe = recipes[name]
        batch = min(recipe.batch_size, size.max_batch or recipe.batch_size)
        key = {
            "model": name,
            "resolution": res,
            "precision": precision,
            "recipe_batch": recipe.batch_size,
        }
        with _recorded(report["pretrain"], key, device) as row:
            row.update(
                _with_batch_cap(
                    lambda b, n=name, r=res, p=precision, rc=recipe: pretrain_rate(
                        n, r, p, b, rc, size, device
                    ),
                    batch,
                    size,
                    device,
                )
            )
    for name, res in itertools.product(size.models, size.resolutions):
        if in_budget(f"extraction {name} {res}"):
            with _recorded(report["extraction"], {"model": name, "resolution": res}, device) as row:
                row.update(extraction_rate(name, res, recipes[name], size, device))
    for name in size.models:
        if in_budget(f"probe heads {name}"):
            with _recorded(report["probe_heads"], {"model": name}, device) as row:
                row.update(probe_head_time(name, recipes[name], size, device, size.resolutions[0]))
    report["probe_over_extraction"] = probe_over_extract(report, recipes)
    peaks = [
        r["peak_gib"] for part in ("pretrain", "extraction", "probe_heads") for r in report[part]
    ]
    report["peak_gib"] = max((p for p in peaks if p is not None), default=None)
    report["studies"] = estimate_studies(measured_rates(report)) if size.studies else []
    report["assumptions"] = list(ASSUMPTIONS)
    report["seconds"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / GPU_JSON, json.dumps(report, indent=2))
    return report


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu-check"))
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: seconds, for tests")
    parser.add_argument("--budget-s", type=float, help="skip measurements after this many seconds")
    parser.add_argument("--no-studies", action="store_true", help="skip the GPU-hour estimates")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Run the check (or say why not) and print the table."""
    args = _parse(argv)
    if args.device not in ("cuda", "cpu"):
        raise SystemExit(f"gpu-check: error: --device must be cuda or cpu, got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"no GPU found: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no "
            "CUDA device, so there is nothing to measure; `python -m tunnellab.tools.bench.gpu "
            "--device cpu --tiny` runs the harness on the CPU"
        )
        return None
    size = TINY if args.tiny else CheckSize()
    if args.budget_s is not None:
        size = dataclasses.replace(size, budget_s=args.budget_s)
    if args.no_studies:
        size = dataclasses.replace(size, studies=False)
    report = run_check(size, torch.device(args.device), args.out)
    print(render(report))
    print(f"\nwrote {args.out / GPU_JSON}")
    return report


def cli() -> None:
    """``tunnellab-gpu-check``: :func:`main` as a console script (the report is no exit code)."""
    main()


if __name__ == "__main__":
    main()
