"""Linear probes for all taps trained together on cached features.

Heads of equal input width are stacked and trained as one batched matmul; the summed loss gives
each head exactly the gradient it would get alone, and AdamW's update is per parameter, so the
result equals training every probe separately on the same minibatch order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass(frozen=True)
class ProbeRecipe:
    """Hyper-parameters of the probes (the paper's: AdamW, label smoothing 0.1, 30 epochs)."""

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    label_smoothing: float = 0.1
    init_std: float = 0.01


@dataclass
class ProbeCurves:
    """Per-tap accuracies, and the per-epoch histories they were read from (epochs × taps)."""

    test_history: np.ndarray
    holdout_history: np.ndarray | None

    @property
    def acc_best(self) -> np.ndarray:
        """Best test accuracy over epochs (paper parity: the test split selects the epoch)."""
        return self.test_history.max(axis=0)

    @property
    def acc_last(self) -> np.ndarray:
        return self.test_history[-1]

    @property
    def selected_epoch(self) -> np.ndarray | None:
        """0-based epoch with the best held-out accuracy per tap (first on ties)."""
        return None if self.holdout_history is None else self.holdout_history.argmax(axis=0)

    @property
    def acc_selected(self) -> np.ndarray:
        """Test accuracy at the epoch chosen on the held-out part of probe-train (NaN if none)."""
        epochs = self.selected_epoch
        if epochs is None:
            return np.full(self.test_history.shape[1], np.nan)
        return self.test_history[epochs, np.arange(self.test_history.shape[1])]


def _init_weight(width: int, n_classes: int, std: float, seed: int, tap: int) -> torch.Tensor:
    """N(0, std²) init drawn from the tap's own stream, so a head never depends on the others."""
    gen = torch.Generator().manual_seed(seed * 100_003 + tap)
    return torch.randn(width, n_classes, generator=gen) * std


class _HeadGroup:
    """Heads reading features of one width: weights ``(G, D, K)``, inputs stacked ``(G, N, D)``."""

    def __init__(
        self,
        taps: list[int],
        width: int,
        n_classes: int,
        std: float,
        seed: int,
        device: torch.device,
    ) -> None:
        self.taps = taps
        weights = [_init_weight(width, n_classes, std, seed, t) for t in taps]
        self.weight = torch.stack(weights).to(device)
        self.bias = torch.zeros(len(taps), 1, n_classes, device=device)
        self.weight.requires_grad_(True)
        self.bias.requires_grad_(True)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _stack(features: list[torch.Tensor], taps: list[int], device: torch.device) -> torch.Tensor:
    return torch.stack([features[t] for t in taps]).to(device)


@torch.no_grad()
def _accuracy(
    group: _HeadGroup, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096
) -> torch.Tensor:
    correct = torch.zeros(len(group.taps), device=x.device)
    for start in range(0, x.shape[1], chunk):
        xb = x[:, start : start + chunk].float()
        correct += (group.logits(xb).argmax(-1) == y[start : start + chunk]).sum(-1)
    return correct / max(1, x.shape[1])


def train_linear_probes(
    train_features: list[torch.Tensor],
    train_labels: torch.Tensor,
    test_features: list[torch.Tensor],
    test_labels: torch.Tensor,
    n_classes: int,
    recipe: ProbeRecipe,
    holdout_index: np.ndarray | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    desc: str = "probes",
) -> ProbeCurves:
    """Train one linear head per tap; evaluate on test (and a held-out part of train) each epoch.

    ``holdout_index`` selects training samples kept out of fitting for epoch selection.
    """
    device = torch.device(device)
    n_taps, n_train = len(train_features), len(train_labels)
    fit_mask = np.ones(n_train, dtype=bool)
    if holdout_index is not None and len(holdout_index):
        fit_mask[holdout_index] = False
    fit_index = torch.from_numpy(np.flatnonzero(fit_mask))
    hold_index = torch.from_numpy(np.flatnonzero(~fit_mask))

    widths: dict[int, list[int]] = {}
    for t, f in enumerate(train_features):
        widths.setdefault(f.shape[1], []).append(t)
    groups = [
        _HeadGroup(taps, w, n_classes, recipe.init_std, seed, device) for w, taps in widths.items()
    ]
    order_gen = torch.Generator().manual_seed(seed)
    params = [p for g in groups for p in (g.weight, g.bias)]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)

    y_fit = train_labels[fit_index].to(device)
    y_hold = train_labels[hold_index].to(device)
    y_test = test_labels.to(device)
    fit_x = [_stack(train_features, g.taps, device)[:, fit_index] for g in groups]
    hold_x = [_stack(train_features, g.taps, device)[:, hold_index] for g in groups]
    test_x = [_stack(test_features, g.taps, device) for g in groups]

    test_history = np.zeros((recipe.epochs, n_taps))
    hold_history = np.zeros((recipe.epochs, n_taps)) if len(hold_index) else None
    n_fit = len(fit_index)
    for epoch in tqdm(range(recipe.epochs), desc=desc, leave=False, unit="epoch"):
        order = torch.randperm(n_fit, generator=order_gen).to(device)
        for start in range(0, n_fit, recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            yb = y_fit[batch]
            loss = sum(
                F.cross_entropy(
                    g.logits(x[:, batch].float()).flatten(0, 1),
                    yb.repeat(len(g.taps)),
                    label_smoothing=recipe.label_smoothing,
                )
                * len(g.taps)
                for g, x in zip(groups, fit_x, strict=True)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        for g, xt, xh in zip(groups, test_x, hold_x, strict=True):
            test_history[epoch, g.taps] = _accuracy(g, xt, y_test).cpu().numpy()
            if hold_history is not None:
                hold_history[epoch, g.taps] = _accuracy(g, xh, y_hold).cpu().numpy()
    return ProbeCurves(test_history=test_history, holdout_history=hold_history)
