"""timm / torchvision backbones: tap discovery, layouts, weights (file, cache, errors), configs,
and one tiny model of each library probed end to end by the real pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import timm
import torch
import torchvision
from omegaconf import DictConfig, open_dict
from safetensors.torch import save_file
from torch import nn

from tunnellab.config import compose_config, config_dir
from tunnellab.errors import ConfigError
from tunnellab.instantiate import instantiate_node
from tunnellab.models import TapRecorder, pool_feature, tap_dims
from tunnellab.models.external import (
    ExternalBackbone,
    timm_backbone,
    timm_model_names,
    torchvision_backbone,
)
from tunnellab.result_tables import run_variables


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def _convs(model: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in model.modules())


def _same_backbone(a: nn.Module, b: nn.Module, head: str) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith(head))


# ------------------------------------------------------------------------ discovery ---
def test_timm_resnet_blocks_conv_meta_and_head() -> None:
    model = timm_backbone("test_resnet", num_classes=5, img_size=32)
    assert _no_hooks(model)  # the discovery pass leaves nothing behind
    taps = model.taps("paper")
    assert model.taps("blocks") == taps
    assert [t.name for t in taps] == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert {(t.module.split(".")[0], t.pool, t.transform) for t in taps} == {
        ("model", "avg2x2", None)
    }
    assert model.meta == {
        "name": "test_resnet",
        "source": "timm",
        "family": "resnet",
        "depth": 4,
        "stem": 3,
        "spatial_reduction": None,
        "tap_discovery": "blocks",
    }
    assert model.head is model.model.fc and model.head.out_features == 5
    assert tap_dims(model, taps, 32) == [4 * 32, 4 * 48, 4 * 192, 4 * 96]
    conv = timm_backbone("test_resnet", num_classes=5, img_size=32, tap_discovery="conv")
    assert len(conv.taps()) == _convs(conv.model) and conv.meta["depth"] == _convs(conv.model)


def test_timm_vit_taps_are_token_means_at_two_resolutions() -> None:
    for resolution in (32, 96):
        model = timm_backbone("test_vit", num_classes=3, img_size=resolution)
        taps = model.taps()
        assert [t.name for t in taps] == [f"blocks.{i}" for i in range(len(model.model.blocks))]
        assert {t.pool for t in taps} == {"token_mean"} and model.meta["family"] == "vit"
        assert tap_dims(model, taps, resolution) == [model.model.embed_dim] * len(taps)
        assert model(torch.randn(2, 3, resolution, resolution)).shape == (2, 3)


def test_torchvision_resnet18_blocks_and_convs_at_32_and_224() -> None:
    model = torchvision_backbone("resnet18", num_classes=4, img_size=32)
    assert [t.name for t in model.taps()] == [f"layer{s}.{b}" for s in (1, 2, 3, 4) for b in (0, 1)]
    dims = [256, 256, 512, 512, 1024, 1024, 2048, 2048]
    assert tap_dims(model, model.taps(), 32) == dims
    assert tap_dims(model, model.taps(), 224) == dims
    assert model.head is model.model.fc and model.meta["stem"] == 7
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), TapRecorder(model, model.taps()) as rec:
        logits = model(x)
    assert _no_hooks(model)
    assert logits.shape == (2, 4) and [f.shape[1] for f in rec.features] == dims
    with torch.no_grad():
        torch.testing.assert_close(rec.features[0], pool_feature(model.model.layer1[0](
            model.model.maxpool(model.model.relu(model.model.bn1(model.model.conv1(x))))
        ), "avg2x2"))  # fmt: skip
    conv = torchvision_backbone("resnet18", num_classes=4, img_size=32, tap_discovery="conv")
    assert len(conv.taps()) == 20  # every Conv2d, downsample convs included, in call order
    assert conv.taps()[0].name == "conv1" and conv.taps()[-1].name == "layer4.1.conv2"


class _ChannelsLast(nn.Module):
    """Stages that keep (B, H, W, C) maps, like Swin or MambaOut."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 4, stride=4)
        self.blocks = nn.Sequential(
            *(nn.Sequential(nn.Linear(6, 6), nn.GELU(), nn.Linear(6, 6)) for _ in range(3))
        )
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x).permute(0, 2, 3, 1)).mean((1, 2)))


