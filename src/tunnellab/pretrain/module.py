"""LightningModule that pretrains a backbone with the paper's recipe."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from tunnellab.pretrain.recipe import build_optimizer, build_scheduler, decay_groups


class BackboneClassifier(pl.LightningModule):
    """Cross-entropy with label smoothing; logs ``train/loss``, ``train/acc``, ``val/acc``.

    ``decay`` picks which parameters AdamW decays (:func:`~tunnellab.pretrain.recipe.decay_groups`).
    """

    def __init__(
        self,
        model: nn.Module,
        n_classes: int,
        lr: float,
        weight_decay: float,
        warmup_epochs: float,
        warmup_start_factor: float,
        label_smoothing: float,
        decay: str = "all",
    ) -> None:
        super().__init__()
        self.model = model
        self.save_hyperparameters(ignore=["model"])
        self.train_acc = MulticlassAccuracy(num_classes=n_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=n_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=n_classes, average="micro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.val_acc(self(x), y)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_acc(self(x), y)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        groups = decay_groups(self.model, self.hparams.weight_decay, self.hparams.decay)
        optimizer = build_optimizer(
            groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        steps_per_epoch = max(1, self.trainer.estimated_stepping_batches // self.trainer.max_epochs)
        scheduler = build_scheduler(
            optimizer,
            steps_per_epoch=steps_per_epoch,
            epochs=self.trainer.max_epochs,
            warmup_epochs=self.hparams.warmup_epochs,
            start_factor=self.hparams.warmup_start_factor,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
