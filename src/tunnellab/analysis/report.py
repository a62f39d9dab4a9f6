"""``report.md`` (Markdown tables, linked figures, every choice stated) and the console summary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tunnellab.analysis.input_diversity import diversity_section
from tunnellab.analysis.paper_refs import counterpart
from tunnellab.analysis.result import AnalysisResult
from tunnellab.analysis.shap_slopes import SHAP_LABELS, SHAP_VARIABLES
from tunnellab.analysis.stats import CLIFF_MAGNITUDES, COMPARISONS
from tunnellab.analysis.table import METRIC_LABELS, level_text, natural_key
from tunnellab.metrics.tunnel import STRENGTH_BINS

REPORT = "report.md"
TITLES = {c.variable: c.title for c in COMPARISONS}
#: Direction of each variable's effect on % retained that the paper reports (+1: higher level,
#: weaker tunnel), as its summary of the findings states (docs/protocol.md#statistics).
PAPER_DIRECTIONS: dict[str, int] = {
    "resolution": 1,
    "augmentation": 1,
    "id_classes": 1,
    "stem": 1,
    "depth": -1,
    "overparam": -1,
}
#: How each metric's values are printed.
METRIC_FORMATS: dict[str, str] = {"retained": ".1f", "pearson": ".3f", "alignment": ".3f"}
#: A slope whose share of the L1 total (|slope_l1|) is below this reads as "about zero".
NEAR_ZERO = 0.02


def _cell(value: object, floatfmt: str) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else format(value, floatfmt)
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (NaN shown as —)."""
    lines = [
        "| " + " | ".join(str(c) for c in frame.columns) + " |",
        "|" + "|".join("---" for _ in frame.columns) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)


