"""``make bench``: tunnellab's all-layer probing against the paper's per-layer probing.

On one backbone, one dataset, the same epochs and taps (defaults: a narrow VGGm-17 at 32², briefly
trained on 10 lab classes, 16 taps, 30 probe epochs, holdout off so every method trains on the
same images and reports the paper's best-test-epoch accuracy), it times

(a) per-layer sequential probing the way the released CNN code did it: one tap at a time, a
    per-sample ``Dataset`` + ``DataLoader`` over the cached features, ``nn.Linear``, AdamW, label
    smoothing (:func:`tunnellab.tools.reference_probes.per_layer_probes`), plus the one
    extraction pass that cached those features;
(b) backbone-in-the-loop probing the way the released ViT code did it: every epoch re-runs the
    frozen backbone on the images
    (:func:`tunnellab.tools.reference_probes.backbone_loop_probes`; one forward feeds the heads
    of all taps, the cheapest form of it);
(c) tunnellab: one extraction pass (cache write included) + all heads at once
    (:class:`tunnellab.probe.stage.ProbeStage`),

and compares their per-tap best-epoch accuracies. (a) draws its heads' init and minibatches as the
engine does, so that difference shows the engine's arithmetic; (b) keeps its own randomness, and
the spread between (a) and (b) shows how far seed noise alone moves a probe.

A memory case then probes a split whose features exceed a RAM budget in a child process (streamed
to memory-mapped files) and in another with RAM to spare, and checks the peak resident memory and
that both give identical numbers.

Timing is wall clock (``time.perf_counter``) with process CPU time beside it; memory is the
kernel's peak resident set (``VmHWM``, else ``resource``) and ``psutil``. Every method runs with
the same torch thread count (``--threads``, default 1: on this project's shared 2-core machine, 2
intra-op threads made every method 2-7x slower and erratic whenever another job ran; probe loops
always use one thread, see :mod:`tunnellab.probe.threads`) and a channels-last backbone.

    tunnellab-bench --out outputs/bench [--tiny] [--no-memory-case]
    (or: python -m tunnellab.tools.bench.probe ...)

Writes ``probe.json`` into ``--out`` and prints a summary table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import nn

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.models import create_model
from tunnellab.pretrain.recipe import build_optimizer, build_scheduler
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.features import feature_bytes
from tunnellab.probe.heads import ProbeRecipe
from tunnellab.probe.stage import GB, ProbeStage
from tunnellab.probe.threads import HEAD_THREADS
from tunnellab.tools.reference_probes import backbone_loop_probes, per_layer_probes

MB = 10**6
TARGETS = {  # key in probe.json → (comparison, threshold)
    "speedup_vs_per_layer": (">=", 5.0),
    "speedup_vs_backbone_loop": (">=", 10.0),
    "tunnellab_total_over_extract": ("<=", 1.5),
    "max_acc_diff_vs_per_layer": ("<=", 1.0),
}


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


def _recipe(size: BenchSize, epochs: int | None = None) -> ProbeRecipe:
    return ProbeRecipe(epochs=epochs or size.epochs, lr=size.lr, batch_size=size.batch_size)


def _stage(model: nn.Module, size: BenchSize, cache: FeatureCache, **kwargs: Any) -> ProbeStage:
    return ProbeStage(
        model,
        model.taps("paper"),
        kwargs.pop("recipe", _recipe(size)),
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
    stage = _stage(model, size, FeatureCache(work / "features"))
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
        per_layer = per_layer_probes(*args, _recipe(size), seed=size.seed, matched=True)
    with timed(seconds, "backbone_loop"):
        loop = backbone_loop_probes(
            model, stage.taps, data.train, data.test, data.n_classes, _recipe(size), size.seed
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


# -- memory case: child processes ------------------------------------------------------------


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
        stage = _stage(
            model,
            size,
            FeatureCache(None),
            recipe=_recipe(size, 1),
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
    stage = _stage(
        model,
        size,
        FeatureCache(spec["cache"]),
        recipe=_recipe(size, size.memory_epochs),
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
    from tunnellab.tools.bench import probe as module  # picklable by name also when run as __main__

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


# -- report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "head_threads": HEAD_THREADS,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def summarize(result: dict[str, Any], size: BenchSize, n_train: int, n_test: int) -> dict:
    """The headline numbers of ``probe.json`` from the measured ``result``."""
    s = result["seconds"]
    acc = {k: np.array(v) for k, v in result["acc_best"].items()}
    ref_per_layer = s["extract"] + s["per_layer_heads"]
    out: dict[str, Any] = {
        "extract_s": round(s["extract"], 3),
        "heads_s": round(s["heads"], 3),
        "tunnellab_s": round(s["tunnellab"], 3),
        "ref_per_layer_s": round(ref_per_layer, 3),
        "ref_per_layer_heads_s": round(s["per_layer_heads"], 3),
        "ref_backbone_loop_s": round(s["backbone_loop"], 3),
        "tunnellab_total_over_extract": round(s["tunnellab"] / s["extract"], 3),
        "speedup_vs_per_layer": round(ref_per_layer / s["tunnellab"], 2),
        "speedup_vs_per_layer_heads_only": round(s["per_layer_heads"] / s["heads"], 2),
        "speedup_vs_backbone_loop": round(s["backbone_loop"] / s["tunnellab"], 2),
        "max_acc_diff_vs_per_layer": round(
            100 * float(np.abs(acc["tunnellab"] - acc["per_layer"]).max()), 2
        ),
        "mean_acc_diff_vs_per_layer": round(
            100 * float(np.abs(acc["tunnellab"] - acc["per_layer"]).mean()), 2
        ),
        "max_acc_diff_vs_backbone_loop": round(
            100 * float(np.abs(acc["tunnellab"] - acc["backbone_loop"]).max()), 2
        ),
        # Two independent references (own seeds; fp32 features on the fly): the noise floor.
        "max_acc_diff_between_references": round(
            100 * float(np.abs(acc["per_layer"] - acc["backbone_loop"]).max()), 2
        ),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "rss_before_tunnellab_mb": round(result["rss_before_mb"], 1),
        "peak_rss_scope": result["peak_rss_scope"],
        "cpu_total_over_extract": round(s["tunnellab_cpu"] / s["extract_cpu"], 3),
        "cpu_speedup_vs_per_layer": round(
            (s["extract_cpu"] + s["per_layer_heads_cpu"]) / s["tunnellab_cpu"], 2
        ),
        "cpu_speedup_vs_backbone_loop": round(s["backbone_loop_cpu"] / s["tunnellab_cpu"], 2),
        "cpu_seconds": {k[:-4]: round(v, 3) for k, v in s.items() if k.endswith("_cpu")},
        "sizes": {
            "model": size.model,
            "width": size.width,
            "resolution": size.resolution,
            "classes": size.classes,
            "n_train": n_train,
            "n_test": n_test,
            "taps": len(result["tap_names"]),
            "epochs": size.epochs,
            "batch_size": size.batch_size,
            "lr": size.lr,
            "feature_dims": result["feature_dims"],
        },
        "accuracy": {"acc_best": result["acc_best"], "acc_last": result["acc_last"]},
        "tap_names": result["tap_names"],
    }
    return out


def check_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the issue: its value, threshold and whether it was met."""
    checks = {}
    for key, (op, threshold) in TARGETS.items():
        value = report[key]
        met = value >= threshold if op == ">=" else value <= threshold
        checks[key] = {"value": value, "target": f"{op} {threshold:g}", "met": bool(met)}
    memory = report.get("memory_case")
    if memory:
        ok = memory["within_budget"] and memory["equal_to_in_memory"]
        checks["memory_case"] = {
            "value": f"peak {memory['peak_rss_mb']} MB (baseline {memory['baseline_rss_mb']} MB)",
            "target": f"<= baseline + {memory['budget_mb']} MB budget, equal results",
            "met": bool(ok),
        }
    return checks


