"""The run variables: the one definition of the columns that describe a run in every table.

Each result row of a run carries them (``result_tables.run_variables``, in this order); W&B
tags (``tracking.tracker.variable_tags``), the variables a study sweeps (``tracking.study``), the
analysis table's required and context columns (``analysis.table``) and what paired comparisons
match on (``analysis.stats``) are selections of :data:`RUN_VARIABLES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from omegaconf import OmegaConf

#: config: read from the run config at ``key``; model: from the backbone's ``meta[name]``;
#: run: computed by the run itself (its id, parameter count, over-parameterisation, input
#: diversity)
Source = Literal["config", "model", "run"]
#: required: every analysis source has it and pairs match on it; context: kept when a source has
#: it and matched on, never compared; none: carried along only
Analysis = Literal["required", "context", "none"]


@dataclass(frozen=True)
class Variable:
    """One run variable: its column name, where its value comes from and who reads it."""

    name: str
    source: Source
    key: str | None = None  # config: dotted path in the run config
    default: Any = None  # config: the value when the config lacks ``key``
    tag: str | None = None  # W&B tag prefix (``res=224``); None: not a tag
    studied: bool = False  # a study sweep may vary it (seeds are summarised instead)
    analysis: Analysis = "none"

    def __post_init__(self) -> None:
        if (self.source == "config") != (self.key is not None):
            raise ValueError(f"variable {self.name!r}: a key exactly when its source is config")

    def from_config(self, cfg: Any) -> Any:
        """The value in run config ``cfg`` (a config variable's ``default`` when absent)."""
        if self.key is None:
            raise ValueError(f"variable {self.name!r} is not read from the config")
        return OmegaConf.select(cfg, self.key, default=self.default)


RUN_VARIABLES: tuple[Variable, ...] = (
    Variable("run_id", "run"),
    Variable("model", "config", "model.name", tag="model", studied=True, analysis="required"),
    # external (timm / torchvision) models have no width multiplier: 1
    Variable("width", "config", "model.width", default=1.0, studied=True, analysis="context"),
    Variable(
        "resolution", "config", "data.resolution", tag="res", studied=True, analysis="required"
    ),
    Variable("augmentation", "config", "aug.name", tag="aug", studied=True, analysis="required"),
    Variable("id_dataset", "config", "data.name", tag="id", studied=True, analysis="required"),
    Variable(
        "id_classes", "config", "data.classes", tag="classes", studied=True, analysis="required"
    ),
    Variable(
        "samples_per_class",
        "config",
        "data.samples_per_class",
        tag="spc",
        studied=True,
        analysis="required",
    ),
    Variable("seed", "config", "seed", tag="seed", analysis="required"),
    Variable("taps_kind", "config", "taps", analysis="context"),
    Variable("depth", "model", analysis="required"),
    Variable("stem", "model", analysis="required"),
    Variable("spatial_reduction", "model", analysis="required"),
    Variable("params", "run"),
    Variable("overparam", "run", analysis="required"),
    # Vendi score of the ID training inputs in a fixed reference embedding (data.input_diversity)
    Variable("id_diversity", "run"),
)


def variable_names(variables: Iterable[Variable] = RUN_VARIABLES, **where: Any) -> tuple[str, ...]:
    """The names of the variables whose attributes equal ``where`` (in definition order)."""
    return tuple(v.name for v in variables if all(getattr(v, k) == x for k, x in where.items()))