def format_p(p: float) -> str:
    """p-values as the paper prints them: ``<0.001`` or three decimals."""
    if math.isnan(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def direction_check(slopes: pd.DataFrame, metric: str = "retained") -> pd.DataFrame:
    """Per variable with a known paper direction: the raw slope found here and whether it agrees
    (a slope under :data:`NEAR_ZERO` of the L1 total counts as no clear effect)."""
    rows = slopes[slopes["metric"] == metric].set_index("variable")
    records = []
    for variable, expected in PAPER_DIRECTIONS.items():
        if variable not in rows.index:
            continue
        slope = float(rows.at[variable, "slope"])
        share = float(rows.at[variable, "slope_l1"])
        if math.isnan(slope):
            verdict = "not varied here"
        elif abs(share) < NEAR_ZERO:
            verdict = "≈ 0 (no clear effect)"
        else:
            verdict = "agrees" if (slope > 0) == (expected > 0) else "disagrees"
        records.append(
            {
                "variable": SHAP_LABELS.get(variable, variable),
                "paper": "less tunnel" if expected > 0 else "more tunnel",
                "slope": slope,
                "here": verdict,
            }
        )
    return pd.DataFrame(records, columns=["variable", "paper", "slope", "here"])


def _slope_table(slopes: pd.DataFrame, column: str) -> pd.DataFrame:
    wide = slopes.pivot(index="variable", columns="metric", values=column)
    wide = wide[list(dict.fromkeys(slopes["metric"]))]
    wide = wide.reindex([v for v in SHAP_VARIABLES if v in wide.index])
    wide.index = [SHAP_LABELS.get(v, v) for v in wide.index]
    r2 = slopes.groupby("metric")["r2"].first()
    wide.loc["in-sample R² of the regressor"] = r2
    return wide.reset_index(names="variable")


def _means_table(means: pd.DataFrame, variable: str) -> pd.DataFrame:
    rows = means[means["variable"] == variable]
    out = {}
    for level, part in rows.groupby("level", sort=False):
        record = {
            "level": level,
            "n": int(part["n"].iloc[0]),
            "backbones": part["n_backbones"].iloc[0],
        }
        for r in part.itertuples():
            record[r.metric] = f"{r.mean:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}]"
        out[level] = record
    ordered = sorted(out, key=natural_key)
    return pd.DataFrame([out[k] for k in ordered])


def _tests_table(tests: pd.DataFrame, variable: str) -> pd.DataFrame:
    rows = tests[tests["variable"] == variable]
    records = []
    for (a, b), part in rows.groupby(["level_a", "level_b"], sort=False):
        record = {
            "comparison": f"{level_text(a)} vs {level_text(b)}",
            "pairs": int(part["n_pairs"].max()),
        }
        for r in part.itertuples():
            delta = "—" if math.isnan(r.cliffs_delta) else f"{r.cliffs_delta:+.3f} ({r.magnitude})"
            record[r.metric] = f"p {format_p(r.wilcoxon_p)}, δ {delta}"
        record["ambiguous matches left out"] = int(part["n_unpaired"].max())
        records.append(record)
    return pd.DataFrame(records)


def _pairs_details(pairs: pd.DataFrame, variable: str) -> str:
    """The backbone pairs behind a variable's tests, as a collapsible Markdown table."""
    rows = pairs[pairs["variable"] == variable]
    grouped = (
        rows.groupby(["level_a", "level_b", "backbone_a", "backbone_b"], sort=False)["dataset"]
        .count()
        .rename("OOD sets")
        .reset_index()
    )
    grouped["level_a"] = grouped["level_a"].map(level_text)
    grouped["level_b"] = grouped["level_b"].map(level_text)
    return (
        f"<details><summary>{len(grouped)} backbone pairs</summary>\n\n"
        + markdown_table(grouped)
        + "\n\n</details>"
    )


def _per_backbone_table(result: AnalysisResult, metric: str) -> pd.DataFrame:
    rows = result.per_backbone[result.per_backbone["metric"] == metric]
    wide = rows.pivot_table(index="backbone", columns="dataset", values="value", sort=False)
    wide["mean"] = wide.mean(axis=1)
    if metric == "retained":
        strength = result.backbones.set_index("backbone")["strength"]
        wide["strength"] = strength.reindex(wide.index)
    return wide.reset_index()


def _choices(result: AnalysisResult) -> list[str]:
    opts = result.options
    df = "n − 1" if opts.ci_df == "n-1" else "n (as the paper's printed tables)"
    magnitudes = ", ".join(f"{label} < {bound:g}" for label, bound in CLIFF_MAGNITUDES[:-1])
    bins = ", ".join(
        f"{label} ≥ {low:g}" if math.isfinite(low) else f"{label} below"
        for label, low in STRENGTH_BINS
    )
    lines = [
        f"**95% CIs**: mean ± t₀.₉₇₅,df · SEM (SEM with ddof 1), df = {df}.",
        "**Group means** use only *matched* rows: rows whose match (same OOD dataset and same "
        "values of every other variable, bar the ones that change along with the compared one) "
        "holds at least two levels, so each level is averaged over settings where the variable "
        "was actually varied.",
        "**Pairing rule** of the paired tests: two rows are paired when they agree on the OOD "
        "dataset and every other variable except the compared one and those linked to it (depth "
        "↔ over-parameterisation; stem / architecture ↔ the other architecture variables; ID "
        "dataset ↔ its class count and γ; classes × samples ↔ γ). A match holding several rows "
        "per level is paired in order of depth, then γ, when both levels hold the same number "
        "of rows, and is otherwise left out (counted as ambiguous). Every pair is in "
        "`pairs.csv`. Over-parameterisation gets no paired tests of its own: its pairs are "
        "those of depth.",
        "**Wilcoxon signed-rank**: two-sided on level_b − level_a, scipy defaults (zero "
        "differences dropped; exact distribution for small samples without ties).",
        f"**Cliff's δ** = P(b > a) − P(b < a) over the paired values (positive: the higher "
        f"level is larger); magnitude {magnitudes}, else large.",
        "**SHAP**: GradientBoostingRegressor(loss='huber', random_state=0) fitted on all rows "
        "with a value; inputs: the 8 variables (CNN vs ViT one-hot, summed back; the rest ordinal "
        "codes of their sorted distinct values; augmentation 0 = none, 1 = any); targets % "
        "retained / 100, ρ, A. Slope = least-squares slope of a variable's SHAP values against "
        "code / largest code. `slope` is raw: the released script's quantity, and the numbers "
        "the published figure shows; `slope_l1` is divided by the sum of |slopes| over the "
        "variables (what the paper's text describes). The figure and the summary lead with raw "
        "slopes"
        + (
            "; `normalise=true` adds the L1-normalised ones (figure `shap_slopes_l1`)."
            if opts.normalise
            else "."
        ),
        f"**Tunnel strength** of a backbone: its mean % retained over its OOD datasets; {bins}.",
    ]
    table = result.source.table
    if "accuracy" in table.columns:
        used = ", ".join(sorted(table["accuracy"].dropna().astype(str).unique()))
        lines.append(f"**Probe accuracy** behind the metrics (per run): {used}.")
    return lines


def _reproduces(output: str) -> str:
    return f"*Reproduces {counterpart(output)}.*"


def output_map(result: AnalysisResult) -> pd.DataFrame:
    """``output, reproduces``: every written table and figure with its paper counterpart."""
    root = result.out_dir
    names = [p.name for k, p in result.files.items() if k != "report"]
    names += [p.relative_to(root).as_posix() for p in result.figures if p.suffix == ".png"]
    if result.curves:
        names.append(f"{result.curves[0].parent.relative_to(root).as_posix()}/")
    records = [
        {"output": f"`{name}`", "reproduces": counterpart(Path(name.rstrip("/")).name) or "—"}
        for name in names
    ]
    return pd.DataFrame(records, columns=["output", "reproduces"])


def _links(paths: Sequence[Path], root: Path) -> list[str]:
    return [f"![{p.stem}]({p.relative_to(root).as_posix()})" for p in paths if p.suffix == ".png"]


def write_report(result: AnalysisResult) -> Path:
    """Write ``report.md`` into the analysis directory; returns its path."""
    table = result.source.table
    root = result.out_dir
    n_backbones = table["backbone"].nunique()
    datasets = ", ".join(dict.fromkeys(table["dataset"]))
    parts = [
        f"# Tunnel-effect analysis: {result.source.label}",
        f"{len(table)} rows: {n_backbones} backbones × their OOD datasets ({datasets}).",
        "## Choices that matter",
        "\n".join(f"- {line}" for line in _choices(result)),
    ]
    if not result.shap_slopes.empty:
        parts += [
            "## SHAP slopes",
            _reproduces("shap_slopes"),
            "Raw slopes (the released script's quantity; the published figure shows these "
            "numbers); > 0: the higher level of the variable raises the metric (for % retained "
            "and ρ: a weaker tunnel).",
            markdown_table(_slope_table(result.shap_slopes, "slope"), "+.3f"),
            "L1-normalised slopes (each divided by the sum of |slopes| of its metric, as the "
            "paper's text describes; `slope_l1` in `shap_slopes.csv`):",
            markdown_table(_slope_table(result.shap_slopes, "slope_l1"), "+.3f"),
            *_links([p for p in result.figures if p.stem.startswith("shap")], root),
            "### Agreement with the paper (% retained, raw slopes)",
            markdown_table(direction_check(result.shap_slopes), "+.3f"),
            "Stem is collinear with spatial reduction and CNN vs ViT in these designs (stem 8 ⇔ "
            "ViT, stem 7 ⇔ φ = 0.25), so the trees may credit its effect to either of those: "
            "read the three together.",
        ]
    parts += diversity_section(result.diversity, result.diversity_shap, markdown_table)
    parts += [
        "## Tunnel strength (backbones)",
        _reproduces("strength_bins.csv"),
        markdown_table(result.strength_bins),
        "## Group means (95% CI)",
        _reproduces("group_means.csv"),
    ]
    for variable in dict.fromkeys(result.group_means["variable"]):
        title = TITLES.get(variable, variable)
        parts += [f"### {title}", markdown_table(_means_table(result.group_means, variable))]
    parts += [
        "## Paired tests (Wilcoxon signed-rank p, Cliff's δ of b vs a)",
        _reproduces("paired_tests.csv"),
    ]
    for variable in dict.fromkeys(result.paired_tests.get("variable", pd.Series(dtype=str))):
        title = TITLES.get(variable, variable)
        parts += [
            f"### {title}",
            markdown_table(_tests_table(result.paired_tests, variable)),
            _pairs_details(result.pairs, variable),
        ]
    parts += ["## Per backbone and OOD dataset", _reproduces("per_backbone.csv")]
    for metric in dict.fromkeys(result.per_backbone["metric"]):
        parts += [
            f"### {METRIC_LABELS.get(metric, metric)}",
            markdown_table(_per_backbone_table(result, metric), METRIC_FORMATS.get(metric, ".3g")),
        ]
    others = [p for p in result.figures if not p.stem.startswith("shap")]
    if others:
        parts += ["## Figures", *_links(others, root)]
    if result.curves:
        parts += ["## Per-run curves", _reproduces("curves"), *_links(result.curves, root)]
    parts += ["## What each output reproduces", markdown_table(output_map(result))]
    if result.notes:
        parts += ["## Notes", "\n".join(f"- {n}" for n in result.notes)]
    path = root / REPORT
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


def _mean_of(result: AnalysisResult, variable: str, level: object, metric: str = "retained") -> str:
    rows = result.group_means
    sel = rows[
        (rows["variable"] == variable) & (rows["level"] == level) & (rows["metric"] == metric)
    ]
    if sel.empty:
        return ""
    r = sel.iloc[0]
    return f"{level_text(level)}: {r['mean']:.1f} [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"


def shap_summary_lines(slopes: pd.DataFrame, column: str = "slope") -> list[str]:
    """One line per metric: its variables by decreasing |slope| in ``column`` (raw or L1)."""
    label = {"slope": "raw", "slope_l1": "L1-normalised"}[column]
    lines = []
    for metric in dict.fromkeys(slopes["metric"]):
        rows = slopes[slopes["metric"] == metric].dropna(subset=[column])
        rows = rows.reindex(rows[column].abs().sort_values(ascending=False).index)
        text = ", ".join(f"{r.variable} {getattr(r, column):+.2f}" for r in rows.itertuples())
        lines.append(f"  {label} {metric} (R² {rows['r2'].iloc[0]:.2f}): {text}")
    return lines


def format_summary(result: AnalysisResult) -> str:
    """The lines printed at the end of ``tunnellab-analyze``."""
    table = result.source.table
    lines = [
        f"analysis of {result.source.label}",
        f"  {len(table)} rows, {table['backbone'].nunique()} backbones, "
        f"{table['dataset'].nunique()} distinct OOD datasets "
        f"({int(table.groupby('backbone')['dataset'].nunique().median())} per backbone)",
        f"  out dir     {result.out_dir}",
        f"  report      {result.files['report']}",
        "  tables      " + ", ".join(p.name for k, p in result.files.items() if k != "report"),
        "  report.md ends with the paper figure or table each output reproduces",
    ]
    if result.figures:
        n_png = len([p for p in result.figures if p.suffix == ".png"])
        lines.append(f"  figures     {n_png} (PNG + PDF) in {result.out_dir / 'figures'}")
    if result.curves:
        lines.append(f"  run curves  {len(result.curves)} in {result.out_dir / 'curves'}")
    if not result.pairs.empty:
        tests = result.paired_tests
        left_out = int(
            tests.groupby(["variable", "level_a", "level_b"])["n_unpaired"].first().sum()
        )
        lines.append(
            f"paired tests: {len(result.pairs)} row pairs over "
            f"{result.pairs['variable'].nunique()} variables, every pair listed in pairs.csv; "
            f"{left_out} ambiguous matches left out"
        )
    bins = ", ".join(f"{r.bin} {r.count}" for r in result.strength_bins.itertuples())
    lines.append(f"tunnel strength (backbones): {bins}")
    slopes = result.shap_slopes
    if not slopes.empty:
        lines.append("SHAP slopes (raw: the numbers of the paper's SHAP-slope figure):")
    lines += shap_summary_lines(slopes, "slope")
    if result.options.normalise:
        lines += shap_summary_lines(slopes, "slope_l1")
    check = direction_check(slopes)
    if not check.empty:
        agree = int((check["here"] == "agrees").sum())
        other = "; ".join(
            f"{r.variable}: {r.here}" for r in check.itertuples() if r.here != "agrees"
        )
        lines.append(
            f"paper's directions on % retained: {agree}/{len(check)} agree"
            + (f" ({other})" if other else "")
        )
    for variable in ("augmentation", "resolution", "id_dataset"):
        levels = result.group_means.loc[result.group_means["variable"] == variable, "level"]
        means = [m for m in (_mean_of(result, variable, lvl) for lvl in dict.fromkeys(levels)) if m]
        if means:
            lines.append(f"mean % retained by {variable}: " + "; ".join(means))
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
