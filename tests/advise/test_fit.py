"""The advisor's "how far is your data" section on constructed cases with a known answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from tunnellab.advise.advisor import advise
from tunnellab.advise.fit import assess_fit, training_data_node
from tunnellab.config import compose_config
from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.lab import id_families, procedural_split
from tunnellab.metrics.diversity import effective_rank, vendi_score
from tunnellab.pipeline import probe_target, run_pretrain, stage_for

pytestmark = pytest.mark.slow

N = 80  # user images per case (4 classes × 20)
TAP = 7  # a middle tap of vggm11 (10 taps) where the fit is measured in the direct cases


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A smoke-pretrained vggm11 on the lab data (4 classes) and its checkpoint."""
    return run_pretrain(
        compose_config(["experiment=smoke"]), tmp_path_factory.mktemp("pt")
    ).checkpoint


def _labels(n: int) -> torch.Tensor:
    return torch.arange(n) % 4


def same_distribution() -> ImageArrays:
    """Fresh lab ID images: the 4 families the backbone was trained on, another seed."""
    return procedural_split(id_families(4), N // 4, 32, seed=11)


def disjoint() -> ImageArrays:
    """Uniform-noise images: nothing in common with the lab scenes."""
    rng = np.random.default_rng(3)
    images = torch.from_numpy(rng.integers(0, 256, (N, 3, 32, 32), dtype=np.uint8))
    return ImageArrays(images, _labels(N), list("abcd"))


def _splits(name: str, images: ImageArrays) -> DatasetSplits:
    half = np.arange(len(images))
    return DatasetSplits(name, images.subset(half[::2]), images.subset(half[1::2]))


def _stage(tmp_path: Path, checkpoint: Path | str):
    cfg = compose_config(
        ["model=vggm11", "model.width=0.0625", f"checkpoint={checkpoint}",
         f"data.path={tmp_path}", "data.resolution=32"],
        config_name="advise",
    )  # fmt: skip
    model, _ = probe_target(cfg, tmp_path)
    return stage_for(cfg, tmp_path / "run", model)


def _fit(stage, name: str, images: ImageArrays, checkpoint: Path | None, n: int = 4096):
    layers = pd.DataFrame({"tap_index": np.arange(1, len(stage.taps) + 1)})
    return assess_fit(stage, _splits(name, images), name, layers, TAP, checkpoint, n, 0), layers


def test_same_distribution_fits_and_noise_does_not(trained, tmp_path):
    stage = _stage(tmp_path, trained)
    same, layers = _fit(stage, "same", same_distribution(), trained)
    noise, _ = _fit(stage, "noise", disjoint(), trained)
    assert same.training_data == "lab" and same.n_reference == same.n_user == N
    assert same.prdc.coverage > 0.8 and same.prdc.precision > 0.8
    assert 0.7 < same.prdc.density < 1.3
    assert noise.prdc.coverage < 0.2 and noise.prdc.recall < 0.2 and noise.prdc.density < 0.3
    assert noise.prdc.precision < same.prdc.precision
    # Per-tap diversity against the metric functions on the same (cached) features.
    feats = stage.features(_splits("same", same_distribution()), "train", "same")
    test = stage.features(_splits("same", same_distribution()), "test", "same")
    mine = torch.cat([feats.features[0], test.features[0]]).float()
    assert layers.loc[0, "vendi"] == pytest.approx(vendi_score(mine))
    assert layers.loc[0, "effective_rank"] == pytest.approx(effective_rank(mine))
    assert {"train_vendi", "train_effective_rank"} <= set(layers.columns)
    # Same config + seed → the same numbers.
    again, layers_again = _fit(stage, "same", same_distribution(), trained)
    assert again.prdc == same.prdc
    pd.testing.assert_frame_equal(layers, layers_again)


def test_the_identity_record_names_the_data_without_config_yaml(trained, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(trained.parent.parent / "checkpoints", run_dir / "checkpoints")
    node, source = training_data_node(run_dir / "checkpoints" / trained.name)
    assert source.endswith("identity.json")
    from_yaml, _ = training_data_node(trained)
    assert node.name == from_yaml.name == "lab" and node.classes == from_yaml.classes == 4


def test_training_data_that_cannot_load_is_said_not_raised(tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True)
    data = {"_target_": "tunnellab.data.folders.build_imagefolder", "name": "gone",
            "path": str(tmp_path / "nowhere"), "resolution": 32}  # fmt: skip
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    stage = _stage(tmp_path, "random_init")
    fit, layers = _fit(stage, "same", same_distribution(), ckpt)
    assert fit.prdc is None and "'gone'" in fit.note and "could not be loaded" in fit.note
    assert "vendi" in layers.columns and "train_vendi" not in layers.columns


def _write_folder(root: Path, images: ImageArrays) -> Path:
    for i, (image, label) in enumerate(zip(images.images, images.labels, strict=True)):
        folder = root / f"class_{int(label)}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    return root


def _advise(tmp_path: Path, checkpoint: Path | str):
    images = _write_folder(tmp_path / "images", same_distribution())
    cfg = compose_config(
        ["model=vggm11", "model.width=0.0625", f"checkpoint={checkpoint}",
         f"data.path={images}", "data.resolution=32", "probe.epochs=2", "advise.nuisances=[]",
         "advise.resolution_check=false", "advise.fit_samples=60"],
        config_name="advise",
    )  # fmt: skip
    return advise(cfg, tmp_path / "run")


def test_advice_with_a_tunnellab_checkpoint_carries_the_fit(trained, tmp_path):
    result = _advise(tmp_path, trained)
    fit = result.advice.fit
    assert fit.n_user == fit.n_reference == 60 and fit.prdc.coverage > 0.7
    text = (result.run_dir / "advice.md").read_text()
    assert "## How far is your data" in text
    assert f"{100 * fit.prdc.precision:.0f} % of your images fall inside the region" in text
    layers = pd.read_csv(result.run_dir / "layers.csv")
    for column in ["vendi", "effective_rank", "train_vendi", "train_effective_rank"]:
        assert layers[column].notna().all() and (layers[column] >= 1).all(), column


def test_advice_without_training_data_reports_the_collapse(tmp_path):
    result = _advise(tmp_path, "random_init")
    assert result.advice.fit.prdc is None
    text = (result.run_dir / "advice.md").read_text()
    assert (
        "The fit needs the backbone's training data" in text
        and "of the first tap's Vendi score is left" in text
    )
    layers = pd.read_csv(result.run_dir / "layers.csv")
    assert {"vendi", "effective_rank"} <= set(layers.columns)
    assert "train_vendi" not in layers.columns