def render(report: dict[str, Any]) -> str:
    """The summary table printed at the end of the run."""
    acc = {k: float(np.mean(v)) for k, v in report["accuracy"]["acc_best"].items()}
    sz = report["sizes"]
    lines = [
        f"{sz['model']} width {sz['width']:g} at {sz['resolution']}², {sz['taps']} taps, "
        f"{sz['n_train']} train / {sz['n_test']} test images, {sz['epochs']} probe epochs, "
        f"{report['machine']['threads']} threads on {report['machine']['cpu_count']} cores "
        f"(shared machine, load {report['machine']['load_average_at_start'][0]})",
        "",
        f"{'method':<46}{'wall s':>9}{'cpu s':>9}{'speedup':>9}{'mean acc':>10}",
    ]
    cpu = report["cpu_seconds"]
    rows = [
        ("(a) per-layer, DataLoader (released CNN code)", report["ref_per_layer_s"],
         cpu["extract"] + cpu["per_layer_heads"], report["speedup_vs_per_layer"], "per_layer"),
        ("(b) backbone in the loop (released ViT code)", report["ref_backbone_loop_s"],
         cpu["backbone_loop"], report["speedup_vs_backbone_loop"], "backbone_loop"),
        ("(c) tunnellab: extraction + all heads", report["tunnellab_s"], cpu["tunnellab"], 1.0,
         "tunnellab"),
    ]  # fmt: skip
    for name, wall, cpu_s, speedup, key in rows:
        lines.append(f"{name:<46}{wall:>9.2f}{cpu_s:>9.2f}{speedup:>8.1f}x{acc[key]:>10.4f}")
    lines.append(f"{'    of which the extraction pass':<46}{report['extract_s']:>9.2f}")
    lines.append("")
    for key, check in report["targets"].items():
        mark = "met" if check["met"] else "MISSED"
        lines.append(f"  {key:<32} {check['value']!s:<40} target {check['target']:<12} {mark}")
    if report["sizes"]["n_train"] < 1000:
        lines.append("  (a --tiny run: too small for the targets to mean anything)")
    memory = report.get("memory_case")
    if memory:
        lines += [
            "",
            f"memory case: {memory['n_train']} images, features {memory['features_mb']} MB, "
            f"RAM budget {memory['budget_mb']} MB → streamed to files: "
            f"{memory['streamed_to_files']}",
            f"  peak RSS {memory['peak_rss_mb']} MB = baseline {memory['baseline_rss_mb']} MB "
            f"(python, torch, data, model, after a warm-up run) + "
            f"{memory['peak_over_baseline_mb']} MB; "
            f"in memory: {memory['in_memory_peak_rss_mb']} MB; "
            f"identical results: {memory['equal_to_in_memory']}",
        ]
    return "\n".join(lines)


