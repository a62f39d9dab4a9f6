"""A training phase killed after an epoch resumes to exactly the weights of an unbroken run."""

from __future__ import annotations

import pytest
import torch

from tunnellab.continual import train as train_module
from tunnellab.continual.mixing import MixingRecipe
from tunnellab.continual.train import AugSpec, PhaseRecipe, train_phase
from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.models.resnet import resnet18


def _data() -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), generator=g, dtype=torch.uint8)
    arrays = ImageArrays(images, torch.arange(16) % 4, list("abcd"))
    return DatasetSplits("tiny", arrays, arrays, arrays)


def _phase(tmp_path, name: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = resnet18(4, width=0.0625)
    frozen = [n for n, _ in model.named_parameters() if n.startswith("layer4")]
    trainable = [n for n, _ in model.named_parameters() if n not in frozen]
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("layer4")}
    recipe = PhaseRecipe(2, 1e-3, 0.05, batch_size=8, schedule="step", milestones=(1,))
    cpu, resume = torch.device("cpu"), tmp_path / name
    model = train_phase(
        model, trainable, _data(), recipe, MixingRecipe(), 0.1, AugSpec(), 3, cpu, resume
    )
    state = model.state_dict()
    for key, value in before.items():  # frozen: weights and BatchNorm statistics unchanged
        assert torch.equal(state[key], value), key
    return state


def test_killed_phase_resumes_to_the_same_weights(tmp_path, monkeypatch):
    unbroken = _phase(tmp_path, "a.pt")
    save = train_module._save

    def save_then_die(path, payload):
        save(path, payload)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _phase(tmp_path, "b.pt")
    monkeypatch.setattr(train_module, "_save", save)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["epoch"] == 1
    resumed = _phase(tmp_path, "b.pt")
    for key, value in unbroken.items():
        assert torch.equal(resumed[key], value), key
