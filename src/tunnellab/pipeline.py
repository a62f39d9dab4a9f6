"""One run, as plain functions: datasets → pretrain → extract + probe → metrics → files."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from tunnellab.analysis.curves import plot_tunnel_curves
from tunnellab.analysis.embeddings import embed_run
from tunnellab.atomic import atomic_write_text
from tunnellab.data.arrays import DatasetSplits
from tunnellab.data.input_diversity import input_diversity
from tunnellab.data.ood_suite import ood_entries
from tunnellab.disk import ensure_writable_dir
from tunnellab.distributed import is_rank_zero
from tunnellab.dynamics import check_kept_checkpoints, probe_over_training, write_dynamics
from tunnellab.errors import ConfigError
from tunnellab.instantiate import dataclass_from_node, instantiate_node
from tunnellab.metrics.representation import tap_diagnostics
from tunnellab.metrics.tap_diversity import tap_diversity
from tunnellab.models.registry import count_parameters
from tunnellab.pretrain.epoch_checkpoints import check_at_epochs, kept_epochs
from tunnellab.pretrain.launch import check_trainer
from tunnellab.pretrain.train import (
    BEST,
    CHECKPOINT_DIR,
    PRETRAINED,
    RANDOM_INIT,
    PretrainOutcome,
    build_backbone,
    load_backbone,
    pretrain,
)
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.controls import control_variants, probe_variants
from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.heads import ProbeRecipe
from tunnellab.probe.knn import KnnRecipe
from tunnellab.probe.scores import score_datasets, write_scores
from tunnellab.probe.stage import ProbeStage, resolve_device
from tunnellab.probe.variants import KNN, LINEAR, check_kinds, floor_curves, main_rows
from tunnellab.report import write_run_report
from tunnellab.result_tables import metric_rows, run_variables, variant_rows, write_tables
from tunnellab.run_identity import (
    DONE,
    check_backbone,
    claim_run_dir,
    config_hash,
    done_record,
    semantic,
)
from tunnellab.stages import enter_stage
from tunnellab.tracking.tracker import Tracker, start_tracker


@dataclass
class RunResult:
    """What a run produced: where, and the headline numbers."""

    run_dir: Path
    run_id: str
    checkpoint: Path | None
    backbone_id_accuracy: float
    probes: pd.DataFrame
    metrics: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    tracker_kind: str = "none"
    tracker_location: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    pretrain: PretrainOutcome | None = None
    skipped: bool = False


def instantiate_dataset(node: DictConfig) -> DatasetSplits:
    """Build a dataset from its config node; a user-fixable error surfaces as itself."""
    return instantiate_node(node)


def load_datasets(cfg: DictConfig) -> tuple[DatasetSplits, dict[str, DatasetSplits]]:
    """The ID dataset and the OOD suite, built by the ``_target_`` of each config node.

    OOD entries restricted to other ID datasets (``only_for`` / ``skip_for``) are left out.
    """
    enter_stage("loading data")
    id_data = instantiate_dataset(cfg.data)
    ood: dict[str, DatasetSplits] = {}
    for name, node in ood_entries(cfg).items():
        splits = instantiate_dataset(node)
        splits.name = str(name)
        ood[str(name)] = splits
    return id_data, ood


def _dataset_keys(cfg: DictConfig) -> dict[str, object]:
    """What identifies each dataset's images in the feature cache (not where they are cached)."""
    keys: dict[str, object] = {cfg.data.name: semantic(cfg.data)}
    for name, node in cfg.ood.datasets.items():
        keys[str(name)] = semantic(node)
    return keys


def _run_id(cfg: DictConfig) -> str:
    return f"{cfg.name}-{config_hash(cfg)}"


def _load_done(run_dir: Path, cfg: DictConfig) -> RunResult | None:
    """The finished result of an identical earlier run in ``run_dir``, if there is one."""
    done = run_dir / DONE
    if not done.is_file():
        return None
    info = json.loads(done.read_text())
    if info.get("config_hash") != config_hash(cfg):
        return None
    files = {k: Path(v) for k, v in info["files"].items()}
    return RunResult(
        run_dir=run_dir,
        run_id=info["run_id"],
        checkpoint=Path(info["checkpoint"]) if info.get("checkpoint") else None,
        backbone_id_accuracy=info["backbone_id_accuracy"],
        probes=pd.read_csv(files["probe_results"]),
        metrics=pd.read_csv(files["tunnel_metrics"]),
        files=files,
        skipped=True,
    )


