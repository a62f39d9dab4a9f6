"""The layer advisor: probe every tap of a backbone on your images and say which one to use.

Plain functions over the same pieces as a run: the backbone comes from ``probe_target`` (a
checkpoint, or weights as the model config loads them), features from the cached extraction
pass, probes from the all-taps trainer. Robustness re-evaluates the very same probes: training
does not depend on the test images, so re-running it (deterministic, cheap) with a transformed
test split scores the identical heads on it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, open_dict
from torch import nn

from tunnellab.advise.estimators import (
    TapAccuracies,
    agreement,
    layer_scores,
    subset_features,
    top_taps,
)
from tunnellab.advise.fit import assess_fit
from tunnellab.advise.nuisances import NUISANCES
from tunnellab.advise.report import Advice, write_advice
from tunnellab.advise.resolution import native_size, pretraining_resolution, resolutions_to_probe
from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.folders import readable_image_files
from tunnellab.errors import ConfigError
from tunnellab.metrics.tunnel import ood_retained, tunnel_start
from tunnellab.pipeline import instantiate_dataset, probe_target, stage_for, tracked
from tunnellab.pretrain.train import PRETRAINED, RANDOM_INIT
from tunnellab.probe.stage import ProbeStage
from tunnellab.run_identity import semantic
from tunnellab.stages import enter_stage


@dataclass
class AdviceResult:
    """The advice and where its files went."""

    advice: Advice
    files: dict[str, Path]
    run_dir: Path


def _with_resolution(cfg: DictConfig, resolution: int) -> DictConfig:
    other = copy.deepcopy(cfg)
    with open_dict(other):
        other.data.resolution = resolution
    return other


def _curves(
    stage: ProbeStage,
    data: DatasetSplits,
    test: ImageArrays,
    key: object,
    taps: list[int] | None = None,
) -> TapAccuracies:
    """Heads trained on ``data.train`` (every tap, or only the 1-based ``taps``), scored on
    ``test`` each epoch; NaN for the taps not probed."""
    train = stage.features(data, "train", key)
    test_split = DatasetSplits(name=data.name, train=data.train, test=test)
    test_features = stage.features(test_split, "test", key)
    n_taps = len(stage.taps)
    if taps is not None:
        train, test_features = subset_features(train, taps), subset_features(test_features, taps)
    curves = stage.train_heads(train, test_features, data.n_classes, desc=f"probe {data.name}")
    return TapAccuracies.from_curves(curves, taps or list(range(1, n_taps + 1)), n_taps)


def _probe_at(cfg: DictConfig, run_dir: Path) -> tuple[nn.Module, ProbeStage, DatasetSplits]:
    model, _ = probe_target(cfg, run_dir)
    return model, stage_for(cfg, run_dir, model), instantiate_dataset(cfg.data)


def _count_unreadable(cfg: DictConfig, data: DatasetSplits) -> int:
    """Files skipped when the folders were read, plus images that then failed to decode."""
    roots = [cfg.data.path] + ([cfg.data.test_path] if cfg.data.get("test_path") else [])
    unreadable = sum(len(readable_image_files(Path(r).expanduser())[1]) for r in roots)
    return unreadable + len(data.train.skipped) + len(data.test.skipped)


def _fit_args(cfg: DictConfig) -> tuple[int, int]:
    return int(cfg.advise.fit_samples), int(cfg.seed)


def advise(cfg: DictConfig, run_dir: Path) -> AdviceResult:
    """Probe, recommend, check resolution and robustness; write advice.md, layers.csv, plot."""
    run_dir = Path(run_dir)
    data_path = Path(cfg.data.path).expanduser()
    if not data_path.is_dir():
        raise ConfigError(
            f"'data.path={cfg.data.path}' is not a folder; point it at your images laid out as "
            "<path>/<class>/<image> (or <path>/train/<class>/ + <path>/test/<class>/)."
        )
    with tracked(cfg, run_dir, "advise") as tracker:
        enter_stage("advising")
        model, stage, data = _probe_at(cfg, run_dir)
        key = semantic(cfg.data)
        estimators, top_k = list(cfg.probe.get("scores") or []), int(cfg.advise.get("top_k", 0))
        if top_k and not estimators:
            raise ConfigError(
                f"'advise.top_k={top_k}' probes the taps the layer scores rank highest, but "
                "'probe.scores' is empty; name estimators (e.g. probe.scores=[logme,ncti]) or "
                "set advise.top_k=0 to probe every tap."
            )
        scores = (
            layer_scores(stage.features(data, "train", key), estimators, cfg.seed)
            if estimators
            else None
        )
        taps = top_taps(scores, top_k) if scores is not None and top_k else None
        clean = _curves(stage, data, data.test, key, taps)
        layers = pd.DataFrame(
            {
                "tap_index": np.arange(1, len(stage.taps) + 1),
                "tap_name": [t.name for t in stage.taps],
                "acc_best": clean.acc_best,
                "acc_last": clean.acc_last,
                "acc_selected": clean.acc_selected,
            }
        )
        nuisances = list(cfg.advise.nuisances)
        for name in nuisances:
            test = data.test
            shifted = ImageArrays(NUISANCES[name](test.images), test.labels, test.classes)
            curves = _curves(stage, data, shifted, {**key, "nuisance": name}, taps)
            layers[f"acc_{name}"] = curves.acc_selected
            layers[f"drop_{name}"] = layers["acc_selected"] - layers[f"acc_{name}"]

        named = cfg.checkpoint not in (None, PRETRAINED, RANDOM_INIT)
        checkpoint = cfg.checkpoint if named else None
        pretrain_res = pretraining_resolution(model, checkpoint)
        native = native_size(data_path)
        by_resolution = {cfg.data.resolution: float(np.nanmax(clean.acc_selected))}
        if cfg.advise.resolution_check:
            for r in resolutions_to_probe(cfg.data.resolution, pretrain_res, native)[1:]:
                try:
                    _, other_stage, other_data = _probe_at(_with_resolution(cfg, r), run_dir)
                except ConfigError as err:  # e.g. the backbone cannot run that small
                    tracker_note = f"skipped {r}²: {err}"
                    layers.attrs.setdefault("notes", []).append(tracker_note)
                    continue
                other_key = {**key, "resolution": r}
                curves = _curves(other_stage, other_data, other_data.test, other_key, taps)
                layers[f"acc_at_{r}"] = curves.acc_selected
                by_resolution[r] = float(np.nanmax(curves.acc_selected))

        selected = np.nan_to_num(clean.acc_selected, nan=-1.0)
        probed = np.flatnonzero(np.isfinite(clean.acc_best))  # every tap unless advise.top_k
        curve = np.clip(clean.acc_selected[probed], 0, 1)
        start = tunnel_start(curve)
        agreed = None
        if scores is not None:
            layers = layers.merge(scores, on="tap_index", how="left")
            agreed = agreement(layers, estimators, "acc_selected")
        recommended = int(np.argmax(selected)) + 1
        fit = assess_fit(stage, data, key, layers, recommended, checkpoint, *_fit_args(cfg))
        advice = Advice(
            model=str(cfg.model.name),
            data_path=str(data_path),
            layers=layers,
            recommended_tap=recommended,
            retained_last=ood_retained(curve),
            tunnel_start=None if start is None else int(probed[start - 1]) + 1,
            n_classes=data.n_classes,
            n_train=len(data.train),
            n_test=len(data.test),
            resolution=int(cfg.data.resolution),
            pretraining_resolution=pretrain_res,
            native_resolution=native,
            resolution_best=by_resolution if len(by_resolution) > 1 else {},
            nuisances=nuisances,
            skipped_images=_count_unreadable(cfg, data),
            fit=fit,
            agreement=agreed,
            probed_taps=taps,
        )
        files = write_advice(advice, run_dir)
        tracker.log_tables(
            {"advise/layers": layers},
            {
                "recommended_tap": advice.recommended_tap,
                "recommended_accuracy": float(advice.row(advice.recommended_tap)["acc_selected"]),
                "last_layer_retained": advice.retained_last,
            },
            {"advice": files["plot"]},
        )
    return AdviceResult(advice=advice, files=files, run_dir=run_dir)
