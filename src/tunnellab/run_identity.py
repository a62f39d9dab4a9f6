"""Run identity: the work in a run dir is reused only by the config that made it.

Two records say which config made what:

* ``checkpoints/identity.json`` — the *pretraining* identity, written before training starts (so
  the ``last.ckpt`` of a killed run is covered too): the flattened config that determines the
  weights (:data:`PRETRAIN_GROUPS` + ``trainer.precision``) and its hash;
* ``done.json`` — the *run* identity of finished results (:func:`config_hash`, the flattened config
  it came from, and the Hydra overrides of the launch).

:func:`claim_run_dir` compares them with the config about to run: a match is reused (a finished run
skipped, a backbone reused, a killed one resumed); a mismatch is a :class:`ConfigError` naming the
keys that differ, unless ``overwrite=true``, which moves the old files into
``<run dir>/replaced-<time>/`` (never deletes them).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import DictConfig, OmegaConf

from tunnellab.atomic import atomic_write_text
from tunnellab.distributed import is_rank_zero
from tunnellab.errors import ConfigError

PROBE_RESULTS = "probe_results.csv"
TUNNEL_METRICS = "tunnel_metrics.csv"
HASHED_GROUPS = ("data", "ood", "model", "aug", "optim", "probe", "taps", "seed")
OPTIONAL_HASHED_GROUPS = ("continual",)  # hashed only where a run sets them


# Keys that say where or how fast data is read, never what it is: left out of run identity.
STORAGE_KEYS = frozenset({"cache", "cache_dir", "decode_workers"})


def semantic(node: Any) -> Any:
    """A resolved config node without its storage keys (what determines the numbers)."""
    if OmegaConf.is_config(node):
        node = OmegaConf.to_container(node, resolve=True)
    if isinstance(node, dict):
        return {k: semantic(v) for k, v in node.items() if k not in STORAGE_KEYS}
    if isinstance(node, list):
        return [semantic(v) for v in node]
    return node


def config_hash(cfg: DictConfig) -> str:
    """Hash of everything that determines a run's numbers (not paths, loggers or devices)."""
    groups = HASHED_GROUPS + tuple(k for k in OPTIONAL_HASHED_GROUPS if cfg.get(k) is not None)
    resolved = semantic({k: cfg.get(k) for k in groups})
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:12]


IDENTITY = "identity.json"
DONE = "done.json"
RUN_CONFIG = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
HYDRA_OVERRIDES = Path(".hydra") / "overrides.yaml"
# What determines the pretrained weights. Left out, like ``threads`` in the run hash: settings
# that change CPU/GPU numbers only bit-wise (accelerator, devices, deterministic, threads).
PRETRAIN_GROUPS = ("model", "data", "aug", "optim", "seed")
PRETRAIN_TRAINER_KEYS = ("precision",)
# Files derived from the results of a run / from its backbone, moved aside by overwrite=true.
RESULT_FILES = (DONE, PROBE_RESULTS, TUNNEL_METRICS, "curves.png", "curves.pdf", RUN_CONFIG)
RESULT_FILES += ("embeddings.png", "embeddings.pdf", "embeddings.csv")
RESULT_FILES += ("dynamics.csv", "dynamics.png", "dynamics.pdf")  # probe.at_epochs
SCORES = "scores.csv"  # probe.scores: training-free layer scores (probe/scores.py)
REPORT_HTML = "report.html"  # the run's self-contained page (report/)
RESULT_FILES += (SCORES, REPORT_HTML)
BACKBONE_FILES = (CHECKPOINT_DIR, "features", "csv", "wandb")  # + its training curves
REPLACED = "replaced-"  # analysis.run_sources.find_run_dirs skips these folders
MAX_LISTED = 8
WAIT_S = 600.0  # how long DDP ranks wait for rank 0 to move another config's files aside


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"dotted.key": leaf value}`` (lists are leaves)."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def digest(flat: dict[str, Any]) -> str:
    """A short hash of a flattened config."""
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:12]