def stage_for(cfg: DictConfig, run_dir: Path, model: nn.Module) -> ProbeStage:
    """The probe stage ``cfg.probe`` describes for ``model`` (taps, recipe, cache, device)."""
    probe_cfg = cfg.probe
    return ProbeStage(
        model=model,
        taps=model.taps(cfg.taps),
        recipe=dataclass_from_node(ProbeRecipe, probe_cfg),
        holdout_fraction=probe_cfg.holdout_fraction,
        holdout=probe_cfg.holdout,
        norm=cfg.data.get("norm", "imagenet"),
        seed=cfg.seed,
        device=resolve_device(probe_cfg.device),
        cache=FeatureCache(cfg.paths.cache_dir or run_dir / "features"),
        extract_batch_size=probe_cfg.extract_batch_size,
        ram_budget_gb=probe_cfg.ram_budget_gb,
        precision=probe_cfg.extract_precision,
    )


def probe_backbone(
    cfg: DictConfig,
    run_dir: Path,
    model: nn.Module,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    tracker: Tracker,
    checkpoint: Path | None = None,
) -> RunResult:
    """Probe every tap of ``model`` on ID and OOD data; write tables, the plot and the summary."""
    enter_stage("probing")
    started = time.perf_counter()
    probe_cfg = cfg.probe
    stage = stage_for(cfg, run_dir, model)
    keys = _dataset_keys(cfg)
    check_kinds(probe_cfg.kinds, probe_cfg.metrics_from)
    knn = KnnRecipe(k=probe_cfg.knn_k, temperature=probe_cfg.knn_temperature)
    variants = probe_variants(stage, id_data, ood_data, keys, probe_cfg.kinds, knn)
    report = next(v.report for v in variants if v.probe == probe_cfg.metrics_from)
    variables = run_variables(
        cfg,
        getattr(model, "meta", {}),
        count_parameters(model),
        len(id_data.train),
        id_diversity=run_input_diversity(cfg, id_data),
    )
    probes = variant_rows(variants, variables)
    if probe_cfg.diagnostics:
        id_train = stage.features(id_data, "train", keys.get(id_data.name, id_data.name))
        probes = with_diagnostics(probes, id_train, [t.name for t in stage.taps], cfg.seed)
        id_test = stage.features(id_data, "test", keys.get(id_data.name, id_data.name))
        probes = with_diversity(probes, id_test, cfg.seed)
    floors_started = time.perf_counter()
    controls = control_variants(
        probe_cfg.controls,
        stage,
        lambda: build_backbone(random_init_config(cfg)),
        lambda m: stage_for(cfg, run_dir, m),
        *(id_data, ood_data, keys, probe_cfg.kinds, knn, cfg.seed),
    )
    floors_s = time.perf_counter() - floors_started
    if controls:
        probes = pd.concat([probes, variant_rows(controls, variables)], ignore_index=True)
    metrics = metric_rows(report, variables, probe_cfg.accuracy)
    files = write_tables(run_dir, probes, metrics)
    if probe_cfg.get("scores"):  # training-free layer scores from the cached features
        scores = score_datasets(stage, id_data, ood_data, keys, list(probe_cfg.scores), cfg.seed)
        files.update(write_scores(run_dir, scores, variables["run_id"]))
    curve_column = f"acc_{metrics['accuracy'].iloc[0]}"
    files.update(_plot(run_dir, probes, metrics, curve_column, _title(cfg), probe_cfg.metrics_from))
    figures = {"curves": files["curves_png"]}
    if probe_cfg.get("embeddings", False):  # after every probe: t-SNE of cached test features
        main = main_rows(probes, probe_cfg.metrics_from)
        args = (main, metrics, curve_column, run_dir, cfg.seed, _title(cfg))
        files.update(embed_run(stage, id_data, ood_data, keys, *args))
        figures["embeddings"] = files["embeddings_png"]
    result = RunResult(
        run_dir=run_dir,
        run_id=variables["run_id"],
        checkpoint=checkpoint,
        backbone_id_accuracy=report.backbone_id_accuracy,
        probes=probes,
        metrics=metrics,
        files=files,
        tracker_kind=tracker.kind,
        tracker_location=tracker.location,
        seconds={
            "probe": time.perf_counter() - started,
            "knn": sum(v.seconds for v in variants if v.probe == KNN),
            "floors": floors_s,
        },
    )
    tracker.log_results(
        main_rows(probes, probe_cfg.metrics_from), metrics, headline(result), curve_column, figures
    )
    if checkpoint is not None:
        tracker.log_checkpoint(checkpoint)
    return result


