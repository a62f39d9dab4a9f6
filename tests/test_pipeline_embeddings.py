"""A tiny run with ``probe.embeddings=true``: the figure and its points from the feature cache
(no extraction pass more than without it), listed in the run's files, for the strongest tunnel."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import tunnellab.probe.stage as stage_module
from tunnellab.pipeline import run

pytestmark = pytest.mark.slow


def test_run_draws_embeddings_from_the_feature_cache(compose, tmp_path, monkeypatch) -> None:
    passes: list[str] = []
    extract = stage_module.extract_features

    def counted(*args, **kwargs):
        passes.append(kwargs["desc"])
        return extract(*args, **kwargs)

    monkeypatch.setattr(stage_module, "extract_features", counted)
    # Without the random-init floor, whose backbone has its own extraction passes.
    cfg = compose("experiment=smoke", "probe.embeddings=true", "probe.controls=[]")
    result = run(cfg, tmp_path)

    # One pass per (dataset, split) probed: the embeddings read the cache.
    datasets = set(result.probes["dataset"])
    assert len(passes) == len(set(passes)) == 2 * len(datasets)
    files = json.loads((tmp_path / "done.json").read_text())["files"]
    for key, name in [("embeddings_png", "embeddings.png"), ("embeddings_pdf", "embeddings.pdf"),
                      ("embeddings_csv", "embeddings.csv")]:  # fmt: skip
        assert files[key] == str(tmp_path / name) and (tmp_path / name).stat().st_size > 0

    points = pd.read_csv(tmp_path / "embeddings.csv")
    strongest = result.metrics.loc[result.metrics["retained"].idxmin()]
    start = strongest["tunnel_start"]
    if pd.isna(start):  # no tunnel on that set: where the ID curve saturates
        start = strongest["id_saturation_start"]
    assert set(points["tap_index"]) == {1, int(start) - 1, int(start), 10} - {0}
    assert set(points["dataset"]) == {"lab", strongest["dataset"]}
    counts = points.groupby(["dataset", "tap_index"]).size()
    assert counts.loc["lab"].eq(40).all()  # the whole ID test set (4 classes x 10)
    assert counts.loc[strongest["dataset"]].nunique() == 1
