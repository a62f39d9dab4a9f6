"""Cached features are keyed by the weights actually loaded and the architecture, not a config."""

from __future__ import annotations

import torch

from tunnellab.data.lab.builders import build_lab_id
from tunnellab.models import create_model
from tunnellab.pipeline import stage_for
from tunnellab.pretrain.train import build_backbone, load_backbone
from tunnellab.probe.cache import model_fingerprint


def _checkpoint(cfg, path, seed: int):
    torch.manual_seed(seed)
    torch.save({"state_dict": build_backbone(cfg).state_dict()}, path)
    return path


def test_two_checkpoints_same_config_get_two_cache_entries(compose, tmp_path):
    cfg = compose("experiment=smoke", "data.samples_per_class=8", "probe.diagnostics=false")
    data = build_lab_id(resolution=32, classes=4, samples_per_class=8, val_per_class=2,
                        test_per_class=2)  # fmt: skip
    cache = tmp_path / "features"
    a, b = (_checkpoint(cfg, tmp_path / f"{n}.ckpt", seed) for n, seed in (("a", 0), ("b", 1)))

    def extract(checkpoint):
        stage = stage_for(cfg, tmp_path, load_backbone(cfg, checkpoint))
        return stage, stage.features(data, "train", "lab")

    first, feats_a = extract(a)
    second, feats_b = extract(b)
    assert first.cache.misses == 1 and second.cache.misses == 1 and second.cache.hits == 0
    assert len(list(cache.iterdir())) == 2
    assert not torch.equal(feats_a.features[-1], feats_b.features[-1])
    again, feats_again = extract(a)  # the same weights again: served from the cache
    assert again.cache.hits == 1 and again.cache.misses == 0
    torch.testing.assert_close(feats_again.features[-1], feats_a.features[-1])


def test_the_same_weights_in_another_architecture_are_another_entry():
    """VGGm-11 and VGGm-11† share every weight name and shape; only their pooling differs."""
    plain = create_model("vggm11", 4, width=0.0625)
    dagger = create_model("vggm11_dagger", 4, width=0.0625)
    dagger.load_state_dict(plain.state_dict())
    assert model_fingerprint(plain) != model_fingerprint(dagger)
    twin = create_model("vggm11", 4, width=0.0625)
    twin.load_state_dict(plain.state_dict())
    assert model_fingerprint(twin) == model_fingerprint(plain)
    with torch.no_grad():
        twin.head.weight.add_(1e-3)
    assert model_fingerprint(twin) != model_fingerprint(plain)


def test_a_split_read_again_by_the_same_stage_is_not_read_from_disk_again(compose, tmp_path):
    cfg = compose("experiment=smoke", "data.samples_per_class=8", "probe.diagnostics=false")
    data = build_lab_id(resolution=32, classes=4, samples_per_class=8, val_per_class=2,
                        test_per_class=2)  # fmt: skip
    checkpoint = _checkpoint(cfg, tmp_path / "a.ckpt", 0)
    stage_for(cfg, tmp_path, load_backbone(cfg, checkpoint)).features(data, "train", "lab")
    stage = stage_for(cfg, tmp_path, load_backbone(cfg, checkpoint))
    loads = []
    load = stage.cache.load
    stage.cache.load = lambda *args, **kwargs: loads.append(1) or load(*args, **kwargs)
    first = stage.features(data, "train", "lab")
    again = stage.features(data, "train", "lab")
    assert len(loads) == 1 and again is first  # read from disk once, then kept in RAM
    assert stage.cache.hits == 2 and stage.cache.misses == 0
    stage.ram_budget_bytes = 2 * first.nbytes - 1  # half the budget holds less than the split
    stage._kept.clear()
    stage.features(data, "train", "lab")
    stage.features(data, "train", "lab")
    assert len(loads) == 3  # nothing kept: read again