def with_diagnostics(
    probes: pd.DataFrame, id_train: SplitFeatures, tap_names: list[str], seed: int
) -> pd.DataFrame:
    """``probes`` plus each tap's numerical rank and NC1 on ID training features (ID rows)."""
    diag = tap_diagnostics(
        id_train.features, id_train.labels, tap_names, max_samples=2048, seed=seed
    )
    diag = diag[["tap_index", "rank", "rank_fraction", "nc1"]].assign(role="id")
    return probes.merge(diag, on=["role", "tap_index"], how="left")


def run_input_diversity(cfg: DictConfig, id_data: DatasetSplits) -> float:
    """The run's ``id_diversity``: its ID training inputs (as augmented) in the fixed reference
    embedding (:func:`tunnellab.data.input_diversity.input_diversity`; own generators only)."""
    aug = cfg.aug
    return input_diversity(
        id_data,
        augmentation=aug.name,
        seed=cfg.seed,
        scale_min=aug.get("scale_min", 0.08),
        flip_p=aug.get("flip_p", 0.5),
    )


def with_diversity(probes: pd.DataFrame, id_test: SplitFeatures, seed: int) -> pd.DataFrame:
    """``probes`` plus each tap's Vendi score and effective rank on ID test features (ID rows)."""
    diversity = tap_diversity(id_test.features, seed=seed).assign(role="id")
    return probes.merge(diversity, on=["role", "tap_index"], how="left")


def _title(cfg: DictConfig) -> str:
    return (
        f"{cfg.model.name} (width {cfg.model.get('width', 1.0):g}) on {cfg.data.name}: "
        f"{cfg.data.classes} classes, {cfg.data.resolution}², aug={cfg.aug.name}, seed {cfg.seed}"
    )


def _plot(
    run_dir: Path,
    all_probes: pd.DataFrame,
    metrics: pd.DataFrame,
    column: str,
    title: str,
    kind: str = LINEAR,
) -> dict[str, Path]:
    probes = main_rows(all_probes, kind)
    id_rows = probes[probes["role"] == "id"].sort_values("tap_index")
    ood_curves = {
        name: rows.sort_values("tap_index")[column].tolist()
        for name, rows in probes[probes["role"] == "ood"].groupby("dataset", sort=False)
    }
    starts = {
        row.dataset: None if pd.isna(row.tunnel_start) else int(row.tunnel_start)
        for row in metrics.itertuples()
    }
    png, pdf = plot_tunnel_curves(
        id_rows[column].tolist(),
        ood_curves,
        id_rows["tap_name"].tolist(),
        run_dir / "curves.png",
        title=title,
        tunnel_starts=starts,
        id_label=f"ID ({id_rows['dataset'].iloc[0]})",
        floors=floor_curves(all_probes, column, kind),
    )
    return {"curves_png": png, "curves_pdf": pdf}


