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
    ],
)
def test_bad_engine_values_are_named(compose, override, fragments):
    with pytest.raises(ConfigError) as err:
        compose(override)
    for fragment in fragments:
        assert fragment in str(err.value)
