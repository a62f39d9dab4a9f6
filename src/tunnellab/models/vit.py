"""ViT-T / ViT-T+: the paper's small vision transformers, without class token or learned positions.

Patch 8, width 192, 3 heads, MLP ratio 4, qkv bias, LayerNorm eps 1e-6, 12 (ViT-T) or 18 (ViT-T+)
pre-norm blocks (timm's ``Block``), a fixed 2D sin-cos position embedding kept as a non-persistent
buffer and recomputed for the token grid of the input (16 tokens at 32², 784 at 224²), a final
LayerNorm on the tokens, the mean over tokens, then ``head``. Functional parameter counts with 100
classes at width 1: ViT-T 5,395,108; ViT-T+ 8,064,292 at every resolution. The paper prints 5.61 M /
8.39 M because its code base carries an unused halting-gate MLP (192→96→1, 18,625 parameters) in
every block; it never runs and is not built here (``meta["paper_params_m"]`` keeps the figure).
"""

from __future__ import annotations

import math
from functools import partial

import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import nn

from tunnellab.models.registry import register_model
from tunnellab.models.taps import Tap, check_tap_kind

__all__ = ["HALTING_GATE_PARAMS", "VisionTransformer", "sincos_2d", "vit_t", "vit_t_plus"]

HALTING_GATE_PARAMS = 192 * 96 + 96 + 96 * 1 + 1
"""Parameters of the A-ViT halting-gate MLP the paper's code base carries (unused) per block."""

_HEADS = 3
_PATCH = 8
_WIDTH = 192


def sincos_2d(grid_h: int, grid_w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2D sin-cos position embedding ``(1, grid_h * grid_w, dim)`` (MAE / MoCo v3 style).

    Half of the channels encode the row, half the column; each half is ``[sin, cos]`` of the
    coordinate times ``dim / 4`` geometric frequencies. ``dim`` must be divisible by 4.
    """
    if dim % 4:
        raise ValueError(f"sin-cos 2D position embedding needs dim divisible by 4, got {dim}")
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    rows, cols = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float64),
        torch.arange(grid_w, dtype=torch.float64),
        indexing="ij",
    )
    parts = []
    for coord in (rows.flatten(), cols.flatten()):
        angles = coord[:, None] * omega[None, :]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float().unsqueeze(0)


def embed_dim(width: float, heads: int = _HEADS) -> int:
    """Embedding width under a multiplier: a multiple of ``lcm(4, heads)`` (sin-cos, heads)."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    step = math.lcm(4, heads)
    return step * max(1, round(_WIDTH * width / step))


class VisionTransformer(nn.Module):
    """A pre-norm ViT with mean-token pooling and fixed sin-cos positions (no class token).

    Modules: ``patch_embed`` (``proj``: Conv2d(3, D, 8, stride 8)), ``blocks.{i}`` (timm
    ``Block``), ``norm`` (final LayerNorm, applied to every token), ``head``. Buffer:
    ``pos_embed`` ``(1, T, D)`` for the last grid seen (non-persistent: not in the state dict).
    """

    def __init__(
        self,
        depth: int,
        num_classes: int,
        width: float = 1.0,
        img_size: int = 224,
        drop_path_rate: float = 0.0,
        name: str = "vit",
        paper_params_m: float | None = None,
    ) -> None:
        super().__init__()
        dim = embed_dim(width)
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.patch_size = _PATCH
        self.patch_embed = PatchEmbed(
            img_size=None, patch_size=_PATCH, in_chans=3, embed_dim=dim, strict_img_size=False
        )
        side = img_size // _PATCH
        self.grid = (side, side)
        self.register_buffer("pos_embed", sincos_2d(side, side, dim), persistent=False)
        rates = [drop_path_rate * i / max(1, depth - 1) for i in range(depth)]  # linear decay
        self.blocks = nn.Sequential(
            *(
                Block(dim, _HEADS, 4.0, qkv_bias=True, drop_path=rate, norm_layer=norm_layer)
                for rate in rates
            )
        )
        self.norm = norm_layer(dim)
        self.head = nn.Linear(dim, num_classes)
        self.meta: dict = {
            "name": name,
            "family": "vit",
            "depth": depth,
            "stem": _PATCH,
            "spatial_reduction": 1.0,
            "width": width,
            "paper_params_m": paper_params_m,
        }
        self.apply(_init_weights)

    def position_embedding(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """The ``pos_embed`` buffer for a ``grid_h x grid_w`` token grid (recomputed if needed)."""
        if self.grid != (grid_h, grid_w):
            pos = sincos_2d(grid_h, grid_w, self.pos_embed.shape[2])
            self.pos_embed = pos.to(self.pos_embed.device, self.pos_embed.dtype)
            self.grid = (grid_h, grid_w)
        return self.pos_embed

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → normalised tokens ``(B, T, D)``."""
        grid_h, grid_w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        x = self.patch_embed(x) + self.position_embedding(grid_h, grid_w).to(x.dtype)
        return self.norm(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_tokens(x).mean(dim=1))

    def taps(self, kind: str = "paper") -> list[Tap]:
        """Each block output through the final ``norm``, token mean (``paper`` = ``blocks``)."""
        check_tap_kind(kind)
        return [
            Tap(f"block{i + 1}", f"blocks.{i}", "output", "token_mean", transform="norm")
            for i in range(len(self.blocks))
        ]


def _init_weights(m: nn.Module) -> None:
    """DeiT / timm init: truncated-normal(0.02) Linear weights, zero biases, unit LayerNorm."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


@register_model
def vit_t(
    num_classes: int, width: float = 1.0, img_size: int = 224, drop_path_rate: float = 0.0
) -> VisionTransformer:
    """ViT-T: 12 blocks, 12 taps; 5,395,108 parameters with 100 classes (paper prints 5.61 M)."""
    return VisionTransformer(
        12, num_classes, width, img_size, drop_path_rate, name="vit_t", paper_params_m=5.61
    )


@register_model
def vit_t_plus(
    num_classes: int, width: float = 1.0, img_size: int = 224, drop_path_rate: float = 0.0
) -> VisionTransformer:
    """ViT-T+: 18 blocks, 18 taps; 8,064,292 parameters with 100 classes (paper prints 8.39 M)."""
    return VisionTransformer(
        18, num_classes, width, img_size, drop_path_rate, name="vit_t_plus", paper_params_m=8.39
    )
