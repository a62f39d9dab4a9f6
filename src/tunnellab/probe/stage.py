"""The probe stage: extract every tap once per split, then train all linear heads per dataset.

A split whose features exceed ``ram_budget_gb`` is streamed to memory-mapped files (in the cache
directory) and the heads read it minibatch by minibatch; otherwise it is held in RAM. Both give
the same numbers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tunnellab.data.arrays import DatasetSplits, stratified_split
from tunnellab.errors import ConfigError
from tunnellab.models.taps import Tap, tap_dims
from tunnellab.probe.cache import FeatureCache, cache_key, model_fingerprint
from tunnellab.probe.extract import extract_features, resolve_precision
from tunnellab.probe.features import FeatureSink, SplitFeatures, feature_bytes
from tunnellab.probe.heads import ProbeCurves, ProbeRecipe, train_linear_probes


@dataclass
class DatasetProbe:
    """Probe accuracies of every tap on one dataset."""

    name: str
    role: str  # "id" or "ood"
    n_classes: int
    n_train: int
    n_test: int
    curves: ProbeCurves


@dataclass
class ProbeReport:
    """Everything the probe stage measured for one backbone."""

    taps: list[Tap]
    id_probe: DatasetProbe
    ood_probes: list[DatasetProbe]
    backbone_id_accuracy: float


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` on a machine without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"'probe.device={device}' needs a CUDA GPU, and this machine has none that PyTorch "
            "can use; use probe.device=auto (a GPU when there is one) or probe.device=cpu."
        )
    return torch.device(device)


GB = 10**9
MIN_PAGE_WINDOW = 8 << 20  # mapped pages a streaming probe may hold before releasing them


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


HOLDOUT_MODES = ("shared", "separate", "none")


class ProbeStage:
    """Probes one backbone on several datasets, sharing the extraction cache.

    ``holdout``: ``shared`` trains one head bank on probe-train minus its held-out
    ``holdout_fraction`` (acc_best / last / selected all from it); ``separate`` trains the bank
    that gives acc_best / last on all of probe-train and a second bank on the split for
    acc_selected only (the paper's protocol keeps its numbers); ``none`` trains on all of it
    and has no acc_selected. ``norm`` names the input mean/std (``NORM_STATS``).
    ``seconds`` / ``cpu_seconds`` accumulate the wall / process CPU time spent extracting (or
    loading) features and training heads.
    """

    def __init__(
        self,
        model: nn.Module,
        taps: list[Tap],
        recipe: ProbeRecipe,
        holdout_fraction: float,
        seed: int,
        device: torch.device,
        cache: FeatureCache,
        extract_batch_size: int = 256,
        ram_budget_gb: float = 8.0,
        precision: str = "auto",
        holdout: str = "shared",
        norm: str = "imagenet",
    ) -> None:
        if holdout not in HOLDOUT_MODES:
            raise ValueError(f"holdout must be one of {HOLDOUT_MODES}, got {holdout!r}")
        self.model = model
        self.taps = taps
        self.recipe = recipe
        self.holdout = holdout
        self.norm = norm
        self.holdout_fraction = holdout_fraction
        self.seed = seed
        self.device = device
        self.cache = cache
        self.extract_batch_size = extract_batch_size
        self.ram_budget_bytes = int(ram_budget_gb * GB)
        self.precision = resolve_precision(precision, torch.device(device))
        self.seconds: dict[str, float] = {"extract": 0.0, "heads": 0.0}
        self.cpu_seconds: dict[str, float] = {"extract": 0.0, "heads": 0.0}
        self._fingerprint = model_fingerprint(model)
        self._dims: dict[int, list[int]] = {}
        # The splits read last, kept in RAM (up to half the budget) for the later readers of
        # the same features: kNN, floors, diagnostics, scores, embeddings, the advisor.
        self._kept: OrderedDict[str, SplitFeatures] = OrderedDict()

    def tap_dims(self, resolution: int) -> list[int]:
        """Every tap's feature width at ``resolution`` (one dry forward, remembered)."""
        if resolution not in self._dims:
            self._dims[resolution] = tap_dims(self.model, self.taps, resolution)
        return self._dims[resolution]

    def streams(self, nbytes: int) -> bool:
        """Whether features of ``nbytes`` go to memory-mapped files (over the RAM budget)."""
        return nbytes > self.ram_budget_bytes

    def features(self, splits: DatasetSplits, split: str, dataset_key: object) -> SplitFeatures:
        """The split's tap features, from the cache or one extraction pass."""
        arrays = getattr(splits, split)
        key = cache_key(
            model=self._fingerprint,
            dataset=dataset_key,
            split=split,
            n=len(arrays),
            resolution=arrays.resolution,
            taps=[(t.name, t.module, t.side, t.pool, t.transform) for t in self.taps],
            precision=self.precision,
            norm=self.norm,
        )

        if (kept := self._kept.get(key)) is not None:
            self._kept.move_to_end(key)
            self.cache.hits += 1  # a cache hit that skips reading the file again
            return kept

        def compute(sink: FeatureSink) -> SplitFeatures:
            return extract_features(
                self.model,
                self.taps,
                arrays,
                batch_size=self.extract_batch_size,
                device=self.device,
                desc=f"extract {splits.name}/{split}",
                sink=sink,
                precision=self.precision,
                norm=self.norm,
            )

        started = _clocks()
        result = self.cache.get_or_compute(
            key,
            compute,
            streams=self.streams,
            estimate_bytes=lambda: feature_bytes(len(arrays), self.tap_dims(arrays.resolution)),
        )
        self._account("extract", started)
        self._keep(key, result)
        return result

    def _keep(self, key: str, result: SplitFeatures) -> None:
        """Remember an in-RAM split; the oldest go once they pass half the RAM budget."""
        if result.mapped:  # memory-mapped splits page themselves in and out
            return
        self._kept[key] = result
        while (
            self._kept and sum(f.nbytes for f in self._kept.values()) > self.ram_budget_bytes // 2
        ):
            self._kept.popitem(last=False)

    def _account(self, part: str, started: tuple[float, float]) -> None:
        wall, cpu = _clocks()
        self.seconds[part] += wall - started[0]
        self.cpu_seconds[part] += cpu - started[1]

    def held_out(self, labels: torch.Tensor) -> np.ndarray | None:
        """The held-out part of a probe-train split (None with ``holdout='none'`` or fraction 0)."""
        if self.holdout == "none":
            return None
        return holdout_indices(labels, self.holdout_fraction, self.seed)

    def train_heads(
        self, train: SplitFeatures, test: SplitFeatures, n_classes: int, desc: str = "probes"
    ) -> ProbeCurves:
        """All heads trained on ``train`` (per ``holdout``), scored on ``test`` per epoch.

        Training never sees ``test``: the same ``train`` with another ``test`` gives the same heads.
        """
        started = _clocks()
        held_out = self.held_out(train.labels)
        if self.holdout == "separate":
            curves = self._bank(train, test, n_classes, None, desc)
            if held_out is not None:
                selection = self._bank(train, test, n_classes, held_out, f"{desc} (selection)")
                curves = curves.with_selection(selection)
        else:
            curves = self._bank(train, test, n_classes, held_out, desc)
        self._account("heads", started)
        return curves

    def _bank(
        self,
        train: SplitFeatures,
        test: SplitFeatures,
        n_classes: int,
        held_out: np.ndarray | None,
        desc: str,
    ) -> ProbeCurves:
        return train_linear_probes(
            train,
            train.labels,
            test,
            test.labels,
            n_classes=n_classes,
            recipe=self.recipe,
            holdout_index=held_out,
            seed=self.seed,
            device=self.device,
            desc=desc,
            window_bytes=max(MIN_PAGE_WINDOW, self.ram_budget_bytes // 4),
        )

    def probe(
        self, splits: DatasetSplits, role: str, dataset_key: object
    ) -> tuple[DatasetProbe, SplitFeatures]:
        """Train and evaluate all heads on one dataset; also returns the test features."""
        train = self.features(splits, "train", dataset_key)
        test = self.features(splits, "test", dataset_key)
        curves = self.train_heads(train, test, splits.n_classes, desc=f"probe {splits.name}")
        held_out = self.held_out(train.labels) if self.holdout == "shared" else None
        probe = DatasetProbe(
            name=splits.name,
            role=role,
            n_classes=splits.n_classes,
            n_train=len(train.labels) - (0 if held_out is None else len(held_out)),  # acc_best's
            n_test=len(test.labels),
            curves=curves,
        )
        return probe, test


def run_probe_stage(
    stage: ProbeStage,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
) -> ProbeReport:
    """Probe the ID dataset and every OOD dataset; the ID test pass gives the backbone's top-1."""
    id_probe, id_test = stage.probe(id_data, "id", dataset_keys.get(id_data.name, id_data.name))
    ood_probes = [
        stage.probe(splits, "ood", dataset_keys.get(name, name))[0]
        for name, splits in ood_data.items()
    ]
    return ProbeReport(
        taps=stage.taps,
        id_probe=id_probe,
        ood_probes=ood_probes,
        backbone_id_accuracy=id_test.backbone_accuracy(),
    )


def holdout_indices(labels: torch.Tensor, fraction: float, seed: int) -> np.ndarray | None:
    """Indices of the held-out part of a probe-train split (None when ``fraction`` is 0)."""
    if fraction <= 0:
        return None
    return stratified_split(labels.numpy(), fraction, seed)[1]