def headline(result: RunResult) -> dict[str, float | int | str | None]:
    """The summary values of a run (also the W&B run summary)."""
    out: dict[str, float | int | str | None] = {"id_accuracy": result.backbone_id_accuracy}
    for row in result.metrics.itertuples():
        out[f"{row.dataset}/retained"] = float(row.retained)
        out[f"{row.dataset}/tunnel_start"] = (
            None if pd.isna(row.tunnel_start) else int(row.tunnel_start)
        )
        out[f"{row.dataset}/pearson"] = float(row.pearson)
        out[f"{row.dataset}/strength"] = str(row.strength)
    out["mean_retained"] = float(result.metrics["retained"].mean())
    if "id_diversity" in result.metrics.columns:
        diversity = result.metrics["id_diversity"].iloc[0]
        out["id_diversity"] = None if pd.isna(diversity) else float(diversity)
    return out


@contextmanager
def tracked(cfg: DictConfig, run_dir: Path, job_type: str) -> Iterator[Tracker]:
    """A tracker for the run, finished (with the right exit code) however the block ends."""
    tracker = start_tracker(cfg, run_dir, _run_id(cfg), job_type)
    exit_code = 1
    try:
        yield tracker
        exit_code = 0
    finally:
        tracker.finish(exit_code)


def pin_cpu_threads(cfg: DictConfig) -> None:
    """``threads=N``: PyTorch's CPU intra-op threads for this job (CPU numbers depend on them)."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))


def _prepare(cfg: DictConfig, run_dir: Path) -> Path:
    pin_cpu_threads(cfg)
    check_at_epochs(cfg)
    run_dir = ensure_writable_dir(run_dir, "the run dir (hydra.run.dir)")
    check_cache_dirs(cfg)
    if is_rank_zero():  # one writer per run dir, also under DDP
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        _record_scheduler(run_dir)
    return run_dir


def check_cache_dirs(cfg: DictConfig) -> None:
    """The cache folders the config names can be written (checked before any work is done)."""
    if cfg.paths.get("cache_dir"):
        ensure_writable_dir(cfg.paths.cache_dir, "paths.cache_dir")
    if cfg.data.get("cache") and cfg.data.get("cache_dir"):
        ensure_writable_dir(cfg.data.cache_dir, "data.cache_dir")


def _record_scheduler(run_dir: Path) -> None:
    """``env.json``: the SLURM variables of the job (job id, array task, node) when under SLURM."""
    slurm = {k: v for k, v in sorted(os.environ.items()) if k.startswith("SLURM_")}
    if slurm:
        atomic_write_text(run_dir / "env.json", json.dumps({"slurm": slurm}, indent=2))


def run_pretrain(cfg: DictConfig, run_dir: Path) -> PretrainOutcome:
    """Only pretrain: the best checkpoint lands in ``<run dir>/checkpoints/best.ckpt``."""
    claim_run_dir(cfg, Path(run_dir), results=False)
    run_dir = _prepare(cfg, run_dir)
    check_trainer(cfg.trainer)  # before any data is loaded or a Trainer is built
    with tracked(cfg, run_dir, "pretrain") as tracker:
        return pretrain(cfg, run_dir, instantiate_dataset(cfg.data), tracker.lightning_loggers())


def random_init_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` with ``model.weights`` off: the random-init control never loads weights."""
    if not cfg.model.get("weights"):
        return cfg
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.model.weights = None
    return cfg


def probe_target(cfg: DictConfig, run_dir: Path) -> tuple[nn.Module, Path | None]:
    """The backbone to probe and its checkpoint: ``checkpoint=pretrained`` probes the model as its
    config builds it (e.g. timm weights from the local cache), ``random_init`` its random
    initialisation (on purpose), ``null`` the run dir's best."""
    if cfg.checkpoint == PRETRAINED:
        check_loads_weights(cfg.model)
    if cfg.checkpoint in (PRETRAINED, RANDOM_INIT):
        return build_backbone(cfg).eval(), None
    checkpoint = Path(cfg.checkpoint) if cfg.checkpoint else run_dir / CHECKPOINT_DIR / BEST
    return load_backbone(cfg, checkpoint), checkpoint


