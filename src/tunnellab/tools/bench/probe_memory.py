"""The probe benchmark's memory case: one split probed in fresh child processes, its features
streamed to memory-mapped files under a RAM budget and kept in RAM, with peak resident memory
and a check that both give identical numbers."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import nn

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.models import create_model
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.features import feature_bytes
from tunnellab.probe.stage import GB
from tunnellab.tools.bench.probe_harness import (
    MB,
    BenchSize,
    bench_recipe,
    bench_stage,
    current_rss_mb,
    peak_rss_mb,
    reset_peak_rss,
)


def _sample_peak_rss(stop: threading.Event, peak: list[float]) -> None:
    process = psutil.Process()
    while not stop.wait(0.005):
        peak[0] = max(peak[0], process.memory_info().rss / MB)


def _warm_up(model: nn.Module, data: DatasetSplits, size: BenchSize, batch: int) -> None:
    """Run both storage paths once on a few images, so the baseline already holds what does not
    grow with the data: library code pages, allocator pools, the model's activations at the
    extraction batch size."""

    def few(split: ImageArrays) -> ImageArrays:
        return split.subset(np.arange(min(len(split), 2 * batch)))

    sample = DatasetSplits("warm-up", train=few(data.train), test=few(data.test))
    for budget_gb in (0.0, 1e3):
        stage = bench_stage(
            model,
            size,
            FeatureCache(None),
            recipe=bench_recipe(size, 1),
            holdout_fraction=0.1,
            extract_batch_size=batch,
            ram_budget_gb=budget_gb,
        )
        stage.probe(sample, "id", "warm-up")


def memory_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Probe the memory-case split in this (fresh) process; report numbers and memory."""
    torch.set_num_threads(spec["threads"])
    inputs = torch.load(spec["inputs"], weights_only=True)
    size = BenchSize(**spec["size"])
    model = create_model(size.model, size.classes, width=size.width)
    model.load_state_dict(inputs["model"])
    classes = [str(c) for c in range(size.classes)]
    data = DatasetSplits(
        "memory",
        train=ImageArrays(inputs["train_images"], inputs["train_labels"], classes),
        test=ImageArrays(inputs["test_images"], inputs["test_labels"], classes),
    )
    _warm_up(model, data, size, spec["extract_batch"])
    baseline = peak_rss_mb()  # everything that does not grow with the data
    after_warm_up = current_rss_mb()
    reset_peak_rss()  # from here on the peak counts only the real run
    stage = bench_stage(
        model,
        size,
        FeatureCache(spec["cache"]),
        recipe=bench_recipe(size, size.memory_epochs),
        holdout_fraction=0.1,
        extract_batch_size=spec["extract_batch"],
        ram_budget_gb=spec["budget_mb"] * MB / GB,
    )
    stop, sampled = threading.Event(), [current_rss_mb()]
    sampler = threading.Thread(target=_sample_peak_rss, args=(stop, sampled), daemon=True)
    sampler.start()
    started = time.perf_counter()
    probe, _ = stage.probe(data, "id", "memory")
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    train = stage.features(data, "train", "memory")
    return {
        "baseline_rss_mb": baseline,
        "rss_after_warm_up_mb": after_warm_up,
        "peak_rss_mb": max(peak_rss_mb(), sampled[0]),
        "mapped": train.mapped,
        "seconds": seconds,
        "test_history": probe.curves.test_history.tolist(),
        "holdout_history": probe.curves.holdout_history.tolist(),
    }


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`memory_child` in a fresh process forked from a server that has only imported
    this module (a clean address space without paying the imports per child)."""
    from tunnellab.tools.bench import (
        probe_memory as module,  # picklable by name also when run as __main__
    )

    context = get_context("forkserver")
    context.set_forkserver_preload([module.__name__])
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(module.memory_child, spec).result()


def _tiled(arrays: ImageArrays, copies: int) -> ImageArrays:
    """``copies`` distinct variants of every image (flips and shifts), labels repeated."""
    variants = []
    for k in range(copies):
        images = arrays.images.flip(-1) if k % 2 else arrays.images
        variants.append(images.roll(shifts=(k // 2, k // 2), dims=(-2, -1)))
    labels = arrays.labels.repeat(copies)
    return ImageArrays(torch.cat(variants), labels, arrays.classes)


def memory_case(
    model: nn.Module, data: DatasetSplits, size: BenchSize, work: Path, dims: list[int]
) -> dict[str, Any]:
    """The same probe under a RAM budget below its features (streamed) and with RAM to spare."""
    train = _tiled(data.train, size.memory_copies)
    features_mb = feature_bytes(len(train), dims) / MB
    budget_mb = size.memory_budget_fraction * features_mb
    inputs = work / "memory_inputs.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "train_images": train.images,
            "train_labels": train.labels,
            "test_images": data.test.images,
            "test_labels": data.test.labels,
        },
        inputs,
    )
    common = {
        "inputs": str(inputs),
        "size": dataclasses.asdict(size),
        "threads": torch.get_num_threads(),
        "extract_batch": 256,
    }
    streamed = _run_child({**common, "cache": str(work / "mem_mapped"), "budget_mb": budget_mb})
    in_memory = _run_child({**common, "cache": str(work / "mem_ram"), "budget_mb": 1e6})
    equal = all(
        np.array_equal(np.array(streamed[k]), np.array(in_memory[k]))
        for k in ("test_history", "holdout_history")
    )
    allowed = streamed["baseline_rss_mb"] + budget_mb
    return {
        "n_train": len(train),
        "epochs": size.memory_epochs,
        "budget_mb": round(budget_mb, 1),
        "features_mb": round(features_mb, 1),
        "baseline_rss_mb": round(streamed["baseline_rss_mb"], 1),
        "peak_rss_mb": round(streamed["peak_rss_mb"], 1),
        "peak_over_baseline_mb": round(streamed["peak_rss_mb"] - streamed["baseline_rss_mb"], 1),
        # Stricter: over the resident set right after the warm-up (freed pools not counted).
        "peak_over_rss_after_warm_up_mb": round(
            streamed["peak_rss_mb"] - streamed["rss_after_warm_up_mb"], 1
        ),
        "within_budget": streamed["peak_rss_mb"] <= allowed,
        "streamed_to_files": streamed["mapped"],
        "streamed_s": round(streamed["seconds"], 2),
        "in_memory_peak_rss_mb": round(in_memory["peak_rss_mb"], 1),
        "in_memory_baseline_rss_mb": round(in_memory["baseline_rss_mb"], 1),
        "in_memory_s": round(in_memory["seconds"], 2),
        "equal_to_in_memory": bool(equal),
    }
