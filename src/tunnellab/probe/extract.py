"""One inference pass over a split that captures the pooled features of every tap.

Pooling happens inside the tap hooks (:class:`~tunnellab.models.taps.TapRecorder`), so full
feature maps are never kept. On CUDA the pass runs under bf16 autocast; on CPU it stays fp32
(``precision`` overrides either default). Images and weights go channels-last on every device
(1.3-1.7x faster convolutions on this project's CPU; the model's own memory format is restored
afterwards).
Every tap's reading is cast to fp16 on the device (an image tap may arrive as fp32 while the
convolution taps arrive as bf16) and handed to a sink: preallocated RAM buffers by default, or
memory-mapped files (:class:`~tunnellab.probe.mapped.MappedSink`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.transforms import normalize
from tunnellab.models.taps import Tap, TapRecorder
from tunnellab.probe.features import FEATURE_DTYPE, FeatureSink, MemorySink, SplitFeatures

__all__ = ["PRECISIONS", "SplitFeatures", "extract_features", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16")
_FP16_MAX = torch.finfo(torch.float16).max


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → ``bf16`` on CUDA, ``fp32`` elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_fp16(feature: torch.Tensor) -> torch.Tensor:
    """Any float reading → fp16, clamped so a large activation saturates instead of overflowing
    (clamped in fp32: bf16 cannot hold the fp16 maximum, it rounds up to 65536 = inf in fp16)."""
    return feature.float().clamp_(-_FP16_MAX, _FP16_MAX).to(FEATURE_DTYPE)


@contextlib.contextmanager
def _memory_format(model: nn.Module, memory_format: torch.memory_format) -> Iterator[None]:
    """Hold the model's 4-D weights in ``memory_format``; restore their format afterwards.

    Conversions run outside inference mode, so the weights never become inference tensors.
    """
    original = torch.contiguous_format
    for p in model.parameters():
        if p.dim() == 4:
            if p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous():
                original = torch.channels_last
            break
    model.to(memory_format=memory_format)
    try:
        yield
    finally:
        model.to(memory_format=original)


def extract_features(
    model: nn.Module,
    taps: list[Tap],
    arrays: ImageArrays,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    desc: str = "extract",
    sink: FeatureSink | None = None,
    precision: str = "auto",
    channels_last: bool = True,
    norm: str = "imagenet",
) -> SplitFeatures:
    """Run ``model`` once over ``arrays`` and hand every tap's pooled fp16 features to ``sink``.

    The model is put in eval mode on ``device``; images are standardised with ``norm``'s
    mean/std (the backbone's, ``data.norm``).
    """
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    sink = sink if sink is not None else MemorySink()
    n = len(arrays)
    opened = False
    model.eval().to(device)
    with (
        _memory_format(model, fmt),
        TapRecorder(model, taps) as recorder,
        torch.inference_mode(),
        _autocast(precision, device),
    ):
        for start in tqdm(range(0, n, batch_size), desc=desc, leave=False, unit="batch"):
            images = arrays.images[start : start + batch_size].to(device, non_blocking=True)
            logits = model(normalize(images, norm).contiguous(memory_format=fmt))
            features = [to_fp16(f) for f in recorder.features]
            if not opened:
                sink.open(n, [f.shape[1] for f in features], logits.shape[1], device)
                opened = True
            sink.write(start, features, logits.float())
    if not opened:
        raise ValueError(f"{desc}: the split is empty")
    return sink.finish(arrays.labels)
