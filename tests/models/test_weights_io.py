"""Files from user paths load as tensors only: a pickle that would run code is refused (and does
not run), and missing, empty, cut-short, foreign and other-model files get one-paragraph errors."""

from __future__ import annotations

import pathlib
import pickle
from pathlib import Path

import pytest
import timm
import torch
from omegaconf import OmegaConf, open_dict
from safetensors.torch import save_file

from tunnellab.errors import ConfigError
from tunnellab.models.external import timm_backbone, torchvision_backbone
from tunnellab.models.weights_io import compare_state, load_weights_file
from tunnellab.pipeline import probe_target
from tunnellab.pretrain.train import build_backbone, load_backbone


class _Touch:
    """Unpickling this creates ``marker`` (what a malicious checkpoint could do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _crafted(tmp_path: Path, name: str, legacy: bool = False) -> tuple[Path, Path]:
    """A checkpoint-looking file whose unpickling would create a marker file."""
    marker = tmp_path / f"{Path(name).name}.pwned"
    path = tmp_path / name
    payload = {"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": _Touch(marker)}
    if legacy:
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    return path, marker


def _one_paragraph(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.fixture
def smoke(compose):
    return compose("experiment=smoke")


@pytest.fixture
def trained_ckpt(smoke, tmp_path) -> Path:
    """A tunnellab-style checkpoint in a run dir (Lightning layout, ``model.`` prefix)."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(smoke, resolve=True))
    model = build_backbone(smoke)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    path = run_dir / "checkpoints" / "best.ckpt"
    torch.save({"epoch": 1, "state_dict": state, "hyper_parameters": {"lr": 0.1}}, path)
    return path


def test_the_crafted_pickle_would_run_code_when_unpickled(tmp_path) -> None:
    """The oracle: with weights_only=False the marker appears, so its absence below means
    something."""
    for legacy in (False, True):
        path, marker = _crafted(tmp_path, f"probe{legacy}.pt", legacy)
        if legacy:
            pickle.loads(path.read_bytes())
        else:
            torch.load(path, weights_only=False)
        assert marker.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["torch-zip", "raw-pickle"])
def test_unsafe_checkpoint_is_refused_without_running_code(smoke, tmp_path, legacy) -> None:
    path, marker = _crafted(tmp_path, "evil.ckpt", legacy)
    with open_dict(smoke):
        smoke.checkpoint = str(path)
    with pytest.raises(ConfigError) as err:
        probe_target(smoke, tmp_path / "run")
    text = _one_paragraph(err)
    assert text.startswith("refused to load 'checkpoint=") and str(path) in text
    assert "pathlib" in text and "weights_only=False" in text  # names it; says how to convert
    assert not marker.exists()


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_unsafe_weights_file_is_refused_without_running_code(tmp_path, library) -> None:
    path, marker = _crafted(tmp_path, "evil.pth")
    build = timm_backbone if library == "timm" else torchvision_backbone
    name = "test_resnet" if library == "timm" else "resnet18"
    with pytest.raises(ConfigError) as err:
        build(name, num_classes=3, weights=str(path), img_size=32)
    assert _one_paragraph(err).startswith(f"refused to load 'model.weights={path}'")
    assert not marker.exists()


def test_tunnellab_checkpoint_loads_safely_and_matches(smoke, trained_ckpt) -> None:
    model = load_backbone(smoke, trained_ckpt)
    stored = torch.load(trained_ckpt, weights_only=True)["state_dict"]
    assert all(torch.equal(v, stored[f"model.{k}"]) for k, v in model.state_dict().items())


