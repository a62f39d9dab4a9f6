"""The run variables are defined once; every list of them is a selection of that definition."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tunnellab.analysis.stats import MATCH_COLUMNS
from tunnellab.analysis.table import CONTEXT, RUN_VARIABLES
from tunnellab.tracking.study import STUDY_VARIABLES
from tunnellab.tracking.tracker import variable_tags
from tunnellab.variables import RUN_VARIABLES as VARIABLES
from tunnellab.variables import Variable, variable_names

# Written out literally (the lists each reader kept before there was one definition).
ROW_COLUMNS = [
    "run_id", "model", "width", "resolution", "augmentation", "id_dataset", "id_classes",
    "samples_per_class", "seed", "taps_kind", "depth", "stem", "spatial_reduction", "params",
    "overparam", "id_diversity",
]  # fmt: skip
ANALYSED = [
    "model", "resolution", "augmentation", "id_dataset", "id_classes", "samples_per_class",
    "seed", "depth", "stem", "spatial_reduction", "overparam",
]  # fmt: skip
STUDIED = [
    "model", "width", "resolution", "augmentation", "id_dataset", "id_classes",
    "samples_per_class",
]  # fmt: skip


def test_each_reader_selects_from_the_one_definition():
    assert [v.name for v in VARIABLES] == ROW_COLUMNS
    assert list(RUN_VARIABLES) == ANALYSED
    assert list(STUDY_VARIABLES) == STUDIED
    assert CONTEXT == ("width", "taps_kind", "accuracy")
    derived = {"arch", "cnn_vs_vit", "classes_samples", "dataset"}
    assert set(MATCH_COLUMNS) == {*ANALYSED, *CONTEXT, *derived}
    assert len(MATCH_COLUMNS) == len(set(MATCH_COLUMNS))


def test_tags_and_config_values(compose):
    cfg = compose("experiment=smoke")
    assert variable_tags(cfg) == [
        "model=vggm11", "res=32", "aug=none", "id=lab", "classes=4", "spc=40", "seed=0"
    ]  # fmt: skip
    width = next(v for v in VARIABLES if v.name == "width")
    assert width.from_config(cfg) == 0.0625
    assert width.from_config(OmegaConf.create({"model": {"name": "resnet50"}})) == 1.0


def test_a_variable_is_checked_and_selected_by_its_attributes():
    with pytest.raises(ValueError, match="a key exactly when"):
        Variable("depth", "model", key="model.depth")
    with pytest.raises(ValueError, match="a key exactly when"):
        Variable("resolution", "config")
    with pytest.raises(ValueError, match="not read from the config"):
        Variable("stem", "model").from_config(OmegaConf.create({}))
    assert variable_names(source="model") == ("depth", "stem", "spatial_reduction")
    assert variable_names(source="run", analysis="none") == ("run_id", "params", "id_diversity")
