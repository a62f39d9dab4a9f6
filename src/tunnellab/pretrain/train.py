"""The pretraining stage: fit a backbone with Lightning, keep the best-validation checkpoint."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import Logger
from torch import nn

from tunnellab.atomic import atomic_write_text
from tunnellab.data.arrays import DatasetSplits
from tunnellab.errors import ConfigError
from tunnellab.instantiate import instantiate_node
from tunnellab.models.weights_io import check_fits, load_weights_file, state_dict_of
from tunnellab.pretrain.checkpoint_io import AtomicCheckpointIO
from tunnellab.pretrain.datamodule import ArraysDataModule
from tunnellab.pretrain.epoch_checkpoints import KeepEpochs, kept_epochs
from tunnellab.pretrain.module import BackboneClassifier
from tunnellab.run_identity import CHECKPOINT_DIR, claim_run_dir, record_backbone
from tunnellab.stages import enter_stage

log = logging.getLogger("tunnellab")

BEST = "best.ckpt"
LAST = "last.ckpt"
DONE = "pretrain.json"
PRETRAINED = "pretrained"  # checkpoint=pretrained: probe the weights the model config loads
RANDOM_INIT = "random_init"  # checkpoint=random_init: probe the untrained model, on purpose


@dataclass
class PretrainOutcome:
    """Where the best checkpoint is and how good it was on the validation split."""

    checkpoint: Path
    best_val_acc: float
    epochs_run: int
    resumed: bool = False
    skipped: bool = False
    world_size: int = 1  # DDP processes that trained it


def build_backbone(cfg: DictConfig) -> nn.Module:
    """The backbone ``cfg.model`` describes, randomly initialised and checked at the resolution."""
    model: nn.Module = instantiate_node(cfg.model)
    check_resolution_fits(model, cfg.model.name, cfg.data.resolution)
    return model


def check_resolution_fits(model: nn.Module, name: str, resolution: int) -> None:
    """Raise :class:`ConfigError` when ``model`` cannot run on ``resolution``² images."""
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, resolution, resolution))
    except RuntimeError as err:
        raise ConfigError(
            f"'data.resolution={resolution}' is too small for model '{name}' "
            f"({str(err).splitlines()[0]}); use a larger data.resolution or another model "
            "(VGGm's five max-pools need at least 32)."
        ) from None
    finally:
        model.train(was_training)


def load_backbone(cfg: DictConfig, checkpoint: str | Path) -> nn.Module:
    """The backbone with the weights of a pretraining checkpoint (Lightning or plain state dict)."""
    path = Path(checkpoint)
    expected = "<run dir>/checkpoints/best.ckpt of a finished pretraining run, or a state dict"
    weights = state_dict_of(load_weights_file(path, "checkpoint", expected), f"'checkpoint={path}'")
    model = build_backbone(cfg)
    trained_classes = _head_classes(model, weights)
    if trained_classes is not None and trained_classes != cfg.model.num_classes:
        # Probes never use the classifier: build it the size the checkpoint was trained with.
        cfg = copy.deepcopy(cfg)
        with open_dict(cfg):
            cfg.model.num_classes = trained_classes
        model = build_backbone(cfg)
    check_fits(model, weights, path, "checkpoint", cfg.model.name)
    model.load_state_dict(weights)
    return model.eval()


def _head_classes(model: nn.Module, weights: dict[str, torch.Tensor]) -> int | None:
    """The class count of the checkpoint's classifier (``model.head``), if it has one."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        return None
    name = next((n for n, p in model.named_parameters() if p is head.weight), None)
    return int(weights[name].shape[0]) if name in weights else None


def per_device_batch(global_batch: int, processes: int) -> int:
    """Each process's share of ``optim.batch_size`` (the global batch) over ``processes``."""
    if global_batch % processes:
        raise ConfigError(
            f"'optim.batch_size={global_batch}' is the global batch and must split evenly over "
            f"the {processes} training processes (trainer.devices x trainer.num_nodes); use a "
            f"multiple of {processes}, or another device count."
        )
    return global_batch // processes


def quiet_lightning() -> None:
    """Drop Lightning's start-up chatter (accelerator lines, tips, a known deprecation warning)."""
    for name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*litlogger.*")
    # Where SLURM is installed but a job runs outside it (a login node, make test-slurm's machine);
    # hydra/launcher=slurm starts its tasks through srun already.
    warnings.filterwarnings("ignore", message=r".*The `srun` command is available.*")


