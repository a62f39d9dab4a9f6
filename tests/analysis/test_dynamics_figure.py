"""The dynamics figure and its per-epoch tunnel table, against hand-derived values."""

from __future__ import annotations

import pandas as pd

from tunnellab.analysis.dynamics_figure import plot_dynamics, tunnel_by_epoch


def table() -> pd.DataFrame:
    curves = {  # (epoch, dataset, role): accuracy per tap
        (1, "lab", "id"): [0.2, 0.4, 0.5],
        (1, "far", "ood"): [0.3, 0.3, 0.3],
        (4, "lab", "id"): [0.3, 0.9, 1.0],
        (4, "far", "ood"): [0.2, 0.5, 0.25],
    }
    rows = [
        {"epoch": e, "dataset": d, "role": r, "tap_index": t + 1, "tap_name": f"c{t + 1}", "acc": a}
        for (e, d, r), accs in curves.items()
        for t, a in enumerate(accs)
    ]
    return pd.DataFrame(rows)


def test_tunnel_by_epoch_by_hand():
    out = tunnel_by_epoch(table())
    assert out["epoch"].tolist() == [1, 4]
    assert out["retained"].tolist() == [100.0, 50.0]  # 0.3 / 0.3; 0.25 / 0.5
    assert out["tunnel_start"].isna().tolist() == [True, False]
    assert out["tunnel_start"].iloc[1] == 2
    # first tap reaching 95 % of the last: 0.5 → tap 3; 1.0 → tap 3 (0.9 < 0.95)
    assert out["id_saturation_start"].tolist() == [3, 3]


def test_plot_dynamics_writes_png_and_pdf(tmp_path):
    png, pdf = plot_dynamics(table(), tmp_path / "dynamics.png", title="t")
    assert png.name == "dynamics.png" and pdf.name == "dynamics.pdf"
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
