"""The layer-embedding figure: which taps, which OOD set, the same seeded points in every column,
byte-identical files on a rerun, and every point written out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tunnellab.analysis.embeddings import embedding_taps, pick_ood, write_embeddings
from tunnellab.probe.features import SplitFeatures


@pytest.mark.parametrize(
    ("n", "start", "expected"),
    [
        (10, 6, [(1, "first"), (5, "before tunnel"), (6, "tunnel start"), (10, "last")]),
        (10, None, [(1, "first"), (10, "last")]),
        (10, 1, [(1, "first"), (10, "last")]),  # no tap before the first
        (10, 2, [(1, "first"), (2, "tunnel start"), (10, "last")]),
        (3, 3, [(1, "first"), (2, "before tunnel"), (3, "tunnel start")]),
        (1, None, [(1, "first")]),
    ],
)
def test_taps_first_before_at_and_last(n, start, expected) -> None:
    assert embedding_taps(n, start) == expected


def test_tunnel_start_outside_the_taps_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a tap"):
        embedding_taps(4, 5)


def _probes(curves: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"dataset": name, "role": "id" if name == "lab" else "ood", "tap_index": t + 1,
             "acc_best": acc}
            for name, curve in curves.items()
            for t, acc in enumerate(curve)
        ]
    )  # fmt: skip


def test_pick_ood_takes_the_strongest_tunnel_or_the_id_saturation() -> None:
    probes = _probes({"lab": [0.2, 0.5, 0.9, 1.0], "a": [0.3, 0.6, 0.5, 0.5]})
    metrics = pd.DataFrame(
        {"dataset": ["a", "b", "c"], "retained": [70.0, 40.0, 40.0],
         "tunnel_start": [2, 3, np.nan]}
    )  # fmt: skip
    assert pick_ood(probes, metrics, "acc_best") == ("b", 3)  # lowest retained, first on ties
    no_tunnel = metrics.assign(retained=[70.0, 50.0, 10.0])
    # c has no tunnel: the ID curve's saturation (0.9 < 0.95 * 1.0, so tap 4) stands in.
    assert pick_ood(probes, no_tunnel, "acc_best") == ("c", 4)
    assert pick_ood(probes, metrics.iloc[:0], "acc_best") == (None, 4)


def _split(n: int, taps: int, classes: int, seed: int) -> SplitFeatures:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    feats = [(torch.randn(n, 8, generator=g) + labels[:, None] * t).half() for t in range(taps)]
    return SplitFeatures(features=feats, labels=labels, logits=torch.zeros(n, classes))


def test_figure_and_points_are_seeded_and_reproducible(tmp_path) -> None:
    id_test, ood_test = _split(60, 5, 4, 0), _split(30, 5, 3, 1)
    names = [f"conv{t}" for t in range(1, 6)]
    torch_state = torch.get_rng_state()
    files = write_embeddings(
        id_test, ("glyphs", ood_test), names, 3, tmp_path / "a", seed=0, id_name="lab",
        max_points=40,
    )  # fmt: skip
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert {p.name for p in files.values()} == {
        "embeddings.png",
        "embeddings.pdf",
        "embeddings.csv",
    }
    points = pd.read_csv(files["embeddings_csv"])
    assert sorted(set(points["tap_index"])) == [1, 2, 3, 5]
    per_panel = points.groupby(["dataset", "tap_index"]).size()
    assert per_panel.loc["lab"].eq(40).all() and per_panel.loc["glyphs"].eq(30).all()
    lab = points[points["dataset"] == "lab"]
    samples = lab.groupby("tap_index")["sample"].apply(tuple)
    assert samples.nunique() == 1  # the same points in every column
    assert (lab["label"].to_numpy() == lab["sample"].to_numpy() % 4).all()  # labels follow
    assert set(points[points["dataset"] == "glyphs"]["role"]) == {"ood"}

    again = write_embeddings(
        id_test, ("glyphs", ood_test), names, 3, tmp_path / "b", seed=0, id_name="lab",
        max_points=40,
    )  # fmt: skip
    for key in ("embeddings_csv", "embeddings_png", "embeddings_pdf"):
        assert files[key].read_bytes() == again[key].read_bytes(), key
