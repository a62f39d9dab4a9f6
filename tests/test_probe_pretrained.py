"""``checkpoint=pretrained`` probes a backbone as its config builds it (no pretraining run);
``checkpoint=random_init`` probes its random initialisation, and only when asked for."""

import pytest

from tunnellab.config import compose_config
from tunnellab.errors import ConfigError
from tunnellab.pipeline import run_probe

pytestmark = pytest.mark.slow


def test_probe_a_torchvision_model_as_built(tmp_path):
    cfg = compose_config(
        ["experiment=smoke", "model=torchvision", "model.name=squeezenet1_1", "model.width=1.0",
         "checkpoint=random_init", "probe.epochs=2"]
    )  # fmt: skip
    result = run_probe(cfg, tmp_path)
    assert result.checkpoint is None
    assert (tmp_path / "tunnel_metrics.csv").is_file()
    assert set(result.metrics["dataset"]) == {"glyphs", "digits", "heldout"}
    assert result.probes["tap_index"].max() >= 4


def test_external_models_refuse_a_width_multiplier():
    with pytest.raises(ConfigError, match=r"model\.width=0\.0625"):
        compose_config(["experiment=smoke", "model=timm", "model.name=resnet18"])


def test_missing_weight_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.safetensors"
    cfg = compose_config(
        ["experiment=smoke", "model=timm", "model.name=resnet18", "model.width=1.0",
         f"model.weights={missing}", "checkpoint=pretrained"]
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"nope\.safetensors"):
        run_probe(cfg, tmp_path / "run")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["model=vggm11"], "tunnellab's own models"),
        (["model=timm", "model.name=resnet18", "model.width=1.0"], "model.weights is null"),
        (["model=torchvision", "model.name=squeezenet1_1", "model.width=1.0"], "is null"),
    ],
)
def test_pretrained_without_weights_refuses_to_probe_noise(tmp_path, overrides, fragment):
    cfg = compose_config(["experiment=smoke", *overrides, "checkpoint=pretrained"])
    with pytest.raises(ConfigError) as err:
        run_probe(cfg, tmp_path / "run")
    message = str(err.value)
    assert "would probe randomly initialised weights" in message and fragment in message
    assert "checkpoint=random_init" in message and "best.ckpt" in message
    assert not (tmp_path / "run").exists()  # refused before anything is written
