"""The probe benchmark's setup and its timed comparison of the three probing methods.

What is benchmarked (:class:`BenchSize`), the data and the briefly pretrained backbone, the
probe stage as a run builds it, wall/CPU timing and peak-memory readings, and
:func:`compare_methods`: (c) tunnellab against (a) per-layer and (b) backbone-in-the-loop
probing (:mod:`tunnellab.tools.reference_probes`). The command: :mod:`tunnellab.tools.bench.probe`.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import torch
from torch import nn

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.pretrain.recipe import build_optimizer, build_scheduler
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.heads import ProbeRecipe
from tunnellab.probe.stage import ProbeStage
from tunnellab.tools.reference_probes import backbone_loop_probes, per_layer_probes

MB = 10**6


@dataclass(frozen=True)
class BenchSize:
    """What is benchmarked: backbone, data, probe recipe and the memory case."""

    model: str = "vggm17"
    width: float = 0.125
    resolution: int = 32
    classes: int = 10
    train_per_class: int = 500
    test_per_class: int = 100
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 256
    pretrain_epochs: int = 5
    memory_copies: int = 8  # the memory case probes the train split this many times over
    memory_budget_fraction: float = 0.25  # its RAM budget, as a fraction of its features
    memory_epochs: int = 2
    seed: int = 0


TINY = BenchSize(
    model="vggm11",
    width=0.0625,
    classes=4,
    train_per_class=24,
    test_per_class=12,
    epochs=2,
    batch_size=32,
    pretrain_epochs=1,
    memory_copies=2,
    memory_epochs=1,
)


@contextmanager
def timed(into: dict[str, float], name: str) -> Iterator[None]:
    """Wall seconds into ``into[name]`` and process CPU seconds into ``into[name + '_cpu']``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into[name] = time.perf_counter() - wall
    into[f"{name}_cpu"] = time.process_time() - cpu


def peak_rss_mb() -> float:
    """Peak resident set size of this process: the kernel's high-water mark of its address space
    (``VmHWM``, Linux), else ``ru_maxrss`` (which survives ``exec``, so reads high in a child)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS mark at the current RSS (Linux ``clear_refs``); False when
    the platform does not allow it (the peak then covers the whole process so far)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def current_rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def lab_data(size: BenchSize) -> DatasetSplits:
    from tunnellab.data.lab.builders import build_lab_id  # not needed by the memory-case children

    return build_lab_id(
        size.resolution, size.classes, size.train_per_class, 1, size.test_per_class, size.seed
    )


def brief_pretrain(model: nn.Module, arrays: ImageArrays, epochs: int, seed: int) -> float:
    """A few epochs of the paper's recipe (AdamW, label smoothing, warm-up then cosine) so the
    taps mean something; returns the last epoch's training accuracy."""
    gen = torch.Generator().manual_seed(seed)
    batch = 128
    optimizer = build_optimizer(model.parameters(), lr=5e-3, weight_decay=0.05)
    steps = -(-len(arrays) // batch)
    scheduler = build_scheduler(optimizer, steps, epochs, warmup_epochs=1.0, start_factor=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train().to(memory_format=torch.channels_last)
    accuracy = 0.0
    for _ in range(epochs):
        correct = 0
        for index in torch.randperm(len(arrays), generator=gen).split(batch):
            images = normalize(arrays.images[index]).contiguous(memory_format=torch.channels_last)
            logits = model(images)
            loss = loss_fn(logits, arrays.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            correct += int((logits.argmax(1) == arrays.labels[index]).sum())
        accuracy = correct / len(arrays)
    model.eval().to(memory_format=torch.contiguous_format)
    return accuracy


def bench_recipe(size: BenchSize, epochs: int | None = None) -> ProbeRecipe:
    return ProbeRecipe(epochs=epochs or size.epochs, lr=size.lr, batch_size=size.batch_size)


def bench_stage(
    model: nn.Module, size: BenchSize, cache: FeatureCache, **kwargs: Any
) -> ProbeStage:
    return ProbeStage(
        model,
        model.taps("paper"),
        kwargs.pop("recipe", bench_recipe(size)),
        kwargs.pop("holdout_fraction", 0.0),
        size.seed,
        torch.device("cpu"),
        cache,
        **kwargs,
    )


def compare_methods(
    model: nn.Module, data: DatasetSplits, size: BenchSize, work: Path
) -> dict[str, Any]:
    """Time (c) tunnellab, (a) per-layer and (b) backbone-in-the-loop; compare accuracies."""
    seconds: dict[str, float] = {}
    stage = bench_stage(model, size, FeatureCache(work / "features"))
    rss_before, peak_reset = current_rss_mb(), reset_peak_rss()
    with timed(seconds, "tunnellab"):
        probe, _ = stage.probe(data, "id", "bench")
    for part in ("extract", "heads"):
        seconds[part], seconds[f"{part}_cpu"] = stage.seconds[part], stage.cpu_seconds[part]
    tunnellab_peak = peak_rss_mb()
    train = stage.features(data, "train", "bench")  # cache hits: the features (a) reads
    test = stage.features(data, "test", "bench")
    args = (train.features, train.labels, test.features, test.labels, data.n_classes)
    with timed(seconds, "per_layer_heads"):
        per_layer = per_layer_probes(*args, bench_recipe(size), seed=size.seed, matched=True)
    with timed(seconds, "backbone_loop"):
        loop = backbone_loop_probes(
            model, stage.taps, data.train, data.test, data.n_classes, bench_recipe(size), size.seed
        )
    histories = {"tunnellab": probe.curves.test_history, "per_layer": per_layer}
    histories["backbone_loop"] = loop
    return {
        "seconds": seconds,
        "acc_best": {k: h.max(axis=0).tolist() for k, h in histories.items()},
        "acc_last": {k: h[-1].tolist() for k, h in histories.items()},
        "tap_names": [t.name for t in stage.taps],
        "feature_dims": train.dims,
        "peak_rss_mb": tunnellab_peak,
        "rss_before_mb": rss_before,
        "peak_rss_scope": "tunnellab run" if peak_reset else "whole process until then",
    }