def pretrain_config(cfg: DictConfig) -> dict[str, Any]:
    """The flattened config that determines the pretrained weights (not probe, ood, paths, ...)."""
    groups = {k: cfg.get(k) for k in PRETRAIN_GROUPS}
    trainer = cfg.get("trainer") or {}
    groups["trainer"] = {k: trainer.get(k) for k in PRETRAIN_TRAINER_KEYS}
    return flatten(semantic(groups))


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The flattened config :func:`config_hash` covers (what labels a run's results)."""
    return flatten(semantic({k: cfg.get(k) for k in HASHED_GROUPS}))


def results_config(cfg: DictConfig) -> dict[str, Any]:
    """What determines a run's results: the run hash's config plus the pretraining identity's."""
    return {**run_config(cfg), **pretrain_config(cfg)}


@dataclass
class Record:
    """What a run dir says made some of its work: a hash and, when known, the flattened config."""

    source: str  # the file it was read from, relative to the run dir
    hash: str | None
    config: dict[str, Any] | None = None
    overrides: list[str] | None = None  # the Hydra overrides of the launch that made it
    scheme: str = "identity"  # how ``hash`` was made: "identity" (digest) or "config_hash"


@dataclass
class Conflict:
    """Work in a run dir that another config made: ``kind`` is ``backbone`` or ``results``."""

    kind: str
    record: Record
    config: dict[str, Any]


def _legacy_config(run_dir: Path) -> DictConfig | None:
    """The run dir's ``config.yaml`` (runs from before the identity records)."""
    path = run_dir / RUN_CONFIG
    return OmegaConf.load(path) if path.is_file() else None  # type: ignore[return-value]


def backbone_record(run_dir: Path) -> Record | None:
    """The pretraining identity of ``<run dir>/checkpoints``; None when it holds no checkpoint."""
    ckpt_dir = run_dir / CHECKPOINT_DIR
    path = ckpt_dir / IDENTITY
    if path.is_file():
        info = json.loads(path.read_text())
        return Record(f"{CHECKPOINT_DIR}/{IDENTITY}", info.get("hash"), info.get("config"))
    if not ckpt_dir.is_dir() or not any(p.name != IDENTITY for p in ckpt_dir.iterdir()):
        return None
    legacy = _legacy_config(run_dir)
    if legacy is None:
        return Record(f"{CHECKPOINT_DIR}/ (no record of its config)", None)
    flat = pretrain_config(legacy)
    return Record(RUN_CONFIG, digest(flat), flat)


def results_record(run_dir: Path) -> Record | None:
    """The run identity of the results in ``run_dir``; None when it holds none."""
    done = run_dir / DONE
    if done.is_file():
        info = json.loads(done.read_text())
        if "identity" in info:
            return Record(DONE, info["identity"], info.get("config"), info.get("overrides"))
        legacy = _legacy_config(run_dir)  # done.json from before the identity records
        flat = None if legacy is None else run_config(legacy)
        return Record(DONE, info.get("config_hash"), flat, scheme="config_hash")
    probes = run_dir / PROBE_RESULTS
    if probes.is_file():  # a probe-only run, or one killed before done.json
        run_id = str(pd.read_csv(probes, usecols=["run_id"], nrows=1)["run_id"].iloc[0])
        legacy = _legacy_config(run_dir)
        flat = None if legacy is None else run_config(legacy)
        return Record(PROBE_RESULTS, run_id.rsplit("-", 1)[-1], flat, scheme="config_hash")
    return None


def find_conflicts(
    cfg: DictConfig, run_dir: Path, backbone: bool = True, results: bool = True
) -> list[Conflict]:
    """The work in ``run_dir`` that a config other than ``cfg`` made."""
    conflicts = []
    if backbone and (record := backbone_record(run_dir)) is not None:
        flat = pretrain_config(cfg)
        if record.hash != digest(flat):
            conflicts.append(Conflict("backbone", record, flat))
    if results and (record := results_record(run_dir)) is not None:
        if record.scheme == "config_hash":
            current, flat = config_hash(cfg), run_config(cfg)
        else:
            flat = results_config(cfg)
            current = digest(flat)
        if record.hash != current:
            conflicts.append(Conflict("results", record, flat))
    return conflicts


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def describe_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key old → new`` for each dotted key whose value differs, sorted by key."""
    missing = object()
    lines = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key, missing), new.get(key, missing)
        if was != now:
            shown = ["(absent)" if v is missing else _show(v) for v in (was, now)]
            lines.append(f"{key} {shown[0]} → {shown[1]}")
    return lines


def describe_conflict(c: Conflict) -> str:
    """What differs between the record and this config (at most :data:`MAX_LISTED` keys)."""
    source = c.record.source
    if c.record.hash is None:
        return f"{source} holds no record of the config that made it"
    if c.record.config is None:
        return f"{source} records config hash {c.record.hash}, not its keys"
    lines = describe_differences(c.record.config, c.config)
    if not lines:
        return f"no key differs from {source}, yet its hash does (another tunnellab version)"
    more = len(lines) - MAX_LISTED
    listed = ", ".join(lines[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")
    return f"keys that differ from {source}: {listed}"


def conflict_message(run_dir: Path, conflicts: list[Conflict]) -> str:
    """One paragraph: what another config made in ``run_dir``, the differing keys, the ways out."""
    kinds = {c.kind: c for c in conflicts}
    where = f"'{run_dir / REPLACED}<time>/'"
    ways = (
        "Either give this run a new run dir (hydra.run.dir=<new dir>, or hydra.sweep.dir=<new dir> "
        f"for a multirun), or pass overwrite=true to move the old files into {where} (nothing is "
        "deleted)"
    )
    if "backbone" in kinds:
        return (
            f"run dir '{run_dir}' holds a backbone pretrained with another config "
            f"({describe_conflict(kinds['backbone'])}). Reusing or resuming it would label its "
            f"numbers with this config. {ways} and pretrain afresh."
        )
    reuse = (
        "; the backbone in checkpoints/ was pretrained with this same config and is reused"
        if backbone_record(run_dir) is not None
        else ""
    )
    return (
        f"run dir '{run_dir}' holds the results of another config "
        f"({describe_conflict(kinds['results'])}); this run would overwrite them. {ways}{reuse}."
    )


def move_aside(run_dir: Path, names: Iterable[str]) -> Path | None:
    """Move the named files and folders of ``run_dir`` into ``replaced-<time>/``; its path."""
    present = [name for name in names if (run_dir / name).exists()]
    if not present:
        return None
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    target = run_dir / f"{REPLACED}{stamp}"
    n = 1
    while target.exists():
        target = run_dir / f"{REPLACED}{stamp}-{n}"
        n += 1
    target.mkdir()
    for name in present:
        shutil.move(str(run_dir / name), str(target / name))
    return target


def _restore_overrides(run_dir: Path) -> None:
    """Put back Hydra's record of the overrides that made the results (this launch rewrote it,
    and a study summary reads it)."""
    record, path = results_record(run_dir), run_dir / HYDRA_OVERRIDES
    if record is not None and record.overrides is not None and path.is_file():
        atomic_write_text(path, yaml.safe_dump(record.overrides, default_flow_style=False))


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def claim_run_dir(
    cfg: DictConfig, run_dir: Path, backbone: bool = True, results: bool = True
) -> Path | None:
    """Make sure the work in ``run_dir`` is this config's before anything is reused or written.

    Another config's work raises :class:`ConfigError` naming the differing keys; with
    ``overwrite=true`` it is moved into ``replaced-<time>/`` instead (its path is returned): the
    results only when the backbone is this config's, else the backbone and everything made from it.
    Under DDP, rank 0 moves and the other ranks wait for it.
    """
    run_dir = Path(run_dir)
    conflicts = find_conflicts(cfg, run_dir, backbone, results)
    if not conflicts:
        return None
    if not cfg.get("overwrite"):
        if is_rank_zero():
            _restore_overrides(run_dir)
        raise ConfigError(conflict_message(run_dir, conflicts))
    if not is_rank_zero():
        if _wait_until(lambda: not find_conflicts(cfg, run_dir, backbone, results), WAIT_S):
            return None
        raise ConfigError(conflict_message(run_dir, conflicts))
    names = list(RESULT_FILES)
    if any(c.kind == "backbone" for c in conflicts):
        names += BACKBONE_FILES
    return move_aside(run_dir, names)


def check_backbone(cfg: DictConfig, run_dir: Path, checkpoint: Path) -> None:
    """Refuse to probe the run dir's own checkpoint under a config it was not pretrained with."""
    conflicts = find_conflicts(cfg, run_dir, backbone=True, results=False)
    if conflicts:
        raise ConfigError(
            f"run dir '{run_dir}' holds a backbone pretrained with another config "
            f"({describe_conflict(conflicts[0])}); "
            "probing it under this config would label its numbers with this config. Probe it "
            "with the config it was pretrained with, or name the file on purpose "
            f"(checkpoint={checkpoint}) to probe these weights under this config."
        )


def record_backbone(cfg: DictConfig, run_dir: Path) -> str:
    """Write ``checkpoints/identity.json`` (rank 0, once) before training; the identity hash."""
    flat = pretrain_config(cfg)
    identity = digest(flat)
    path = run_dir / CHECKPOINT_DIR / IDENTITY
    if is_rank_zero() and not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"hash": identity, "config": flat}, indent=2))
    return identity


def done_record(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """What ``done.json`` keeps about the config that made the results."""
    overrides = run_dir / HYDRA_OVERRIDES
    flat = results_config(cfg)
    return {
        "config_hash": config_hash(cfg),
        "identity": digest(flat),
        "config": flat,
        "overrides": yaml.safe_load(overrides.read_text()) if overrides.is_file() else None,
    }
