"""An end-to-end smoke run on your own data: data=imagefolder + an image-folder OOD entry."""

from __future__ import annotations

import pandas as pd
import pytest

from tunnellab.config import compose_config
from tunnellab.pipeline import run
from tunnellab.tools.fakes import write_image_folder

pytestmark = pytest.mark.slow


def test_smoke_run_on_an_image_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNNELLAB_CACHE", str(tmp_path / "cache"))
    write_image_folder(tmp_path / "mine", ["ant", "bee", "cat", "dog"], 25, size=(40, 36))
    write_image_folder(tmp_path / "other" / "train", ["x", "y", "z"], 6, size=(36, 36))
    write_image_folder(tmp_path / "other" / "test", ["x", "y", "z"], 3, size=(36, 36))
    cfg = compose_config(
        [
            "experiment=smoke",
            "data=imagefolder",
            f"data.path={tmp_path / 'mine'}",
            "data.classes=4",
            "data.samples_per_class=15",
            "ood=custom",
            f"ood.datasets.my_folder.path={tmp_path / 'other'}",
            "~ood.datasets.svhn",
            "~ood.datasets.ninco",
            "~ood.datasets.glyphs",  # the smoke experiment's settings for the lab suite
            "~ood.datasets.heldout",
            "aug=rrc_flip",
        ]
    )
    result = run(cfg, tmp_path / "run")
    probes = pd.read_csv(result.files["probe_results"])
    assert set(probes["dataset"]) == {"imagefolder", "my_folder"}
    row = probes[probes["role"] == "id"].iloc[0]
    assert row["n_test"] == 4 * 5  # the 80/20 seeded split of 25 images per class
    assert row["id_dataset"] == "imagefolder" and row["samples_per_class"] == 15
    assert row["overparam"] == pytest.approx(row["params"] / (4 * 15))
    metrics = pd.read_csv(result.files["tunnel_metrics"])
    assert list(metrics["dataset"]) == ["my_folder"]
