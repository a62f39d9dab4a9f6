"""Objects from config nodes: ``_target_`` builds and dataclasses filled from a node's keys."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tunnellab.analysis.result import AnalysisOptions
from tunnellab.errors import ConfigError
from tunnellab.instantiate import dataclass_from_node, instantiate_node
from tunnellab.probe.heads import ProbeRecipe


def test_a_probe_recipe_from_the_probe_config(compose):
    probe = compose("experiment=smoke", "probe.lr_grid=[0.01,0.1]").probe
    recipe = dataclass_from_node(ProbeRecipe, probe)
    # the hand copy it replaces
    assert recipe == ProbeRecipe(
        epochs=probe.epochs, lr=probe.lr, weight_decay=probe.weight_decay,
        batch_size=probe.batch_size, label_smoothing=probe.label_smoothing,
        init_std=probe.init_std, lr_grid=(0.01, 0.1),
    )  # fmt: skip
    assert (recipe.epochs, recipe.lr, recipe.lr_grid) == (3, 3e-3, (0.01, 0.1))


def test_interpolations_are_resolved_and_absent_fields_keep_their_defaults():
    node = OmegaConf.create({"probe": {"epochs": "${n}", "extra": 1}, "n": 7})
    assert dataclass_from_node(ProbeRecipe, node.probe) == ProbeRecipe(epochs=7)
    options = dataclass_from_node(AnalysisOptions, {"ci_df": "n", "source": "paper"})
    assert options == AnalysisOptions(ci_df="n")
    with pytest.raises(TypeError, match="not a dataclass"):
        dataclass_from_node(dict, {})


def test_a_user_fixable_error_inside_a_build_surfaces_as_itself():
    node = OmegaConf.create({"_target_": "tunnellab.data.subsets.first_classes"})
    source = OmegaConf.create({"_target_": "builtins.dict"})
    with pytest.raises(ConfigError, match="more than the 0 classes"):
        instantiate_node(node, source=_NoClasses(), n_classes=3, dataset="x")
    assert instantiate_node(source, a=1) == {"a": 1}


class _NoClasses:
    classes: tuple[str, ...] = ()
