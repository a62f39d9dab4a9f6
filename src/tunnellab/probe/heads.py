"""Linear probes for all taps (and every learning rate of an optional grid) trained together.

Heads reading taps of equal width form a group whose weights are one ``(G, L·K, D)`` tensor (``L``
learning rates stacked), trained with batched matmuls and a hand-written gradient of the
label-smoothed cross-entropy. Each head's gradient and AdamW update depend on its own weights and
inputs only, so the result equals training every probe separately on the same minibatch order.
Each tap draws its init from its own stream (shared by its lr variants); minibatches are sorted
index sets, read from a stacked in-memory source or, for memory-mapped features, tap by tap —
both give identical numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from tunnellab.data.sampling import repeated_augmentation_order
from tunnellab.probe.batch_sources import FeatureSource, make_source
from tunnellab.probe.features import SplitFeatures, width_groups
from tunnellab.probe.optim import FlatAdamW
from tunnellab.probe.threads import HEAD_THREADS, cpu_threads

Features = SplitFeatures | Sequence[torch.Tensor]
EVAL_CHUNK_BYTES = 2 << 20  # float32 inputs of one evaluation chunk of the widest group


@dataclass(frozen=True)
class ProbeRecipe:
    """Hyper-parameters of the probes (the paper's: AdamW, label smoothing 0.1, 30 epochs).

    ``lr_grid`` (empty = off) trains one head per (tap, lr) and keeps, per tap, the lr with the
    best held-out accuracy (best test accuracy when no held-out split is kept). ``order`` and
    ``repeated_aug`` shape the minibatches (:func:`minibatch_schedule`).
    """

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    label_smoothing: float = 0.1
    init_std: float = 0.01
    lr_grid: tuple[float, ...] = ()
    order: str = "shuffle"
    repeated_aug: int = 0

    @property
    def lrs(self) -> tuple[float, ...]:
        """The learning rates trained side by side."""
        return tuple(self.lr_grid) if self.lr_grid else (self.lr,)


@dataclass
class ProbeCurves:
    """Per-tap accuracies, and the per-epoch histories they were read from (epochs × taps).

    With an lr grid the histories are those of each tap's chosen lr (``lr``). When a second head
    bank (trained without the held-out part) gives the selection, ``selection_test_history`` is
    its test history: ``acc_selected`` reads it, ``acc_best`` / ``acc_last`` read
    ``test_history``.
    """

    test_history: np.ndarray
    holdout_history: np.ndarray | None
    lr: np.ndarray | None = None
    selection_test_history: np.ndarray | None = None

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
        history = self.test_history
        if self.selection_test_history is not None:
            history = self.selection_test_history
        return history[epochs, np.arange(history.shape[1])]

    def with_selection(self, selection: ProbeCurves | None) -> ProbeCurves:
        """These curves, with ``acc_selected`` taken from the held-out bank ``selection``."""
        if selection is None:
            return self
        return ProbeCurves(
            test_history=self.test_history,
            holdout_history=selection.holdout_history,
            lr=self.lr,
            selection_test_history=selection.test_history,
        )


def head_init(width: int, n_classes: int, std: float, seed: int, tap: int) -> torch.Tensor:
    """A tap's ``(width, n_classes)`` N(0, std²) init, drawn from the tap's own stream so a head
    never depends on the others."""
    gen = torch.Generator().manual_seed(seed * 100_003 + tap)
    return torch.randn(width, n_classes, generator=gen) * std


class HeadBank:
    """All heads' weights and gradients in two flat vectors, viewed per width group.

    A group's weights are ``(G, L·K, D)`` (out × in, like ``nn.Linear``) and its logits
    ``(G, L·K, B)``: the softmax over K then runs along contiguous samples, which is several
    times faster on CPU than over a trailing axis of K ≈ 10 values.
    """

    def __init__(
        self,
        groups: list[list[int]],
        dims: Sequence[int],
        n_classes: int,
        recipe: ProbeRecipe,
        seed: int,
        device: torch.device,
    ) -> None:
        self.groups = groups
        self.n_classes = n_classes
        self.n_lrs = len(recipe.lrs)
        rows = self.n_lrs * n_classes
        shapes = [((len(t), rows, dims[t[0]]), (len(t), rows, 1)) for t in groups]
        total = sum(int(np.prod(w)) + int(np.prod(b)) for w, b in shapes)
        lr_rows = torch.tensor(recipe.lrs).repeat_interleave(n_classes).view(1, rows, 1)
        lr_flat = torch.empty(total)
        self.params = torch.zeros(total, device=device)
        self.grads = torch.zeros_like(self.params)
        self.weights, self.biases, self.grad_w, self.grad_b = [], [], [], []
        offset = 0
        for w_shape, b_shape in shapes:
            for shape, params_out, grads_out in (
                (w_shape, self.weights, self.grad_w),
                (b_shape, self.biases, self.grad_b),
            ):
                size = int(np.prod(shape))
                params_out.append(self.params[offset : offset + size].view(shape))
                grads_out.append(self.grads[offset : offset + size].view(shape))
                lr_flat[offset : offset + size].view(shape).copy_(lr_rows.expand(shape))
                offset += size
        for taps, weight in zip(groups, self.weights, strict=True):
            width = weight.shape[2]
            inits = [head_init(width, n_classes, recipe.init_std, seed, t) for t in taps]
            weight.copy_(torch.stack([w.t().repeat(self.n_lrs, 1) for w in inits]))
        self.lr: torch.Tensor | float = (
            lr_flat.to(device) if self.n_lrs > 1 else float(recipe.lrs[0])
        )
        self.tap_index = [torch.tensor(t, device=device) for t in groups]
        self._rank = torch.arange(n_classes, 0, -1, device=device).view(1, 1, -1, 1)

    def _logits(self, group: int, x: torch.Tensor) -> torch.Tensor:
        """``(G, L, K, B)`` logits of the group's heads on ``x`` ``(G, B, D)``."""
        logits = torch.baddbmm(self.biases[group], self.weights[group], x.transpose(1, 2))
        return logits.view(len(self.groups[group]), self.n_lrs, self.n_classes, x.shape[1])

    def accumulate(self, group: int, x: torch.Tensor, target: torch.Tensor) -> None:
        """Write the group's gradient of the mean label-smoothed cross-entropy over ``x``.

        ``x``: float32 ``(G, B, D)``; ``target``: the smoothed label distribution ``(K, B)``.
        """
        n = x.shape[1]
        probs = torch.softmax(self._logits(group, x), dim=2)
        dlogits = probs.sub_(target).div_(n).flatten(1, 2)
        torch.bmm(dlogits, x, out=self.grad_w[group])
        torch.sum(dlogits, dim=2, keepdim=True, out=self.grad_b[group])

    def correct(self, group: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Correct predictions per (tap of the group, lr) on ``x`` ``(G, C, D)``: ``(G, L)``.

        The prediction is ``argmax`` over classes (the first of tied maxima), computed with two
        ``amax`` reductions: ``argmax`` over a middle axis is ~10x slower on CPU.
        """
        logits = self._logits(group, x)
        is_top = logits == logits.amax(dim=2, keepdim=True)
        first_top = (is_top * self._rank).amax(dim=2)  # K - index of the first maximum
        return (first_top == self.n_classes - y).sum(-1)


def smoothed_targets(y: torch.Tensor, n_classes: int, smoothing: float) -> torch.Tensor:
    """Label-smoothed target distributions ``(K, B)`` (as ``F.cross_entropy`` defines them)."""
    target = torch.full((n_classes, len(y)), smoothing / n_classes, device=y.device)
    target.scatter_(0, y.view(1, -1), 1.0 - smoothing + smoothing / n_classes)
    return target


def sorted_batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """``order`` cut into minibatches, each sorted (reads in file order; same set, same step)."""
    n_full = len(order) // batch_size * batch_size
    full = order[:n_full].view(-1, batch_size).sort(dim=1).values
    batches = list(full.unbind(0))
    if n_full < len(order):
        batches.append(order[n_full:].sort().values)
    return batches


PROBE_ORDERS = ("shuffle", "fixed")


def minibatch_schedule(
    fit_index: torch.Tensor,
    batch_size: int,
    seed: int,
    epochs: int,
    order: str = "shuffle",
    repeated_aug: int = 0,
) -> Iterator[list[torch.Tensor]]:
    """Every epoch's minibatches of ``fit_index``, cut and sorted.

    ``order``: ``shuffle`` (a seeded permutation per epoch) or ``fixed`` (``fit_index`` as it
    is, every epoch: the released CNN probes read their feature files unshuffled).
    ``repeated_aug`` > 0: the epoch is DeiT's repeated-augmentation list of that order
    (:func:`~tunnellab.data.sampling.repeated_augmentation_order`), as the released ViT probes
    read it on 4 GPUs; its global batches are consecutive chunks of the list.
    """
    if order not in PROBE_ORDERS:
        raise ValueError(f"order must be one of {PROBE_ORDERS}, got {order!r}")
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        epoch = fit_index
        if order == "shuffle":
            epoch = fit_index[torch.randperm(len(fit_index), generator=generator)]
        if repeated_aug:
            epoch = repeated_augmentation_order(epoch, repeated_aug)
        yield sorted_batches(epoch, batch_size)


def _dims(features: Features) -> list[int]:
    if isinstance(features, SplitFeatures):
        return features.dims
    return [int(f.shape[1]) for f in features]


def _eval_chunk(dims: Sequence[int], groups: list[list[int]]) -> int:
    """Rows per evaluation chunk: large, bounded by the float32 size of the widest group."""
    widest = max(len(t) * dims[t[0]] * 4 for t in groups)
    return int(np.clip(EVAL_CHUNK_BYTES // widest, 256, 65536))


@torch.no_grad()
def _evaluate(
    bank: HeadBank,
    source: FeatureSource,
    labels: torch.Tensor,
    n_taps: int,
    chunk: int,
    index: torch.Tensor | None = None,
) -> np.ndarray:
    """Accuracy ``(T, L)`` of every head on the rows ``index`` (all rows when None)."""
    n = len(labels) if index is None else len(index)
    correct = torch.zeros(n_taps, bank.n_lrs, dtype=torch.long, device=bank.params.device)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = None if index is None else index[start:stop]
        y = labels[start:stop] if rows is None else labels[rows]
        y = y.to(bank.params.device, non_blocking=True)
        for g in range(len(bank.groups)):
            x = source.rows(g, start, stop) if rows is None else source.batch(g, rows)
            correct.index_add_(0, bank.tap_index[g], bank.correct(g, x, y))
    source.release()
    return correct.cpu().numpy() / max(1, n)


def _choose_lr(test: np.ndarray, holdout: np.ndarray | None) -> np.ndarray:
    """Per tap, the lr index with the best held-out (else test) accuracy over epochs."""
    basis = holdout if holdout is not None else test  # (E, T, L)
    return basis.max(axis=0).argmax(axis=-1)


def train_linear_probes(
    train_features: Features,
    train_labels: torch.Tensor,
    test_features: Features,
    test_labels: torch.Tensor,
    n_classes: int,
    recipe: ProbeRecipe,
    holdout_index: np.ndarray | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    desc: str = "probes",
    window_bytes: int = 64 << 20,
    threads: int | None = HEAD_THREADS,
) -> ProbeCurves:
    """Train one linear head per tap (and lr); evaluate on test (and held-out train) each epoch.

    Features are per-tap ``(N, D_t)`` tensors or :class:`SplitFeatures` (memory-mapped ones are
    read per minibatch, releasing pages every ``window_bytes``). ``holdout_index`` selects
    training samples kept out of fitting for epoch (and lr) selection. On CPU the loop runs with
    ``threads`` intra-op threads (see :mod:`tunnellab.probe.threads`; None = unchanged).
    """
    device = torch.device(device)
    dims = _dims(train_features)
    groups = width_groups(dims)
    n_taps, n_train = len(dims), len(train_labels)
    fit_mask = np.ones(n_train, dtype=bool)
    if holdout_index is not None and len(holdout_index):
        fit_mask[holdout_index] = False
    fit_index = torch.from_numpy(np.flatnonzero(fit_mask))
    hold_index = torch.from_numpy(np.flatnonzero(~fit_mask))

    bank = HeadBank(groups, dims, n_classes, recipe, seed, device)
    optimizer = FlatAdamW(bank.params, bank.grads, bank.lr, recipe.weight_decay)
    train = make_source(train_features, groups, device, window_bytes)
    test = make_source(test_features, groups, device, window_bytes)
    train_labels, test_labels = train_labels.long(), test_labels.long()
    labels_on_device = train_labels.to(device)
    chunk = _eval_chunk(dims, groups)
    schedule = minibatch_schedule(
        fit_index, recipe.batch_size, seed, recipe.epochs, recipe.order, recipe.repeated_aug
    )

    shape = (recipe.epochs, n_taps, bank.n_lrs)
    test_history = np.zeros(shape)
    hold_history = np.zeros(shape) if len(hold_index) else None
    with torch.no_grad(), cpu_threads(threads, device):
        progress = tqdm(schedule, desc=desc, total=recipe.epochs, leave=False, unit="epoch")
        for epoch, batches in enumerate(progress):
            for batch in batches:
                y = labels_on_device[batch.to(device, non_blocking=True)]
                target = smoothed_targets(y, n_classes, recipe.label_smoothing)
                for g in range(len(groups)):
                    bank.accumulate(g, train.batch(g, batch), target)
                optimizer.step()
            test_history[epoch] = _evaluate(bank, test, test_labels, n_taps, chunk)
            if hold_history is not None:
                hold_history[epoch] = _evaluate(
                    bank, train, train_labels, n_taps, chunk, hold_index
                )
    chosen = _choose_lr(test_history, hold_history)
    taps = np.arange(n_taps)
    return ProbeCurves(
        test_history=test_history[:, taps, chosen],
        holdout_history=None if hold_history is None else hold_history[:, taps, chosen],
        lr=np.asarray(recipe.lrs)[chosen],
    )