def _bad_files(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    data = good.read_bytes()
    files = {
        "missing": (tmp_path / "nope" / "best.ckpt", "no such file"),
        "directory": (tmp_path, "is a directory"),
        "empty": (tmp_path / "empty.ckpt", "empty file"),
        "truncated": (tmp_path / "cut.ckpt", "damaged or cut-short checkpoint"),
        "text": (tmp_path / "notes.ckpt", "not a checkpoint (a text file"),
        "random": (tmp_path / "noise.ckpt", "not a checkpoint (unrecognised bytes"),
        "cut safetensors": (tmp_path / "cut.safetensors", "not a readable safetensors file"),
    }
    files["empty"][0].write_bytes(b"")
    files["truncated"][0].write_bytes(data[: len(data) // 2])
    files["text"][0].write_text("epoch: 3\nbest: 0.9\n")
    files["random"][0].write_bytes(bytes(range(7, 250)) * 4)
    save_file({"w": torch.ones(64)}, str(tmp_path / "whole.safetensors"))
    files["cut safetensors"][0].write_bytes((tmp_path / "whole.safetensors").read_bytes()[:-40])
    return files


def test_bad_files_are_one_paragraph_errors_naming_path_and_expectation(
    smoke, trained_ckpt, tmp_path
) -> None:
    for case, (path, says) in _bad_files(tmp_path, trained_ckpt).items():
        with pytest.raises(ConfigError) as err:
            load_backbone(smoke, path)
        text = _one_paragraph(err)
        assert says in text and str(path) in text, case
        assert "expected" in text.lower(), case
        with pytest.raises(ConfigError, match=r"model\.weights="):
            timm_backbone("test_resnet", num_classes=3, weights=str(path), img_size=32)


def test_checkpoint_of_another_model_names_keys_shapes_and_origin(
    compose, smoke, trained_ckpt
) -> None:
    wider = compose("experiment=smoke", "model.width=0.125")
    with pytest.raises(ConfigError) as err:
        load_backbone(wider, trained_ckpt)
    text = _one_paragraph(err)
    own = build_backbone(wider).state_dict()
    stored = torch.load(trained_ckpt, weights_only=True)["state_dict"]
    first = next(k for k in own if own[k].shape != stored[f"model.{k}"].shape)
    assert "holds the weights of another model than model.name=vggm11" in text
    assert f"{first}: file " in text  # the first shape mismatch, file vs model
    assert "trained as model.name=vggm11, model.width=0.0625" in text  # its run's config.yaml

    other = compose("experiment=smoke", "model=resnet18")
    with pytest.raises(ConfigError) as err:
        load_backbone(other, trained_ckpt)
    text = _one_paragraph(err)
    assert "tensors missing (e.g. conv1.weight" in text
    assert "unexpected (e.g. features." in text


def test_state_comparison_matches_torch_strict_loading() -> None:
    """compare_state agrees with load_state_dict(strict=True)'s own report (the oracle)."""
    model = timm.create_model("test_resnet", num_classes=3)
    state = dict(timm.create_model("test_vit").state_dict())
    state["fc.weight"] = torch.zeros(5, 5)
    mismatch = compare_state(model.state_dict(), state)
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(state, strict=True)
    report = str(err.value)
    for key in mismatch.missing[:5] + mismatch.unexpected[:5]:
        assert f'"{key}"' in report
    for key, *_ in mismatch.reshaped:
        assert f"size mismatch for {key}" in report


def test_safetensors_and_legacy_files_still_load(tmp_path) -> None:
    source = timm.create_model("test_resnet", num_classes=3)
    legacy = tmp_path / "old.pth"
    torch.save(source.state_dict(), legacy, _use_new_zipfile_serialization=False)
    safe = tmp_path / "w.safetensors"
    save_file(source.state_dict(), str(safe))
    for path in (legacy, safe):
        loaded = load_weights_file(path, "model.weights")
        assert all(torch.equal(loaded[k], v) for k, v in source.state_dict().items())


def test_resuming_from_a_crafted_last_ckpt_runs_no_code(smoke, tmp_path, monkeypatch) -> None:
    """Lightning's own resume (trainer.fit(ckpt_path=last.ckpt)) loads tensors only, also where
    the environment makes torch.load unpickle anything unless told otherwise."""
    from tunnellab.pipeline import instantiate_dataset
    from tunnellab.pretrain.train import pretrain

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    from tunnellab.run_identity import record_backbone

    record_backbone(smoke, tmp_path)  # the run dir says this config made it: resume is attempted
    _, marker = _crafted(tmp_path, "checkpoints/last.ckpt")
    with pytest.raises(ConfigError, match="would run code"):
        pretrain(smoke, tmp_path, instantiate_dataset(smoke.data), [])
    assert not marker.exists()
