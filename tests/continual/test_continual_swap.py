"""Cutting a backbone into extractor / tunnel / head and reassembling swapped parts."""

from __future__ import annotations

import pytest
import torch

from tunnellab.continual.swap import cut_model, load_combination, part
from tunnellab.errors import ConfigError
from tunnellab.models.resnet import resnet18


def _trained_pair():
    torch.manual_seed(0)
    first, second = resnet18(5, width=0.125), resnet18(5, width=0.125)
    with torch.no_grad():  # make every entry differ between the two "tasks", buffers too
        for tensor in second.state_dict().values():
            tensor.add_(torch.rand_like(tensor) + 0.5 if tensor.is_floating_point() else 1)
    return first, second


def test_paper_tunnel_of_resnet18_is_layer4():
    model = resnet18(5, width=0.125)
    cut = cut_model(model, model.taps("paper"), 14)  # the paper's 14-17 at 32²
    assert {k.split(".")[0] for k in cut.tunnel} == {"layer4"}
    assert cut.head == ["fc.weight", "fc.bias"]
    assert not any(k.startswith(("layer4", "fc")) for k in cut.extractor)
    every = cut.extractor + cut.tunnel + cut.head
    assert sorted(every) == sorted(model.state_dict()) and len(set(every)) == len(every)
    mid_block = cut_model(model, model.taps("paper"), 15)  # 15-17: from layer4.0.conv2 on
    assert mid_block.tunnel[0] == "layer4.0.conv2.weight"
    assert "layer4.0.conv1.weight" in mid_block.extractor


def test_e1_t2_holds_exactly_the_saved_parts():
    first, second = _trained_pair()
    s1, s2 = first.state_dict(), second.state_dict()
    cut = cut_model(first, first.taps("paper"), 14)
    e1, t2, head1 = part(s1, cut.extractor), part(s2, cut.tunnel), part(s1, cut.head)
    model = load_combination(resnet18(3, width=0.125), e1, t2, head1)
    got = model.state_dict()
    for key in cut.extractor:
        assert torch.equal(got[key], s1[key]) and not torch.equal(got[key], s2[key]), key
    for key in cut.tunnel:
        assert torch.equal(got[key], s2[key]) and not torch.equal(got[key], s1[key]), key
    for key in cut.head:
        assert torch.equal(got[key], s1[key]), key
    assert model.fc.out_features == 5  # resized to the head it was given


def test_cut_outside_the_taps_is_a_config_error():
    model = resnet18(5, width=0.125)
    with pytest.raises(ConfigError, match="tunnel_start=1"):
        cut_model(model, model.taps("paper"), 1)
    with pytest.raises(ConfigError, match=r"outside 2\.\.17"):
        cut_model(model, model.taps("paper"), 18)
