"""What a row of ``probe_results.csv`` measured: which backbone, which control, which probe.

A run probes its trained backbone (``backbone=trained, control=none``) with every probe kind of
``probe.kinds``, and, as floors, a randomly initialised copy of it (``backbone=random_init``) and
an ID probe on shuffled labels (``control=shuffled_labels``). The tunnel metrics, the W&B
headline, the study tables and the analysis read only the rows :func:`main_rows` keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tunnellab.errors import ConfigError

TRAINED, RANDOM_INIT = "trained", "random_init"
NO_CONTROL, SHUFFLED_LABELS = "none", "shuffled_labels"
LINEAR, KNN = "linear", "knn"
BACKBONES = (TRAINED, RANDOM_INIT)
CONTROLS = (RANDOM_INIT, SHUFFLED_LABELS)  # the values of probe.controls
PROBE_KINDS = (LINEAR, KNN)
VARIANT_COLUMNS = ("backbone", "control", "probe")


def main_rows(probes: pd.DataFrame, kind: str = LINEAR) -> pd.DataFrame:
    """The rows of the trained backbone without a control, of probe ``kind`` (tables written
    before these columns existed are returned whole)."""
    keep = pd.Series(True, index=probes.index)
    for column, value in zip(VARIANT_COLUMNS, (TRAINED, NO_CONTROL, kind), strict=True):
        if column in probes.columns:
            keep &= probes[column] == value
    return probes[keep]


def headline_rows(probes: pd.DataFrame) -> pd.DataFrame:
    """:func:`main_rows` of the kind a run's headline reads: linear where the run trained linear
    probes, else kNN (``probe.kinds=[knn]``)."""
    rows = main_rows(probes, LINEAR)
    return rows if len(rows) or "probe" not in probes else main_rows(probes, KNN)


def check_kinds(kinds: Sequence[str], metrics_from: str) -> None:
    """:class:`ConfigError` unless ``probe.metrics_from`` is one of the kinds that run."""
    if metrics_from not in kinds:
        raise ConfigError(
            f"'probe.metrics_from={metrics_from}' names a probe kind that does not run: "
            f"probe.kinds is {list(kinds)}. Add it to probe.kinds (e.g. probe.kinds=[linear,knn]) "
            "or set probe.metrics_from to one of them."
        )


FLOOR_LABELS = {
    (RANDOM_INIT, NO_CONTROL): "random-init backbone",
    (TRAINED, SHUFFLED_LABELS): "shuffled labels",
}


def floor_curves(probes: pd.DataFrame, column: str, kind: str = LINEAR) -> dict[str, list[float]]:
    """The ID curves of the floors in ``probes`` (probe ``kind``), by legend label."""
    if not set(VARIANT_COLUMNS) <= set(probes.columns):
        return {}
    id_rows = probes[(probes["role"] == "id") & (probes["probe"] == kind)]
    out = {}
    for (backbone, control), label in FLOOR_LABELS.items():
        rows = id_rows[(id_rows["backbone"] == backbone) & (id_rows["control"] == control)]
        if not rows.empty:
            out[label] = rows.sort_values("tap_index")[column].astype(float).tolist()
    return out
