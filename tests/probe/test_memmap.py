"""Over the RAM budget, features stream to memory-mapped files and give the in-memory numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.models import create_model
from tunnellab.probe.batch_sources import PerTapSource
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.extract import extract_features
from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.heads import ProbeRecipe, train_linear_probes
from tunnellab.probe.mapped import MANIFEST, MappedFeatures, MappedSink, open_mapped
from tunnellab.probe.stage import ProbeStage


def _split(n: int, seed: int, classes: int = 3) -> ImageArrays:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = torch.randint(0, 255, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    images[labels == 1, 0] //= 2  # a class-dependent colour cast keeps the probes busy
    return ImageArrays(images, labels, [f"c{i}" for i in range(classes)])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("vggm11", 3, width=0.0625)


@pytest.fixture(scope="module")
def data() -> DatasetSplits:
    return DatasetSplits("toy", train=_split(120, 0), test=_split(50, 1))


def test_mapped_sink_writes_npy_files_equal_to_the_in_memory_pass(model, data, tmp_path):
    taps = model.taps("paper")
    memory = extract_features(model, taps, data.train, batch_size=32)
    mapped = extract_features(model, taps, data.train, batch_size=32, sink=MappedSink(tmp_path))
    assert isinstance(mapped, MappedFeatures) and mapped.mapped and not memory.mapped
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["n"] == 120 and manifest["dims"] == memory.dims
    for t, feature in enumerate(memory.features):
        torch.testing.assert_close(mapped.features[t], feature, rtol=0, atol=0)
        np.testing.assert_array_equal(np.load(tmp_path / manifest["taps"][t]), feature.numpy())
    torch.testing.assert_close(mapped.logits, memory.logits, rtol=0, atol=0)
    torch.testing.assert_close(mapped.labels, memory.labels)


class _Counted(MappedFeatures):
    releases = 0

    def release(self) -> None:
        type(self).releases += 1
        super().release()


def test_training_from_memmaps_equals_in_memory_training(model, data, tmp_path):
    taps = model.taps("paper")
    train = extract_features(model, taps, data.train, sink=MappedSink(tmp_path / "train"))
    test = extract_features(model, taps, data.test, sink=MappedSink(tmp_path / "test"))
    opened = open_mapped(tmp_path / "train")
    counted = _Counted(opened.features, opened.labels, opened.logits, opened.maps, opened.directory)
    in_ram = [
        SplitFeatures([f.clone() for f in s.features], s.labels, s.logits) for s in (train, test)
    ]
    recipe = ProbeRecipe(epochs=3, lr=1e-2, batch_size=16, lr_grid=(1e-3, 1e-2))
    holdout = np.arange(0, 120, 7)
    kwargs = {"n_classes": 3, "recipe": recipe, "holdout_index": holdout, "seed": 3}
    streamed = train_linear_probes(
        counted, train.labels, test, test.labels, window_bytes=1 << 16, **kwargs
    )
    memory = train_linear_probes(in_ram[0], train.labels, in_ram[1], test.labels, **kwargs)
    assert _Counted.releases > 3  # a small window releases pages many times per epoch
    np.testing.assert_array_equal(streamed.test_history, memory.test_history)
    np.testing.assert_array_equal(streamed.holdout_history, memory.holdout_history)
    np.testing.assert_array_equal(streamed.lr, memory.lr)


def test_per_tap_source_reads_one_minibatch_at_a_time(model, data, tmp_path):
    features = extract_features(
        model, model.taps("paper"), data.train, sink=MappedSink(tmp_path)
    ).features
    groups = [[0, 1], [2, 3]]
    source = PerTapSource(features, groups, torch.device("cpu"))
    index = torch.tensor([3, 7, 50])
    x = source.batch(1, index)
    assert x.shape == (2, 3, features[2].shape[1]) and x.dtype == torch.float32
    torch.testing.assert_close(x[1], features[3][index].float())
    torch.testing.assert_close(source.rows(0, 10, 14)[0], features[0][10:14].float())


def _stage(model, cache: FeatureCache, budget: float) -> ProbeStage:
    recipe = ProbeRecipe(epochs=2, lr=1e-2, batch_size=32)
    device = torch.device("cpu")
    return ProbeStage(model, model.taps("paper"), recipe, 0.1, 0, device, cache, 64, budget)


def test_stage_streams_splits_over_the_budget_with_equal_results(model, data, tmp_path):
    mapped_cache, memory_cache = FeatureCache(tmp_path / "m"), FeatureCache(tmp_path / "r")
    streamed, _ = _stage(model, mapped_cache, budget=0.0).probe(data, "id", "toy")
    in_memory, _ = _stage(model, memory_cache, budget=8.0).probe(data, "id", "toy")
    np.testing.assert_array_equal(streamed.curves.test_history, in_memory.curves.test_history)
    np.testing.assert_array_equal(streamed.curves.holdout_history, in_memory.curves.holdout_history)
    entries = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert len(entries) == 2 and all((tmp_path / "m" / e / MANIFEST).is_file() for e in entries)
    assert [p.suffix for p in (tmp_path / "r").iterdir()] == [".pt", ".pt"]  # no temporaries


def test_cache_serves_the_form_the_budget_asks_for(model, data, tmp_path):
    cache = FeatureCache(tmp_path)
    stage = _stage(model, cache, budget=0.0)
    stage.features(data, "train", "toy")  # a directory entry
    roomy = _stage(model, FeatureCache(tmp_path), budget=8.0)
    loaded = roomy.features(data, "train", "toy")
    assert roomy.cache.hits == 1 and not loaded.mapped  # read fully into RAM
    pt_cache = FeatureCache(tmp_path / "pt")
    _stage(model, pt_cache, budget=8.0).features(data, "test", "toy")  # a .pt entry
    tight = _stage(model, FeatureCache(tmp_path / "pt"), budget=0.0)
    again = tight.features(data, "test", "toy")
    assert tight.cache.misses == 1 and again.mapped  # over budget now: streamed to files
