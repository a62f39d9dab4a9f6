"""The advisor's outputs: ``layers.csv``, ``advice.md`` and ``advice.png`` (+ PDF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunnellab.advise.estimators import agreement_markdown
from tunnellab.advise.fit import Fit, fit_markdown
from tunnellab.atomic import atomic_write, atomic_write_text


@dataclass
class Advice:
    """Everything the advisor measured, per tap (rows of ``layers``) and overall."""

    model: str
    data_path: str
    layers: pd.DataFrame  # tap_index, tap_name, acc_best, acc_last, acc_selected, acc_<nuisance>...
    recommended_tap: int
    retained_last: float
    tunnel_start: int | None
    n_classes: int
    n_train: int
    n_test: int
    resolution: int
    pretraining_resolution: int | None
    native_resolution: int | None
    resolution_best: dict[int, float] = field(default_factory=dict)
    nuisances: list[str] = field(default_factory=list)
    skipped_images: int = 0
    fit: Fit | None = None  # how far the images are from the backbone's training data
    agreement: pd.DataFrame | None = None  # estimators vs probes (advise/estimators.py)
    probed_taps: list[int] | None = None  # fast mode (advise.top_k): the taps probed

    def row(self, tap: int) -> pd.Series:
        return self.layers[self.layers["tap_index"] == tap].iloc[0]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _tap(advice: Advice, tap: int | None) -> str:
    if tap is None:
        return "none"
    return f"tap {tap} (`{advice.row(tap)['tap_name']}`)"


def advice_markdown(advice: Advice) -> str:
    """A plain-language summary with the numbers, for a reader who has not seen the method."""
    best = advice.row(advice.recommended_tap)
    last = advice.layers.iloc[-1]
    lines = [
        f"# Which layer of `{advice.model}` to use for `{advice.data_path}`",
        "",
        f"**Use {_tap(advice, advice.recommended_tap)}.** A linear classifier on its features "
        f"reaches {_pct(best['acc_selected'])} test accuracy on your {advice.n_classes} classes "
        f"(epoch chosen on held-out training images, not on the test set).",
        "",
        f"- The last layer reaches {_pct(last['acc_selected'])}: it keeps "
        f"{advice.retained_last:.0f} % of the best layer's accuracy."
        + (
            f" Accuracy peaks at {_tap(advice, advice.tunnel_start)} and falls after it — the "
            "later layers are specialised to the pretraining task (a *tunnel*)."
            if advice.tunnel_start is not None
            else " No layer beats the last one: using the final embedding is fine."
        ),
    ]
    if advice.resolution_best:
        parts = ", ".join(f"{r}² → {_pct(a)}" for r, a in advice.resolution_best.items())
        lines.append(
            f"- Resolution: the backbone was pretrained at "
            f"{advice.pretraining_resolution or 'an unknown size'}², your images are natively "
            f"about {advice.native_resolution or '?'} px. Best tap accuracy by input size: {parts}."
        )
    if advice.nuisances:
        drops = {n: float(best["acc_selected"] - best[f"acc_{n}"]) for n in advice.nuisances}
        worst = max(drops, key=drops.get)
        robust = {
            n: int(advice.layers.loc[advice.layers[f"acc_{n}"].idxmax(), "tap_index"])
            for n in advice.nuisances
        }
        lines.append(
            "- Robustness of the recommended layer (accuracy drop in points): "
            + ", ".join(f"{n} {100 * d:+.1f}".replace("+-", "−") for n, d in drops.items())
            + f". The largest loss comes from **{worst}**; under it the best layer would be "
            f"{_tap(advice, robust[worst])}."
        )
    if advice.skipped_images:
        lines.append(f"- {advice.skipped_images} unreadable image file(s) were skipped.")
    if advice.fit is not None:
        lines += fit_markdown(advice.fit, advice.layers)
    lines += [
        "",
        "## How this was measured",
        f"{advice.n_train} training and {advice.n_test} test images at {advice.resolution}², one "
        "linear probe per layer trained on frozen features (AdamW, label smoothing 0.1), 10 % of "
        "the training images held out to choose each probe's epoch. `layers.csv` has every "
        "layer's numbers; `advice.png` plots them.",
    ]
    if advice.agreement is not None:
        lines += agreement_markdown(advice.agreement, advice.probed_taps is not None)
    return "\n".join(lines) + "\n"


def plot_advice(advice: Advice, out_path: Path) -> list[Path]:
    """Accuracy per tap, clean and under each nuisance; the recommended tap marked."""
    fig = Figure(figsize=(max(7.0, 0.45 * len(advice.layers) + 3), 4.5), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = advice.layers["tap_index"].to_numpy()
    ax.plot(x, advice.layers["acc_selected"], color="black", lw=2.5, marker="o", label="clean")
    for name in advice.nuisances:
        ax.plot(x, advice.layers[f"acc_{name}"], lw=1.3, marker=".", label=name)
    ax.axvline(advice.recommended_tap, color="tab:green", ls=":", lw=1.5, label="recommended")
    ax.set_xticks(x, advice.layers["tap_name"], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("tap (layer)")
    ax.set_ylabel("linear-probe test accuracy")
    ax.set_ylim(0, min(1.0, float(np.nanmax(advice.layers.filter(like="acc_").to_numpy())) + 0.1))
    ax.grid(alpha=0.3)
    ax.set_title(f"{advice.model} on {Path(advice.data_path).name}: accuracy per layer")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    paths = [out_path.with_suffix(".png"), out_path.with_suffix(".pdf")]
    for path in paths:
        atomic_write(path, lambda tmp, p=path: fig.savefig(tmp, format=p.suffix[1:]))
    return paths


def write_advice(advice: Advice, out_dir: Path) -> dict[str, Path]:
    """Write the three outputs into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "layers": atomic_write(
            out_dir / "layers.csv", lambda tmp: advice.layers.to_csv(tmp, index=False)
        ),
        "advice": atomic_write_text(out_dir / "advice.md", advice_markdown(advice)),
    }
    files["plot"], files["plot_pdf"] = plot_advice(advice, out_dir / "advice.png")
    if advice.agreement is not None:
        files["estimators"] = atomic_write(
            out_dir / "estimators.csv", lambda tmp: advice.agreement.to_csv(tmp, index=False)
        )
    return files