def check_loads_weights(model: DictConfig) -> None:
    """:class:`ConfigError` unless ``model`` loads pretrained weights (``model.weights``)."""
    if model.get("weights"):
        return
    how = (
        "model.weights is null"
        if "weights" in model
        else "it is one of tunnellab's own models, which are built untrained"
    )
    raise ConfigError(
        f"'checkpoint={PRETRAINED}' would probe randomly initialised weights: model "
        f"'{model.name}' loads none ({how}). Pass checkpoint=<run dir>/checkpoints/best.ckpt of "
        "a pretraining run, set model.weights=cache or model.weights=<file> (timm and "
        f"torchvision models), or checkpoint={RANDOM_INIT} to probe random weights on purpose."
    )


def run_probe(cfg: DictConfig, run_dir: Path) -> RunResult:
    """Only probe: ``cfg.checkpoint`` (default ``<run dir>/checkpoints/best.ckpt``, which must
    have been pretrained with this config)."""
    run_dir = Path(run_dir)
    if not cfg.checkpoint:
        check_backbone(cfg, run_dir, run_dir / CHECKPOINT_DIR / BEST)
    claim_run_dir(cfg, run_dir, backbone=False)
    model, checkpoint = probe_target(cfg, run_dir)
    run_dir = _prepare(cfg, run_dir)
    with tracked(cfg, run_dir, "probe") as tracker:
        started = time.perf_counter()
        id_data, ood_data = load_datasets(cfg)
        data_s = time.perf_counter() - started
        result = probe_backbone(cfg, run_dir, model, id_data, ood_data, tracker, checkpoint)
        result.seconds = {"data": data_s, **result.seconds}
        return result


def run(cfg: DictConfig, run_dir: Path) -> RunResult | None:
    """Pretrain then probe; returns the earlier result when ``run_dir`` already holds this run.

    In a multi-process (DDP) job every rank pretrains; only rank 0 probes and writes (the others
    return None). Work in ``run_dir`` made by another config is an error, or moved aside with
    ``overwrite=true`` (:func:`tunnellab.run_identity.claim_run_dir`).
    """
    run_dir = Path(run_dir)
    claim_run_dir(cfg, run_dir)
    if cfg.skip_if_done and (previous := _load_done(run_dir, cfg)) is not None:
        return previous
    run_dir = _prepare(cfg, run_dir)
    check_trainer(cfg.trainer)
    with tracked(cfg, run_dir, "run") as tracker:
        started = time.perf_counter()
        id_data, ood_data = load_datasets(cfg)
        data_s = time.perf_counter() - started
        outcome = pretrain(cfg, run_dir, id_data, tracker.lightning_loggers())
        if not is_rank_zero():
            return None
        pretrain_s = time.perf_counter() - started - data_s
        check_kept_checkpoints(cfg, run_dir)  # probe.at_epochs: before any probing
        model = load_backbone(cfg, outcome.checkpoint)
        result = probe_backbone(cfg, run_dir, model, id_data, ood_data, tracker, outcome.checkpoint)
        result.pretrain = outcome
        result.seconds = {"data": data_s, "pretrain": pretrain_s, **result.seconds}
        if kept_epochs(cfg):  # the tunnel over training, after the main probe (issue 18 §4)
            dynamics_started = time.perf_counter()
            final = main_rows(result.probes)  # the dynamics probes are linear, trained
            keys = _dataset_keys(cfg)
            table = probe_over_training(
                cfg, run_dir, model, final, id_data, ood_data, keys, stage_for
            )
            result.files.update(write_dynamics(run_dir, table, tracker, _title(cfg)))
            result.seconds["dynamics"] = time.perf_counter() - dynamics_started
        _mark_done(run_dir, cfg, result)
        if cfg.get("report", True):  # report=false: no report.html
            result.files["report"] = write_run_report(run_dir)
        return result


def _mark_done(run_dir: Path, cfg: DictConfig, result: RunResult) -> None:
    info = {
        **done_record(cfg, run_dir),
        "run_id": result.run_id,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "backbone_id_accuracy": result.backbone_id_accuracy,
        "files": {k: str(v) for k, v in result.files.items()},
        "seconds": result.seconds,
        "torch_threads": torch.get_num_threads(),
        "world_size": result.pretrain.world_size if result.pretrain else 1,
    }
    atomic_write_text(run_dir / DONE, json.dumps(info, indent=2))
