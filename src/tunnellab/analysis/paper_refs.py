"""Which element of the paper each output of ``tunnellab-analyze`` reproduces.

One table, keyed by output name (a file name, or a figure's stem), read by the figures (a caption
line), ``report.md`` (a table and a line under each section) and the printed summary. Numbers are
given where the project has them (the per-backbone tables are the paper's Tables 5–7; the run
curves follow its Figure 1); elsewhere the element is named by what it shows. See
docs/protocol.md#statistics for the definitions behind each quantity.
"""

from __future__ import annotations

#: Output → the paper's element it reproduces (the same quantity, computed the same way).
PAPER_COUNTERPARTS: dict[str, str] = {
    "shap_slopes": (
        "the paper's SHAP-slope figure (one bar per variable for % retained, Pearson ρ and "
        "ID/OOD alignment)"
    ),
    "shap_slopes_l1": (
        "the paper's SHAP-slope figure with the slopes L1-normalised per metric, as its text "
        "describes (the published numbers are the raw slopes)"
    ),
    "shap_beeswarm": "the paper's SHAP value (beeswarm) plots per metric",
    "retained_by_model": (
        "the paper's % OOD retained per architecture × resolution × augmentation (main grid)"
    ),
    "depth_overparam": "the paper's depth and over-parameterisation (γ) comparison",
    "levels_stem": "the paper's stem comparison (3 / 7 / 8)",
    "levels_spatial_reduction": "the paper's spatial-reduction comparison (VGGm vs VGGm†)",
    "levels_id_dataset": "the paper's ID-dataset comparison (ImageNet-100 vs CIFAR-10/100)",
    "levels_classes_samples": "the paper's class-count and samples-per-class comparisons",
    "group_means.csv": (
        "the paper's mean ± 95% CI per level (ci_df=n gives its printed intervals)"
    ),
    "paired_tests.csv": "the paper's paired Wilcoxon signed-rank tests with Cliff's δ",
    "pairs.csv": "the row pairs behind the paper's paired tests (not printed in the paper)",
    "shap_slopes.csv": "the numbers of the paper's SHAP-slope figure (raw and L1-normalised)",
    "strength_bins.csv": (
        "the paper's tunnel-strength bins (negligible ≥ 95, weak, medium, strong < 80)"
    ),
    "per_backbone.csv": "the paper's per-backbone, per-OOD-dataset Tables 5–7",
    "backbones.csv": "one row per backbone: the mean of each metric over its OOD sets",
    "runs.csv": (
        "the analysed rows, one per backbone × OOD dataset (source=paper: the released results "
        "table with the variables decoded)"
    ),
    "curves": "the paper's Figure 1 view: normalised ID and OOD probe curves per tap",
}


def counterpart(name: str) -> str:
    """The paper element behind output ``name`` (a file name or a figure stem), or ``""``."""
    stem = name.removesuffix(".png").removesuffix(".pdf")
    return PAPER_COUNTERPARTS.get(name) or PAPER_COUNTERPARTS.get(stem, "")
