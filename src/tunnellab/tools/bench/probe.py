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

Writes ``probe.json`` into ``--out`` and prints a summary table. The parts: the setup and the
timed comparison (:mod:`~tunnellab.tools.bench.probe_harness`), the memory case and its child
processes (:mod:`~tunnellab.tools.bench.probe_memory`), the report
(:mod:`~tunnellab.tools.bench.probe_report`); this module runs them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tunnellab.models import create_model
from tunnellab.tools.bench.probe_harness import (
    TINY,
    BenchSize,
    brief_pretrain,
    compare_methods,
    lab_data,
)
from tunnellab.tools.bench.probe_memory import memory_case
from tunnellab.tools.bench.probe_report import check_targets, machine, render, summarize


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
