"""VGGm and ResNet builders: exact parameter counts, shapes, width, registry, torchvision parity."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from tunnellab.models import (
    ResNet,
    VGGm,
    count_parameters,
    create_model,
    list_models,
    register_model,
    scale_channels,
)

PAPER_PARAMS_100 = {
    "vggm11": 9_462_180,
    "vggm17": 20_086_692,
    "vggm11_dagger": 9_462_180,
    "vggm17_dagger": 20_086_692,
    "resnet18": 11_227_812,
    "resnet34": 21_335_972,
}
META = {
    "vggm11": ("vggm", 11, 3, 0.5),
    "vggm17": ("vggm", 17, 3, 0.5),
    "vggm11_dagger": ("vggm", 11, 3, 1.0),
    "vggm17_dagger": ("vggm", 17, 3, 1.0),
    "resnet18": ("resnet", 18, 7, 0.25),
    "resnet34": ("resnet", 34, 7, 0.25),
}
NAMES = sorted(PAPER_PARAMS_100)


def test_registry_lists_all_cnns() -> None:
    assert set(NAMES) <= set(list_models())
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", NAMES)
def test_exact_parameter_count_with_100_classes(name: str) -> None:
    assert count_parameters(create_model(name, num_classes=100)) == PAPER_PARAMS_100[name]


@pytest.mark.parametrize("name", NAMES)
def test_meta_head_and_forward_at_two_resolutions(name: str) -> None:
    model = create_model(name, num_classes=7, width=0.125)
    family, depth, stem, phi = META[name]
    assert model.meta["family"] == family
    assert model.meta["depth"] == depth
    assert model.meta["stem"] == stem
    assert model.meta["spatial_reduction"] == phi
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 7
    before = count_parameters(model)
    model.eval()
    with torch.no_grad():
        for resolution in (32, 64):
            assert model(torch.randn(2, 3, resolution, resolution)).shape == (2, 7)
    assert count_parameters(model) == before  # nothing is sized by the input resolution


@pytest.mark.parametrize("name", ["vggm11", "resnet18"])
def test_width_scales_channels_and_parameters(name: str) -> None:
    counts = [count_parameters(create_model(name, 10, width=w)) for w in (0.125, 0.25, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    small = create_model(name, 10, width=0.125)
    assert small.head.in_features == 64  # 512 * 0.125


def test_scale_channels() -> None:
    assert scale_channels(64, 0.125) == 8
    assert scale_channels(64, 1.0) == 64
    assert scale_channels(3, 0.01) == 1
    with pytest.raises(ValueError):
        scale_channels(64, 0.0)


def test_vggm_structure_and_dagger_pools() -> None:
    model = create_model("vggm11", 10, width=0.125)
    dagger = create_model("vggm11_dagger", 10, width=0.125)
    assert isinstance(model, VGGm)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 10
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    pools = [n for n, m in model.features.named_children() if isinstance(m, nn.MaxPool2d)]
    dagger_pools = [n for n, m in dagger.features.named_children() if isinstance(m, nn.MaxPool2d)]
    assert pools == ["pool1", "pool2", "pool3", "pool4", "pool5"]
    assert dagger_pools == ["pool3", "pool4", "pool5"]
    x = torch.randn(1, 3, 32, 32)
    assert model.features(x).shape[-2:] == (1, 1)
    assert dagger.features(x).shape[-2:] == (4, 4)
    deep = create_model("vggm17", 10, width=0.125)
    assert len([m for m in deep.modules() if isinstance(m, nn.Conv2d)]) == 16


@pytest.mark.parametrize("depth", [18, 34])
def test_resnet_matches_torchvision_at_width_one(depth: int) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, f"resnet{depth}")(weights=None, num_classes=10)
    torch.manual_seed(0)
    ours = create_model(f"resnet{depth}", num_classes=10)
    assert isinstance(ours, ResNet)
    ref_state, our_state = reference.state_dict(), ours.state_dict()
    assert list(ref_state) == list(our_state)
    assert all(torch.equal(ref_state[k], our_state[k]) for k in ref_state)
    reference.eval()
    ours.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


def test_resnet_head_is_an_alias_of_fc() -> None:
    model = create_model("resnet18", 10, width=0.125)
    assert model.head is model.fc
    assert not any(name.startswith("head") for name, _ in model.named_parameters())
    model.head = nn.Linear(64, 3)
    assert model.fc is model.head and model.fc.out_features == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_resnet_last_bn_not_zero_initialised() -> None:
    model = create_model("resnet18", 10, width=0.125)
    assert torch.all(model.layer1[0].bn2.weight == 1)


def test_unknown_model_lists_available() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'; available: .*resnet18"):
        create_model("nope", 10)


def test_register_model_rejects_a_different_builder_under_a_taken_name() -> None:
    def resnet18(num_classes: int, width: float = 1.0) -> nn.Module:
        return nn.Linear(1, num_classes)

    with pytest.raises(ValueError, match="already registered"):
        register_model(resnet18)
