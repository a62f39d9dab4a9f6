"""tunnellab-advise on a folder of real image files: the three outputs and the clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tunnellab.advise.advisor import advise
from tunnellab.config import compose_config
from tunnellab.data.lab import id_families, procedural_split
from tunnellab.errors import ConfigError, DatasetNotFoundError
from tunnellab.pipeline import run

pytestmark = pytest.mark.slow

FAST = ["probe.epochs=3", "advise.nuisances=[blur,jpeg_q20]"]


def write_folder(root: Path, classes: int = 3, per_class: int = 24, side: int = 40) -> Path:
    """Class folders of PNG and JPEG files, plus one unreadable file."""
    arrays = procedural_split(id_families(classes), per_class, side, seed=11)
    for i, (image, label) in enumerate(zip(arrays.images, arrays.labels, strict=True)):
        folder = root / f"class_{int(label)}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "png" if i % 2 else "jpg"
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.{suffix}")
    (root / "class_0" / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    return root


def _cfg(*overrides: str):
    return compose_config([*FAST, *overrides], config_name="advise")


def _check_outputs(result, n_taps: int) -> pd.DataFrame:
    for name in ["advice.md", "layers.csv", "advice.png", "advice.pdf"]:
        assert (result.run_dir / name).is_file(), name
    layers = pd.read_csv(result.run_dir / "layers.csv")
    assert len(layers) == n_taps
    assert {"acc_selected", "acc_blur", "drop_blur", "acc_jpeg_q20"} <= set(layers.columns)
    assert layers[["acc_selected", "acc_blur"]].stack().between(0, 1).all()
    text = (result.run_dir / "advice.md").read_text()
    assert f"tap {result.advice.recommended_tap}" in text
    assert "1 unreadable image file(s) were skipped" in text
    assert result.advice.skipped_images == 1
    return layers


def test_random_timm_model_on_real_image_files(tmp_path):
    images = write_folder(tmp_path / "images")
    cfg = _cfg(
        "model=timm", "model.name=resnet18", "checkpoint=random_init", f"data.path={images}",
        "data.resolution=40",
    )  # fmt: skip
    result = advise(cfg, tmp_path / "run")
    layers = _check_outputs(result, n_taps=8)
    assert result.advice.recommended_tap == int(layers["acc_selected"].idxmax()) + 1
    # timm's resnet18 was pretrained at 224: the advisor also probes there and reports both.
    assert set(result.advice.resolution_best) == {40, 224}
    assert "acc_at_224" in layers.columns
    assert result.advice.n_classes == 3


def test_quickstart_style_checkpoint(tmp_path):
    trained = run(compose_config(["experiment=smoke"]), tmp_path / "pretrain")
    images = write_folder(tmp_path / "images", classes=2)
    cfg = _cfg(
        "model=vggm11", "model.width=0.0625", f"checkpoint={trained.checkpoint}",
        f"data.path={images}", "data.resolution=32", "advise.resolution_check=false",
    )  # fmt: skip
    result = advise(cfg, tmp_path / "run")
    _check_outputs(result, n_taps=10)
    assert result.advice.pretraining_resolution == 32
    assert result.advice.resolution_best == {}


def test_missing_folder_is_a_clear_error(tmp_path):
    cfg = _cfg("model=timm", "model.name=resnet18", f"data.path={tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="is not a folder"):
        advise(cfg, tmp_path / "run")


def test_empty_class_is_a_clear_error(tmp_path):
    images = write_folder(tmp_path / "images", classes=2, per_class=6)
    (images / "class_empty").mkdir()
    cfg = _cfg(
        "model=timm", "model.name=resnet18", "checkpoint=random_init", f"data.path={images}",
        "data.resolution=32",
    )  # fmt: skip
    with pytest.raises(DatasetNotFoundError, match="class_empty"):
        advise(cfg, tmp_path / "run")
