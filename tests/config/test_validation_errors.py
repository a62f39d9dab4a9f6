"""Bad input fails at compose time with a message naming the key, the value and what is allowed."""

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from tunnellab.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("data.resolution=-3", ["data.resolution=-3", "[16, 224]"]),
        ("data.classes=1", ["data.classes=1", "[2, 108]"]),
        ("aug.name=mixup", ["aug.name=mixup", "none", "rrc_flip"]),
        ("taps=everything", ["taps=everything", "paper", "blocks"]),
        ("model.name=vggm13", ["model.name=vggm13", "vggm11", "resnet18"]),
        ("optim.lr=0", ["optim.lr=0", "> 0"]),
        ("probe.accuracy=median", ["probe.accuracy=median", "selected", "best", "last"]),
        ("trainer.accelerator=tpu9", ["trainer.accelerator=tpu9", "cpu", "gpu"]),
        ("logger.mode=sometimes", ["logger.mode=sometimes", "offline", "online"]),
        ("threads=0", ["threads=0", "null (PyTorch's default) or a number >= 1"]),
    ],
)
def test_bad_values_name_key_value_and_allowed(compose, override, fragments):
    with pytest.raises(ConfigError) as err:
        compose(override)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message  # one paragraph


def test_every_problem_is_reported_at_once(compose):
    with pytest.raises(ConfigError) as err:
        compose("data.resolution=8", "optim.epochs=0")
    assert "data.resolution=8" in str(err.value) and "optim.epochs=0" in str(err.value)


def test_unknown_group_option_lists_the_available_ones(compose):
    with pytest.raises(MissingConfigException) as err:
        compose("model=vggm13")
    assert "vggm17" in str(err.value) and "resnet34" in str(err.value)


def test_unknown_key_is_rejected(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose("data.colour=red")
    assert "data.colour" in str(err.value)


def test_wrong_type_is_rejected(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose("data.resolution=big")
    assert "data.resolution" in str(err.value)


def test_good_config_has_no_problems(compose):
    from tunnellab.config import config_problems

    assert config_problems(compose("experiment=quickstart")) == []
