"""``make gpu-check``: no GPU → a message and exit 0; the whole harness on the CPU at tiny sizes."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tunnellab.tools.bench import gpu
from tunnellab.tools.bench.gpu_report import render
from tunnellab.tools.bench.study_cost import Measured


def test_without_a_gpu_it_says_so_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--out", str(tmp_path / "out")]) is None
    said = capsys.readouterr().out
    assert said.startswith("no GPU found: ") and "--device cpu --tiny" in said
    assert not (tmp_path / "out").exists()


def test_recipe_numbers_come_from_the_composed_config():
    recipe = gpu.model_recipe("vggm11")
    assert (recipe.batch_size, recipe.lr, recipe.weight_decay) == (512, 6e-3, 0.05)
    assert (recipe.probe_epochs, recipe.probe_lr, recipe.label_smoothing) == (30, 1e-3, 0.1)
    assert gpu.model_recipe("vit_t").drop_path_rate == pytest.approx(0.1)


def test_small_resolutions_get_more_steps_and_images():
    size = gpu.CheckSize()
    assert [size.scaled(10, r) for r in (224, 128, 64, 32)] == [10, 30, 80, 80]
    assert gpu.TINY.scaled(10, 32) == 10


def test_an_oversized_batch_is_halved_until_it_fits():
    size = gpu.CheckSize(min_batch=8)
    tried = []

    def measure(batch: int) -> dict:
        tried.append(batch)
        if batch > 100:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return {"img_s": 1.0}

    cpu = torch.device("cpu")
    row = gpu._with_batch_cap(measure, 512, size, cpu)
    assert tried == [512, 256, 128, 64] and row == {"img_s": 1.0, "batch_size": 64, "capped": True}
    with pytest.raises(torch.cuda.OutOfMemoryError):
        gpu._with_batch_cap(measure, 512, dataclasses.replace(size, min_batch=200), cpu)
    assert gpu._with_batch_cap(measure, 64, size, cpu)["capped"] is False


def test_the_whole_harness_on_the_cpu(tmp_path):
    size = dataclasses.replace(gpu.TINY, models=("vggm11", "vit_t"), studies=False)
    report = gpu.run_check(size, torch.device("cpu"), tmp_path)
    saved = json.loads((tmp_path / gpu.GPU_JSON).read_text())
    assert saved == json.loads(json.dumps(report))
    assert {"device", "settings", "recipes", "pretrain", "extraction", "probe_heads",
            "probe_over_extraction", "peak_gib", "studies", "assumptions", "seconds",
            "skipped"} <= set(saved)  # fmt: skip
    assert saved["device"]["device"] == "cpu" and saved["peak_gib"] is None
    pretrain = saved["pretrain"]
    assert [(r["model"], r["resolution"], r["precision"]) for r in pretrain] == [
        ("vggm11", 32, "bf16-mixed"),
        ("vggm11", 32, "32-true"),
        ("vit_t", 32, "bf16-mixed"),
        ("vit_t", 32, "32-true"),
    ]
    for row in pretrain:
        assert "error" not in row, row
        assert row["img_s"] > 0 and row["batch_size"] == 4 and row["capped"] is False
        assert row["timed_steps"] == size.timed_steps
        assert row["recipe_batch"] == saved["recipes"][row["model"]]["batch_size"]
    for row in saved["extraction"]:
        assert row["img_s"] > 0 and row["images"] == size.extract_images
    taps = {r["model"]: r["taps"] for r in saved["extraction"]}
    assert taps == {"vggm11": 10, "vit_t": 12}
    heads = {r["model"]: r for r in saved["probe_heads"]}
    assert heads["vggm11"]["taps"] == 10 and heads["vggm11"]["samples"] == size.probe_samples
    for ratio in saved["probe_over_extraction"]:
        head = heads[ratio["model"]]
        forward = next(r for r in saved["extraction"] if r["model"] == ratio["model"])
        expected = head["s_per_sample_epoch"] * ratio["probe_epochs"] * forward["img_s"]
        assert ratio["ratio"] == pytest.approx(expected, abs=1e-3)
    text = render(saved)
    assert "pretraining img/s" in text and "vit_t" in text and "peak GPU memory" in text

    measured = gpu.measured_rates(saved)
    assert isinstance(measured, Measured)
    assert set(measured.pretrain) == {
        ("vggm11", 32, "bf16"), ("vggm11", 32, "fp32"), ("vit_t", 32, "bf16"), ("vit_t", 32, "fp32")
    }  # fmt: skip
    vit = next(r for r in saved["extraction"] if r["model"] == "vit_t")
    assert measured.forward[("vit_t", 32)] == vit["img_s"]
    assert measured.head_s_per_sample_epoch["vggm11"] == heads["vggm11"]["s_per_sample_epoch"]


def test_a_failed_measurement_is_recorded_and_the_rest_continue(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(gpu, "extraction_rate", broken)
    size = dataclasses.replace(
        gpu.TINY, models=("resnet18",), precisions=("32-true",), studies=False
    )
    report = gpu.run_check(size, torch.device("cpu"), tmp_path)
    assert report["extraction"][0]["error"] == "RuntimeError: simulated failure"
    assert "img_s" in report["pretrain"][0] and "s_per_epoch" in report["probe_heads"][0]
    assert report["probe_over_extraction"] == []
    assert "error in extraction resnet18 32" in render(report)
    over = gpu.run_check(dataclasses.replace(size, budget_s=0.0), torch.device("cpu"), tmp_path)
    assert over["pretrain"] == [] and len(over["skipped"]) == 3
    assert "skipped (time budget 0 s)" in render(over)
