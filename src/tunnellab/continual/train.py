"""One training phase of the continual stage (plain PyTorch), resumable epoch by epoch."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tunnellab.continual.mixing import MixingRecipe, SeededMixup, soft_cross_entropy
from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.errors import ConfigError
from tunnellab.models.taps import Tap, pool_feature
from tunnellab.pretrain.datamodule import ArraysDataModule
from tunnellab.pretrain.recipe import build_optimizer, build_scheduler

log = logging.getLogger("tunnellab")
SCHEDULES = ("cosine", "step")


@dataclass(frozen=True)
class PhaseRecipe:
    """AdamW with warm-up + cosine per step (``cosine``) or ×``gamma`` at ``milestones`` epochs."""

    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.01
    milestones: tuple[int, ...] = field(default_factory=tuple)
    gamma: float = 0.1


@dataclass(frozen=True)
class AugSpec:
    """The batch augmentation of training images (``aug`` group) and the input normalisation."""

    name: str = "none"
    scale_min: float = 0.08
    flip_p: float = 0.5
    norm: str = "imagenet"


class _Stop(Exception):
    """Raised by the tap hook to end a forward pass early."""


class ExtractorHead(nn.Module):
    """``model`` run up to a tap, the reading pooled, then a linear head: the extractor alone."""

    def __init__(self, model: nn.Module, tap: Tap, n_classes: int, width: int) -> None:
        super().__init__()
        self.model = model
        self.tap = tap
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled reading at the tap (the model stops there)."""
        module = self.model.get_submodule(self.tap.module)
        seen: list[torch.Tensor] = []

        def hook(_m, args, output=None):
            seen.append(args[0] if self.tap.side == "input" else output)
            raise _Stop

        handle = (
            module.register_forward_pre_hook(hook)
            if self.tap.side == "input"
            else module.register_forward_hook(hook)
        )
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        return pool_feature(seen[0], self.tap.pool)


def freeze_all_but(model: nn.Module, trainable: Iterable[str]) -> list[nn.Parameter]:
    """Only the parameters named in ``trainable`` get gradients; the rest are frozen."""
    names = set(trainable)
    params = []
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
        if name in names:
            params.append(param)
    return params


def _train_mode(model: nn.Module) -> None:
    """Train mode, except modules whose own parameters are all frozen (their BN stats stay)."""
    model.train()
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if own and not any(p.requires_grad for p in own):
            module.eval()


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def train_phase(
    model: nn.Module,
    trainable: Iterable[str],
    data: DatasetSplits,
    recipe: PhaseRecipe,
    mixing: MixingRecipe | None,
    label_smoothing: float,
    aug: AugSpec,
    seed: int,
    device: torch.device,
    resume_file: Path,
) -> nn.Module:
    """Train the ``trainable`` parameters of ``model`` on ``data.train``; resumes from
    ``resume_file`` (written after every epoch). Returns the model on the CPU, in eval mode."""
    if recipe.schedule not in SCHEDULES:
        raise ConfigError(f"'schedule={recipe.schedule}' is not one of {SCHEDULES}.")
    params = freeze_all_but(model, trainable)
    model.to(device)
    optimizer = build_optimizer(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    dm = ArraysDataModule(
        data, recipe.batch_size, aug.name, aug.scale_min, aug.flip_p, seed=seed, norm=aug.norm
    )
    loader = dm.train_dataloader()
    steps = max(1, len(loader))
    if recipe.schedule == "cosine":
        scheduler = build_scheduler(
            optimizer, steps, recipe.epochs, recipe.warmup_epochs, recipe.warmup_start_factor
        )
    else:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, list(recipe.milestones), recipe.gamma
        )
    mixer = SeededMixup(mixing, data.n_classes, seed) if mixing else None
    start = 0
    if resume_file.is_file():
        state = torch.load(resume_file, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if mixer is not None:
            mixer.load_state(state["mixer"])
        start = int(state["epoch"])
        log.info("resuming %s at epoch %d", resume_file.name, start)
    for epoch in range(start, recipe.epochs):
        dm.sampler.set_epoch(epoch)
        _train_mode(model)
        total, count = 0.0, 0
        for images, labels in loader:
            images, labels = normalize(images, aug.norm).to(device), labels.to(device)
            if mixer is not None:
                images, targets = mixer(images, labels)
                loss = soft_cross_entropy(model(images), targets)
            else:
                loss = F.cross_entropy(model(images), labels, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if recipe.schedule == "cosine":
                scheduler.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        if recipe.schedule == "step":
            scheduler.step()
        log.info("%s epoch %d: loss %.4f", resume_file.stem, epoch + 1, total / max(1, count))
        payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        payload |= {"scheduler": scheduler.state_dict(), "epoch": epoch + 1}
        payload["mixer"] = mixer.state() if mixer is not None else None
        _save(resume_file, payload)
    for param in model.parameters():
        param.requires_grad_(True)
    return model.cpu().eval()


@torch.no_grad()
def accuracy(
    model: nn.Module, arrays: ImageArrays, norm: str, batch_size: int, device: torch.device
) -> float:
    """Top-1 of ``model`` on ``arrays`` (a fraction), in eval mode."""
    model.to(device).eval()
    correct = 0
    for start in range(0, len(arrays), batch_size):
        images = normalize(arrays.images[start : start + batch_size], norm).to(device)
        labels = arrays.labels[start : start + batch_size].to(device)
        correct += int((model(images).argmax(dim=1) == labels).sum())
    model.cpu()
    return correct / max(1, len(arrays))


def tap_width(model: nn.Module, tap: Tap, resolution: int) -> int:
    """Width of the pooled reading at ``tap`` for ``resolution``² inputs."""
    was = model.training
    with torch.no_grad():
        width = ExtractorHead(model.eval(), tap, 1, 1).features(
            torch.zeros(1, 3, resolution, resolution)
        )
    model.train(was)
    return int(width.shape[1])
