"""The probe engine's config keys: defaults, and bad values named at compose time."""

import pytest

from tunnellab.errors import ConfigError


def test_engine_keys_have_their_defaults(compose):
    probe = compose("experiment=smoke").probe
    assert probe.lr_grid == [] and probe.ram_budget_gb == 8.0
    assert probe.extract_precision == "auto" and probe.extract_batch_size == 256
    assert (probe.holdout, probe.order, probe.repeated_aug) == ("shared", "shuffle", 0)
    grid = compose("experiment=smoke", "probe.lr_grid=[1e-3,3e-3,1e-2]").probe.lr_grid
    assert list(grid) == [1e-3, 3e-3, 1e-2]


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("probe.lr_grid=[1e-3,-1]", ["probe.lr_grid", "numbers > 0"]),
        ("probe.ram_budget_gb=-1", ["probe.ram_budget_gb=-1", ">= 0"]),
        ("probe.extract_precision=fp8", ["probe.extract_precision=fp8", "fp32", "bf16"]),
        ("probe.holdout=half", ["probe.holdout=half", "shared", "separate", "none"]),
        ("probe.order=random", ["probe.order=random", "shuffle", "fixed"]),
        ("optim.repeated_aug=1", ["optim.repeated_aug=1", "0 (off) or a repeat count >= 2"]),
        ("optim.decay=some", ["optim.decay=some", "all", "timm"]),
        ("data.norm=svhn", ["data.norm=svhn", "imagenet", "cifar10", "cifar100"]),
        ("probe.controls=[random]", ["probe.controls", "random_init", "shuffled_labels"]),
        ("probe.kinds=[]", ["probe.kinds", "linear", "knn", "at least one"]),
        ("probe.kinds=[knn,knn]", ["probe.kinds", "distinct"]),
        ("probe.metrics_from=svm", ["probe.metrics_from=svm", "linear", "knn"]),
        ("probe.knn_k=0", ["probe.knn_k=0", ">= 1"]),
    ],
)
def test_bad_engine_values_are_named(compose, override, fragments):
    with pytest.raises(ConfigError) as err:
        compose(override)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_floors_and_knn_are_on_for_own_runs_and_off_for_paper_studies(compose):
    for experiment in ("quickstart", "lab/depth"):
        probe = compose(f"experiment={experiment}").probe
        assert list(probe.controls) == ["random_init", "shuffled_labels"], experiment
        assert list(probe.kinds) == ["linear", "knn"] and probe.metrics_from == "linear"
        assert (probe.knn_k, probe.knn_temperature) == (200, 0.1)
    for experiment in ("main_grid", "imagenet1k"):
        probe = compose(f"experiment=paper/{experiment}").probe
        assert list(probe.controls) == [] and list(probe.kinds) == ["linear"], experiment
    asked = compose("experiment=paper/main_grid", "probe.controls=[random_init]").probe
    assert list(asked.controls) == ["random_init"]
