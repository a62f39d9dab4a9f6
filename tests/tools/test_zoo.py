"""``make zoo``: one row per (paper model, resolution) with exact counts, taps and feature sizes."""

from __future__ import annotations

import pandas as pd

from tunnellab.tools.zoo import COLUMNS, PAPER_MODELS, RESOLUTIONS, main, printed_millions

EXPECTED = {  # params with 100 classes, paper's printed millions, paper taps, summed tap dims
    "vggm11": (9_462_180, 9.46, 10, 11_776),
    "vggm17": (20_086_692, 20.08, 16, 22_016),
    "vggm11_dagger": (9_462_180, 9.46, 10, 11_776),
    "vggm17_dagger": (20_086_692, 20.08, 16, 22_016),
    "resnet18": (11_227_812, 11.22, 17, 13_580),
    "resnet34": (21_335_972, 21.33, 33, 28_428),
    "vit_t": (5_395_108, 5.61, 12, 2_304),
    "vit_t_plus": (8_064_292, 8.39, 18, 3_456),
}


def test_zoo_module_writes_the_csv_and_prints_the_table(tmp_path, capsys) -> None:
    main(["--out", str(tmp_path / "zoo")])
    table = pd.read_csv(tmp_path / "zoo" / "zoo.csv")
    assert list(table.columns) == COLUMNS
    assert len(table) == 32 == len(PAPER_MODELS) * len(RESOLUTIONS)
    assert sorted(table["resolution"].unique()) == list(RESOLUTIONS)
    for row in table.itertuples(index=False):
        assert (row.params, row.paper_params_m, row.taps, row.feature_dims) == EXPECTED[row.model]
    printed = capsys.readouterr().out
    assert "| vit_t_plus | 224 | 8,064,292 | 8.39 | 18 | 3,456 |" in printed
    assert f"32 rows (8 models) written to {tmp_path / 'zoo' / 'zoo.csv'}" in printed


def test_printed_millions_truncates_like_the_paper() -> None:
    assert printed_millions(20_086_692) == 20.08  # not rounded to 20.09
    assert printed_millions(9_462_180) == 9.46