class _FlatVGG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(5 * 8 * 8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def test_channels_last_maps_are_permuted_before_pooling() -> None:
    model = ExternalBackbone(_ChannelsLast(), "toy", "test", img_size=32).eval()
    taps = model.taps()
    assert [t.name for t in taps] == ["blocks.0", "blocks.1", "blocks.2"]
    assert {(t.pool, t.transform) for t in taps} == {("avg2x2", "to_nchw")}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), TapRecorder(model, taps) as rec:
        model(x)
        first = model.model.blocks[0](model.model.stem(x).permute(0, 2, 3, 1))
    torch.testing.assert_close(rec.features[0], pool_feature(first.permute(0, 3, 1, 2), "avg2x2"))
    assert model.head is model.model.fc
    mambaout = timm_backbone("test_mambaout", num_classes=3, img_size=32)  # real NHWC stages
    assert {t.transform for t in mambaout.taps()} == {"to_nchw"}


def test_flat_conv_stacks_tap_every_activation() -> None:
    model = ExternalBackbone(_FlatVGG(), "toy", "test", img_size=32)
    assert [t.name for t in model.taps()] == ["features.1", "features.4"]
    assert tap_dims(model, model.taps(), 32) == [16, 20]
    with pytest.raises(ConfigError, match=r"no 'blocks' taps found.*tap_discovery=conv"):
        ExternalBackbone(
            nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2)), "mlp", "test", img_size=32
        )


def test_a_resolution_the_model_cannot_run_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'test_vit' cannot run on 8x8 images"):
        ExternalBackbone(timm.create_model("test_vit"), "test_vit", "timm", img_size=8)


# -------------------------------------------------------------------------- weights ---
def test_weights_from_a_file_wrapped_and_prefixed_with_a_new_head(tmp_path: Path) -> None:
    source = timm.create_model("test_resnet", num_classes=7)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model = timm_backbone("test_resnet", num_classes=3, weights=str(path), img_size=32)
    assert _same_backbone(source, model.model, "fc") and model.head.out_features == 3
    safe = tmp_path / "plain.safetensors"
    save_file(source.state_dict(), str(safe))
    same_head = timm_backbone("test_resnet", num_classes=7, weights=str(safe), img_size=32)
    assert torch.equal(same_head.head.weight, source.fc.weight)


def test_missing_or_mismatched_weights_are_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "weights.pth"
    with pytest.raises(ConfigError, match=f"no weights file at '{missing}'"):
        timm_backbone("test_resnet", num_classes=3, weights=str(missing), img_size=32)
    with pytest.raises(ConfigError, match="no weights file at"):
        torchvision_backbone("resnet18", num_classes=3, weights=str(missing), img_size=32)
    other = tmp_path / "vit.pth"
    torch.save(timm.create_model("test_vit").state_dict(), other)
    with pytest.raises(ConfigError, match=r"do not fit ResNet: .* tensors missing"):
        timm_backbone("test_resnet", num_classes=3, weights=str(other), img_size=32)


def test_timm_cache_is_read_locally_and_a_miss_is_explained(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="no cached weights for timm model 'test_resnet'"):
        timm_backbone("test_resnet", num_classes=3, weights="cache", img_size=32)
    repo = tmp_path / "models--timm--test_resnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    source = timm.create_model("test_resnet.r160_in1k")
    save_file(source.state_dict(), str(repo / "snapshots" / "abc123" / "model.safetensors"))
    model = timm_backbone("test_resnet", num_classes=3, weights="cache", img_size=32)
    assert _same_backbone(source, model.model, "fc")


