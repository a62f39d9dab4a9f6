"""One inference pass over a split that captures the pooled features of every tap."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.models.taps import Tap, TapRecorder


@dataclass
class SplitFeatures:
    """Per-tap fp16 features ``(N, D_t)`` of one split, its labels and the backbone's logits."""

    features: list[torch.Tensor]
    labels: torch.Tensor
    logits: torch.Tensor

    def backbone_accuracy(self) -> float:
        """Top-1 of the backbone's own classifier (meaningful on the ID dataset only)."""
        return float((self.logits.argmax(1) == self.labels).float().mean())


@torch.inference_mode()
def extract_features(
    model: nn.Module,
    taps: list[Tap],
    arrays: ImageArrays,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    desc: str = "extract",
) -> SplitFeatures:
    """Run ``model`` once over ``arrays`` and keep every tap's pooled features in fp16 buffers."""
    model.eval().to(device)
    n = len(arrays)
    buffers: list[torch.Tensor] = []
    logits_buf: torch.Tensor | None = None
    with TapRecorder(model, taps) as recorder:
        for start in tqdm(range(0, n, batch_size), desc=desc, leave=False, unit="batch"):
            images = arrays.images[start : start + batch_size].to(device, non_blocking=True)
            logits = model(normalize(images))
            stop = start + images.shape[0]
            if not buffers:
                buffers = [
                    torch.empty(n, f.shape[1], dtype=torch.float16) for f in recorder.features
                ]
                logits_buf = torch.empty(n, logits.shape[1], dtype=torch.float32)
            for buffer, feature in zip(buffers, recorder.features, strict=True):
                buffer[start:stop] = feature.to("cpu", torch.float16)
            logits_buf[start:stop] = logits.float().cpu()
    return SplitFeatures(features=buffers, labels=arrays.labels.clone(), logits=logits_buf)