def fit(
    trainer: pl.Trainer, module: pl.LightningModule, data: pl.LightningDataModule, ckpt: str | None
) -> None:
    """``trainer.fit``; Ctrl-C comes out as :class:`KeyboardInterrupt`.

    Lightning catches the interrupt itself, stops and exits with status 1 (older versions carry
    on, with ``trainer.interrupted`` set): either way the caller must not go on to probe.
    """
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True)
    except SystemExit:
        if not trainer.interrupted:
            raise
    if trainer.interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores a 2nd Ctrl-C
        raise KeyboardInterrupt


def pretrain(
    cfg: DictConfig, run_dir: Path, id_data: DatasetSplits, loggers: list[Logger]
) -> PretrainOutcome:
    """Train ``cfg.model`` on ``id_data`` with ``cfg.optim``; resumes from ``last.ckpt``.

    Checkpoints are reused or resumed only when ``checkpoints/identity.json`` says this config
    made them (see :mod:`tunnellab.run_identity`). Ctrl-C stops training at once:
    :class:`KeyboardInterrupt` is raised (never a half-trained model handed on), and the same
    command resumes from ``last.ckpt``.
    """
    enter_stage("pretraining")
    ckpt_dir = run_dir / CHECKPOINT_DIR
    done = ckpt_dir / DONE
    claim_run_dir(cfg, run_dir, results=False)
    identity = record_backbone(cfg, run_dir)
    # identity.json sits in the checkpoint dir from the start: not a sign of another run's files.
    warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
    if done.is_file() and (ckpt_dir / BEST).is_file():
        info = json.loads(done.read_text())
        return PretrainOutcome(
            ckpt_dir / BEST,
            info["best_val_acc"],
            info["epochs_run"],
            skipped=True,
            world_size=info.get("world_size", 1),
        )

    quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = BackboneClassifier(
        build_backbone(cfg),
        n_classes=id_data.n_classes,
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        warmup_epochs=cfg.optim.warmup_epochs,
        warmup_start_factor=cfg.optim.warmup_start_factor,
        label_smoothing=cfg.optim.label_smoothing,
        decay=cfg.optim.decay,
    )
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/acc", mode="max")
    # Written after every epoch whatever the score (save_last only follows the monitored saves),
    # so a killed or pre-empted run loses at most one epoch.
    latest = ModelCheckpoint(
        dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False
    )
    callbacks = [checkpoint, latest]
    if kept_epochs(cfg):  # probe.at_epochs: checkpoints/epoch_<k>.ckpt for the tunnel over training
        callbacks.append(KeepEpochs(run_dir, kept_epochs(cfg)))
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        max_epochs=cfg.optim.epochs,
        default_root_dir=str(run_dir),
        logger=loggers or False,
        callbacks=callbacks,
        use_distributed_sampler=False,  # the samplers shard themselves under DDP
        plugins=[AtomicCheckpointIO()],
    )
    data = ArraysDataModule(
        id_data,
        batch_size=per_device_batch(cfg.optim.batch_size, trainer.num_devices * trainer.num_nodes),
        augmentation=cfg.aug.name,
        scale_min=cfg.aug.scale_min,
        flip_p=cfg.aug.flip_p,
        seed=cfg.seed,
        norm=cfg.data.get("norm", "imagenet"),
        repeated_aug=cfg.optim.repeated_aug,
    )
    resume = ckpt_dir / LAST
    resumed = resume.is_file()
    if resumed:
        log.info("resuming pretraining from %s", resume)
    try:
        fit(trainer, module, data, str(resume) if resumed else None)
    except pickle.UnpicklingError as err:  # resume reads tensors only: the file asked for more
        raise ConfigError(
            f"'{resume}' is not a checkpoint this project wrote: loading it would run code "
            f"({str(err).splitlines()[0][:160]}); nothing was run. Move it away (or pass "
            "overwrite=true) to pretrain afresh."
        ) from None
    best_val = (
        float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else 0.0
    )
    outcome = PretrainOutcome(
        Path(checkpoint.best_model_path),
        best_val,
        trainer.current_epoch,
        resumed=resumed,
        world_size=trainer.world_size,
    )
    if trainer.is_global_zero:
        info = {"best_val_acc": best_val, "epochs_run": outcome.epochs_run, "identity": identity}
        info |= {"world_size": outcome.world_size, "batch_size_per_device": data.batch_size}
        atomic_write_text(done, json.dumps(info))
    return outcome