def test_torchvision_cache_is_read_locally_and_a_miss_is_explained(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="no cached weights for torchvision model 'resnet18'"):
        torchvision_backbone("resnet18", num_classes=3, weights="cache", img_size=32)
    source = torchvision.models.resnet18()
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(source.state_dict(), tmp_path / "hub" / "checkpoints" / Path(url).name)
    model = torchvision_backbone("resnet18", num_classes=3, weights="cache", img_size=32)
    assert _same_backbone(source, model.model, "fc") and model.head.out_features == 3


# -------------------------------------------------------------------------- configs ---
def test_names_are_validated_with_close_matches(compose) -> None:
    with pytest.raises(ConfigError, match=r"model.name=resnet5O.*close matches: resnet50") as err:
        compose("model=timm", "model.name=resnet5O")
    assert len(str(err.value)) < 400  # a paragraph, not thousands of names
    with pytest.raises(ConfigError, match=r"torchvision's classification models.*resnet18"):
        compose("model=torchvision", "model.name=resnet81")
    with pytest.raises(ConfigError, match=r"model.weights must be null"):
        compose("model=timm", "model.weights=imagenet")
    with pytest.raises(ConfigError, match=r"model.tap_discovery must be one of: blocks, conv"):
        compose("model=torchvision", "model.tap_discovery=layers")
    assert "resnet50.tv_in1k" in timm_model_names() and "resnet50" in timm_model_names()


def test_configs_build_wrappers_and_run_variables(compose) -> None:
    cfg = compose("model=timm", "model.name=test_vit", "model.tap_discovery=conv")
    model = instantiate_node(cfg.model)
    assert isinstance(model, ExternalBackbone) and model.head.out_features == cfg.data.classes
    assert [t.name for t in model.taps()] == ["patch_embed.proj"]
    variables = run_variables(cfg, model.meta, 1000, train_images=None)
    assert variables["width"] == 1.0 and variables["depth"] == 1 and variables["stem"] == 16
    tv = instantiate_node(compose("model=torchvision", "model.name=squeezenet1_1").model)
    assert tv.head_path == "classifier.1" and tv.meta["source"] == "torchvision"


def test_in1k_study_configs() -> None:
    files = sorted((config_dir() / "model" / "in1k").glob("*.yaml"))
    assert len(files) == 8
    for path in files:
        cfg = compose_config([f"model=in1k/{path.stem}"])
        assert cfg.data.resolution == 224 and cfg.model.img_size == 224, path.stem
        assert cfg.model.name in timm_model_names() and cfg.model.tap_discovery == "blocks"
        local = path.stem in ("swav_resnet50", "mugs_vitb16")
        assert (cfg.model.weights != "cache") == local, path.stem


# ------------------------------------------------------------------------ end to end ---
def _smoke_with(*model_overrides: str) -> DictConfig:
    """The smoke experiment with another model (it sets model.width, which external models lack)
    and only the glyphs OOD set, to stay quick."""
    cfg = compose_config(["experiment=smoke"])
    with open_dict(cfg):
        cfg.model = compose_config(list(model_overrides)).model
        cfg.ood.datasets = {"glyphs": cfg.ood.datasets.glyphs}
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize(
    ("library", "name", "taps"), [("timm", "test_resnet", 4), ("torchvision", "squeezenet1_1", 8)]
)
def test_probed_end_to_end(library, name, taps, tmp_path) -> None:
    from tunnellab import pipeline

    cfg = _smoke_with(f"model={library}", f"model.name={name}")
    assert pipeline._title(cfg).startswith(f"{name} (width 1) on lab: 4 classes, 32²")
    result = pipeline.run(cfg, tmp_path)
    assert (tmp_path / "curves.png").stat().st_size > 0
    metrics = pd.read_csv(tmp_path / "tunnel_metrics.csv")
    probes = pd.read_csv(tmp_path / "probe_results.csv")
    assert len(metrics) == 1 and metrics["retained"].between(0, 100).all()
    assert probes.groupby("dataset")["tap_index"].max().eq(taps).all()
    assert set(probes["model"]) == {name} and probes["depth"].eq(taps).all()
    assert result.checkpoint is not None and result.checkpoint.is_file()
