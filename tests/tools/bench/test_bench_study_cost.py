"""GPU-hour estimates: hand-computed costs and rates, a study's jobs from its composed configs."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from tunnellab.config import config_dir
from tunnellab.tools.bench.study_cost import (
    OOD_SIZES,
    PAPER_STUDIES,
    JobRates,
    Measured,
    StudyJob,
    estimate_studies,
    feature_width,
    forward_flops,
    interpolate_rate,
    job_rates,
    job_seconds,
    study_hours,
    study_jobs,
    sweep_overrides,
)

JOB = StudyJob(
    study="s",
    model="vggm17",
    resolution=64,
    precision="bf16",
    epochs=10,
    train_images=1_000,
    val_images=100,
    extract_images=5_000,
    probe_train_images=2_000,
    probe_epochs=30,
    head_banks=2,
)


def test_job_seconds_by_hand():
    rates = JobRates(pretrain_img_s=500.0, forward_img_s=2_000.0, head_s_per_sample_epoch=1e-5)
    parts = job_seconds(JOB, rates)
    assert parts["pretrain"] == pytest.approx(1_000 * 10 / 500)  # 20 s
    assert parts["validation"] == pytest.approx(100 * 10 / 2_000)  # 0.5 s
    assert parts["extraction"] == pytest.approx(5_000 / 2_000)  # 2.5 s
    assert parts["probes"] == pytest.approx(2_000 * 30 * 2 * 1e-5)  # 1.2 s
    assert parts["total"] == pytest.approx(24.2)


def test_interpolation_in_log_rate_against_log_pixels():
    rates = {32: 1_000.0, 224: 10.0}
    assert interpolate_rate(rates, 32) == 1_000.0
    # log-linear in pixels: at 64² the exponent is log(4)/log(49) of the way from 1000 to 10.
    expected = 1_000.0 * (10.0 / 1_000.0) ** (math.log(4) / math.log(49))
    assert interpolate_rate(rates, 64) == pytest.approx(expected)
    # Two rates ∝ 1/pixels stay ∝ 1/pixels, inside and outside the measured range.
    proportional = {32: 4_900.0, 224: 100.0}
    assert interpolate_rate(proportional, 128) == pytest.approx(4_900.0 / 16)
    assert interpolate_rate(proportional, 16) == pytest.approx(4_900.0 * 4)
    assert interpolate_rate({32: 800.0}, 64) == pytest.approx(200.0)  # one rate: ∝ 1/pixels
    with pytest.raises(KeyError):
        interpolate_rate({}, 32)


def test_job_rates_scale_from_the_measured_sibling():
    measured = Measured(
        pretrain={("vggm11", 32, "bf16"): 4_000.0, ("vggm11", 128, "bf16"): 250.0},
        forward={("vggm11", 32): 16_000.0, ("vggm11", 128): 1_000.0},
        head_s_per_sample_epoch={"vggm11": 2e-6},
    )
    flops = {("vggm11", 64): 2.0, ("vggm17", 64): 3.0}
    widths = {"vggm11": 100, "vggm17": 150}
    rates = job_rates(JOB, measured, flops=lambda m, r: flops[(m, r)], width=lambda m: widths[m])
    # 64² is halfway in log(pixels) between 32² and 128²: geometric mean; then × 2/3 for FLOPs.
    assert rates.pretrain_img_s == pytest.approx(1_000.0 * 2 / 3)
    assert rates.forward_img_s == pytest.approx(4_000.0 * 2 / 3)
    assert rates.head_s_per_sample_epoch == pytest.approx(3e-6)
    with pytest.raises(KeyError, match="fp32"):
        job_rates(replace(JOB, precision="fp32"), measured)
    with pytest.raises(KeyError, match="sibling"):
        job_rates(replace(JOB, model="resnet50"), measured)


def test_study_hours_sum_the_jobs_and_say_why_not():
    job = replace(
        JOB, model="vggm11", train_images=360_000, val_images=36_000, extract_images=180_000
    )
    measured = Measured(
        pretrain={("vggm11", 64, "bf16"): 1_000.0},
        forward={("vggm11", 64): 1_000.0},
        head_s_per_sample_epoch={"vggm11": 1e-4},
    )
    row = study_hours("s", [job, job], measured)
    # per job: pretrain 3,600,000 / 1000 s = 1 h, validation 0.1 h, extraction 0.05 h,
    # probes 2,000 × 30 × 2 × 1e-4 s = 12 s; two jobs.
    hours = row["gpu_hours"]
    assert hours["pretrain"] == 2.0 and hours["validation"] == 0.2
    assert hours["extraction"] == 0.1 and hours["probes"] == round(24 / 3600, 3)
    assert hours["total"] == round(2 * (1.15 + 12 / 3600), 3)
    assert row["jobs"] == 2
    missing = study_hours("s", [JOB], Measured({}, {}, {}))
    assert missing["gpu_hours"] is None and "vggm11" in missing["why"]


def test_flops_and_widths_of_the_paper_models():
    # VGGm† keeps the first two stages at full resolution: far more work than VGGm.
    assert forward_flops("vggm11_dagger", 32) > 5 * forward_flops("vggm11", 32)
    assert forward_flops("vggm11", 64) == pytest.approx(4 * forward_flops("vggm11", 32), rel=0.01)
    assert feature_width("resnet34") == 28_428  # the zoo's summed feature size (README)
    assert feature_width("vit_t") == 12 * 192


def test_sweep_overrides_in_sweep_order():
    combos = sweep_overrides({"model": "a,b", "aug": "none,rrc_flip"})
    assert combos == [
        ["model=a", "aug=none"],
        ["model=a", "aug=rrc_flip"],
        ["model=b", "aug=none"],
        ["model=b", "aug=rrc_flip"],
    ]
    assert sweep_overrides(None) == [[]]


def test_every_paper_study_is_listed():
    files = {p.stem for p in (config_dir() / "experiment" / "paper").glob("*.yaml")}
    # paper/continual is its own stage (no probes of every tap on 8 OOD sets): its cost is
    # estimated in experiments/continual/README.md, not by this tool
    assert set(PAPER_STUDIES) == files - {"continual"}


def test_class_count_jobs_from_their_configs():
    name, jobs = study_jobs("class_count")
    assert name == "paper/class_count" and len(jobs) == 6
    by = {(j.train_images, j.val_images, j.epochs): j for j in jobs}
    # C = 10 classes × 1,000 images; tested on their 10 × 50 val images; OOD: the 8 sets of an
    # ImageNet model (no CIFAR-10), Flowers on its val split.
    ood = [OOD_SIZES[k] for k in ("ninco", "imagenet_r", "cub", "aircraft", "flowers")]
    ood += [OOD_SIZES[k] for k in ("cifar100", "pets", "stl10")]
    job = by[(10_000, 500, 100)]
    assert job.model == "vggm11" and job.resolution == 32 and job.probe_epochs == 30
    assert job.probe_train_images == 10_000 + sum(a for a, _ in ood) == 111_063
    assert job.extract_images == 10_500 + sum(a + b for a, b in ood) == 150_555
    assert job.head_banks == 2
    assert {j.val_images for j in jobs} == {500, 2_500, 5_000}


def test_aliases_are_not_counted_twice(monkeypatch):
    import tunnellab.tools.bench.study_cost as cost

    jobs = {"a": [JOB], "b": [JOB], "c": [replace(JOB, epochs=5)]}
    monkeypatch.setattr(cost, "study_jobs", lambda s: (f"paper/{s}", jobs[s]))
    rows = estimate_studies(Measured({}, {}, {}), ("a", "b", "c"))
    assert [r.get("same_jobs_as") for r in rows] == [None, "a", None]
