"""Straightforward probes the way the paper's released code trained them, as baselines.

Nothing here is used by a run: these are the independent implementations the benchmark
(:mod:`tunnellab.tools.bench.probe`) times and the tests compare the engine against.

* :func:`per_layer_probes` — the released CNN code: one tap at a time, a per-sample torch
  ``Dataset`` + ``DataLoader`` over cached features, an ``nn.Linear`` per tap, AdamW, label
  smoothing, test accuracy every epoch.
* :func:`backbone_loop_probes` — the released ViT code's shape: every epoch re-runs the frozen
  backbone on the images to get the tap features (here one forward feeds the heads of all taps,
  the cheapest form of it; one tap per run would repeat the backbone for every tap).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.models.taps import Tap, TapRecorder
from tunnellab.probe.heads import ProbeRecipe, head_init, minibatch_schedule
from tunnellab.probe.threads import HEAD_THREADS, cpu_threads


class _Rows(Dataset):
    """Sample ``i`` of a tensor (features or images) and its label, one at a time."""

    def __init__(self, rows: torch.Tensor, labels: torch.Tensor) -> None:
        self.rows = rows
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rows[i], self.labels[i]


def _linear(width: int, n_classes: int, std: float) -> nn.Linear:
    head = nn.Linear(width, n_classes)
    nn.init.normal_(head.weight, 0.0, std)
    nn.init.zeros_(head.bias)
    return head


class _Schedule(Sampler[list[int]]):
    """The engine's minibatches, one epoch per iteration (matched randomness)."""

    def __init__(self, n: int, recipe: ProbeRecipe, seed: int) -> None:
        self.epochs = minibatch_schedule(torch.arange(n), recipe.batch_size, seed, recipe.epochs)
        self.n_batches = -(-n // recipe.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        return (batch.tolist() for batch in next(self.epochs))

    def __len__(self) -> int:
        return self.n_batches


def _loader(rows: torch.Tensor, labels: torch.Tensor, batch: int, seed: int | None):
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return DataLoader(
        _Rows(rows, labels.long()), batch_size=batch, shuffle=seed is not None, generator=generator
    )


def per_layer_probes(
    train_features: Sequence[torch.Tensor],
    train_labels: torch.Tensor,
    test_features: Sequence[torch.Tensor],
    test_labels: torch.Tensor,
    n_classes: int,
    recipe: ProbeRecipe,
    seed: int = 0,
    threads: int | None = HEAD_THREADS,
    matched: bool = False,
) -> np.ndarray:
    """Test accuracy ``(epochs, taps)`` of one probe per tap, trained one tap after another.

    ``matched`` draws each head's init and every epoch's minibatches as the engine does
    (:func:`~tunnellab.probe.heads.head_init`, :func:`~tunnellab.probe.heads.minibatch_schedule`),
    so a comparison shows the engine's arithmetic rather than seed-to-seed noise; otherwise the
    randomness is the reference's own (``torch.manual_seed``, a shuffling ``DataLoader``).
    """
    history = np.zeros((recipe.epochs, len(train_features)))
    with cpu_threads(threads):
        for t, (train_x, test_x) in enumerate(zip(train_features, test_features, strict=True)):
            torch.manual_seed(seed * 1_000 + t)
            head = _linear(train_x.shape[1], n_classes, recipe.init_std)
            optimizer = torch.optim.AdamW(
                head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
            )
            loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
            train_loader = _loader(train_x, train_labels, recipe.batch_size, seed * 1_000 + t)
            if matched:
                width = train_x.shape[1]
                with torch.no_grad():
                    head.weight.copy_(head_init(width, n_classes, recipe.init_std, seed, t).t())
                schedule = _Schedule(len(train_labels), recipe, seed)
                train_loader = DataLoader(
                    _Rows(train_x, train_labels.long()), batch_sampler=schedule
                )
            test_loader = _loader(test_x, test_labels, recipe.batch_size, None)
            for epoch in range(recipe.epochs):
                for x, y in train_loader:
                    loss = loss_fn(head(x.float()), y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    hits = [int((head(x.float()).argmax(1) == y).sum()) for x, y in test_loader]
                history[epoch, t] = sum(hits) / len(test_labels)
    return history


def _tap_features(
    model: nn.Module, recorder: TapRecorder, images: torch.Tensor, fmt: torch.memory_format
) -> list[torch.Tensor]:
    with torch.no_grad():
        model(normalize(images).contiguous(memory_format=fmt))
    return recorder.features


def backbone_loop_probes(
    model: nn.Module,
    taps: list[Tap],
    train: ImageArrays,
    test: ImageArrays,
    n_classes: int,
    recipe: ProbeRecipe,
    seed: int = 0,
    threads: int | None = HEAD_THREADS,
    channels_last: bool = True,
) -> np.ndarray:
    """Test accuracy ``(epochs, taps)`` with the frozen backbone re-run every epoch (CPU).

    ``channels_last`` runs the backbone in the memory format the engine's extraction uses, so
    a comparison measures the probing scheme, not the convolution layout.
    """
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.eval().to(memory_format=fmt)
    torch.manual_seed(seed)
    train_loader = _loader(train.images, train.labels, recipe.batch_size, seed)
    test_loader = _loader(test.images, test.labels, recipe.batch_size, None)
    history = np.zeros((recipe.epochs, len(taps)))
    with TapRecorder(model, taps) as recorder:
        dims = [f.shape[1] for f in _tap_features(model, recorder, train.images[:1], fmt)]
        heads = nn.ModuleList(_linear(d, n_classes, recipe.init_std) for d in dims)
        optimizer = torch.optim.AdamW(
            heads.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )
        loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        for epoch in range(recipe.epochs):
            for images, y in train_loader:
                features = _tap_features(model, recorder, images, fmt)
                with cpu_threads(threads):
                    loss = sum(loss_fn(h(f), y) for h, f in zip(heads, features, strict=True))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
            correct = np.zeros(len(taps))
            for images, y in test_loader:
                features = _tap_features(model, recorder, images, fmt)
                with torch.no_grad(), cpu_threads(threads):
                    for t, (h, f) in enumerate(zip(heads, features, strict=True)):
                        correct[t] += int((h(f).argmax(1) == y).sum())
            history[epoch] = correct / len(test)
    model.to(memory_format=torch.contiguous_format)
    return history
