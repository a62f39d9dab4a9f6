"""Every probe a run makes besides its trained linear probes: kNN probes and the two floors.

- ``probe.kinds``: linear heads (:mod:`tunnellab.probe.heads`) and / or kNN probes
  (:mod:`tunnellab.probe.knn`) on the same cached features.
- ``probe.controls``: ``random_init`` probes a randomly initialised copy of the backbone (same
  architecture and taps, init seeded from the run's seed under :func:`torch.random.fork_rng`, so
  the global random stream is untouched) on ID and OOD data with the same engine; its features get
  their own cache entries (the key hashes the weights). ``shuffled_labels`` probes the trained
  backbone's ID taps with the probe-train labels permuted by a seeded generator.

Each result is a :class:`Variant`; ``tunnellab.result_tables.variant_rows`` makes rows of them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tunnellab.data.arrays import DatasetSplits
from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.knn import KnnRecipe, knn_accuracies, knn_curves
from tunnellab.probe.stage import DatasetProbe, ProbeReport, ProbeStage, run_probe_stage
from tunnellab.probe.variants import (
    KNN,
    LINEAR,
    NO_CONTROL,
    RANDOM_INIT,
    SHUFFLED_LABELS,
    TRAINED,
)

SHUFFLE_STREAM = 7_919  # offsets the run's seed for the label permutation
RANDOM_INIT_STREAM = 104_729  # ... and for the random-init copy's weights


@dataclass
class Variant:
    """One probe kind on one backbone under one control, and what it measured."""

    backbone: str
    control: str
    probe: str
    report: ProbeReport
    seconds: float = 0.0  # wall time of its probes (and of extraction, for the first kind)


def knn_report(
    stage: ProbeStage,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
    recipe: KnnRecipe,
) -> ProbeReport:
    """kNN probes of every tap of ``stage``'s backbone on ID and every OOD dataset."""
    probes, id_test = [], None
    for splits, role in [(id_data, "id"), *((s, "ood") for s in ood_data.values())]:
        key = dataset_keys.get(splits.name, splits.name)
        train = stage.features(splits, "train", key)
        test = stage.features(splits, "test", key)
        acc = knn_accuracies(train, test, splits.n_classes, recipe, stage.device)
        probes.append(_dataset_probe(splits, role, train, test, knn_curves(acc)))
        id_test = test if id_test is None else id_test
    return ProbeReport(
        taps=stage.taps,
        id_probe=probes[0],
        ood_probes=probes[1:],
        backbone_id_accuracy=id_test.backbone_accuracy(),
    )


def _dataset_probe(
    splits: DatasetSplits, role: str, train: SplitFeatures, test: SplitFeatures, curves
) -> DatasetProbe:
    return DatasetProbe(
        name=splits.name,
        role=role,
        n_classes=splits.n_classes,
        n_train=len(train.labels),
        n_test=len(test.labels),
        curves=curves,
    )


def probe_variants(
    stage: ProbeStage,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
    kinds: Sequence[str],
    knn: KnnRecipe,
    backbone: str = TRAINED,
) -> list[Variant]:
    """Every probe kind of ``kinds`` on ``stage``'s backbone (linear first, the engine's order)."""
    out = []
    if LINEAR in kinds:
        started = time.perf_counter()
        report = run_probe_stage(stage, id_data, ood_data, dataset_keys)
        out.append(Variant(backbone, NO_CONTROL, LINEAR, report, time.perf_counter() - started))
    if KNN in kinds:
        started = time.perf_counter()
        report = knn_report(stage, id_data, ood_data, dataset_keys, knn)
        out.append(Variant(backbone, NO_CONTROL, KNN, report, time.perf_counter() - started))
    return out


def shuffled_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """``labels`` permuted by a generator seeded from ``seed`` (class counts unchanged)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + SHUFFLE_STREAM)
    return labels[torch.randperm(len(labels), generator=generator)]


def shuffled_variants(
    stage: ProbeStage,
    id_data: DatasetSplits,
    dataset_key: object,
    kinds: Sequence[str],
    knn: KnnRecipe,
    seed: int,
) -> list[Variant]:
    """ID probes of every kind trained on shuffled probe-train labels, scored on true labels."""
    train = copy.copy(stage.features(id_data, "train", dataset_key))
    test = stage.features(id_data, "test", dataset_key)
    train.labels = shuffled_labels(train.labels, seed)
    out = []
    for kind in kinds:
        if kind == LINEAR:
            curves = stage.train_heads(train, test, id_data.n_classes, desc="probe shuffled")
            probe = _dataset_probe(id_data, "id", train, test, curves)
            if stage.holdout == "shared" and (held_out := stage.held_out(train.labels)) is not None:
                probe.n_train -= len(held_out)
        else:
            acc = knn_accuracies(train, test, id_data.n_classes, knn, stage.device)
            probe = _dataset_probe(id_data, "id", train, test, knn_curves(acc))
        report = ProbeReport(stage.taps, probe, [], test.backbone_accuracy())
        out.append(Variant(TRAINED, SHUFFLED_LABELS, kind, report))
    return out


def random_init_variants(
    build: Callable[[], nn.Module],
    make_stage: Callable[[nn.Module], ProbeStage],
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
    kinds: Sequence[str],
    knn: KnnRecipe,
    seed: int,
) -> list[Variant]:
    """Every probe kind on a randomly initialised copy of the backbone (``build()``), whose init
    is seeded from ``seed`` without touching the global random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1_000_003 + RANDOM_INIT_STREAM)
        model = build().eval()
    stage = make_stage(model)
    return probe_variants(stage, id_data, ood_data, dataset_keys, kinds, knn, RANDOM_INIT)


def control_variants(
    controls: Sequence[str],
    stage: ProbeStage,
    build: Callable[[], nn.Module],
    make_stage: Callable[[nn.Module], ProbeStage],
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
    kinds: Sequence[str],
    knn: KnnRecipe,
    seed: int,
) -> list[Variant]:
    """The floors ``controls`` asks for (``random_init``, ``shuffled_labels``), in that order."""
    out = []
    with torch.random.fork_rng(devices=[]):  # nothing here may move the global stream
        if RANDOM_INIT in controls:
            out += random_init_variants(
                build, make_stage, id_data, ood_data, dataset_keys, kinds, knn, seed
            )
        if SHUFFLED_LABELS in controls:
            key = dataset_keys.get(id_data.name, id_data.name)
            out += shuffled_variants(stage, id_data, key, kinds, knn, seed)
    return out