def run_bench(size: BenchSize, out: Path, memory: bool = True) -> dict[str, Any]:
    """Run every part of the benchmark; write ``out/probe.json``; return the report."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine()
    torch.manual_seed(size.seed)
    data = lab_data(size)
    model = create_model(size.model, size.classes, width=size.width)
    train_acc = brief_pretrain(model, data.train, size.pretrain_epochs, size.seed)
    with tempfile.TemporaryDirectory(prefix="tunnellab-bench-") as tmp:
        work = Path(tmp)
        result = compare_methods(model, data, size, work)
        report = summarize(result, size, len(data.train), len(data.test))
        if memory:
            report["memory_case"] = memory_case(model, data, size, work, result["feature_dims"])
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report.update(machine=info, backbone_train_acc=round(train_acc, 4))
    report["targets"] = check_targets(report)
    report["bench_s"] = round(time.perf_counter() - started, 1)
    (out / "probe.json").write_text(json.dumps(report, indent=2))
    return report


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"))
    parser.add_argument("--tiny", action="store_true", help="seconds-long run (tests, CI)")
    parser.add_argument("--no-memory-case", action="store_true")
    parser.add_argument("--epochs", type=int, help="probe epochs (default 30)")
    parser.add_argument("--width", type=float, help="backbone width multiplier")
    parser.add_argument("--train-per-class", type=int)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads for every method (1)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    size = TINY if args.tiny else BenchSize()
    overrides = {
        "epochs": args.epochs,
        "width": args.width,
        "train_per_class": args.train_per_class,
    }
    size = dataclasses.replace(size, **{k: v for k, v in overrides.items() if v is not None})
    torch.set_num_threads(args.threads)
    report = run_bench(size, args.out, memory=not args.no_memory_case)
    print(render(report))
    print(f"\nwrote {args.out / 'probe.json'} ({report['bench_s']} s)")
    return report


def cli() -> None:
    """``tunnellab-bench``: :func:`main` as a console script (its report is not an exit code)."""
    main()


if __name__ == "__main__":
    main()
