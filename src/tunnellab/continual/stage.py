"""The continual stage: task 1, then task 2, every extractor/tunnel/head combination, the two
fine-tuning arms; ``continual.csv``, ``tunnel_layers.json``, the figure, W&B, resume and skip."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from tunnellab.atomic import atomic_write_text
from tunnellab.continual.mixing import MixingRecipe
from tunnellab.continual.swap import Cut, State, cut_model, load_combination, part, set_head
from tunnellab.continual.table import (
    COLUMNS,
    CONTINUAL_CSV,
    FIGURE,
    TUNNEL_LAYERS,
    layers_label,
    plot_continual,
)
from tunnellab.continual.tasks import task_classes, task_splits
from tunnellab.continual.train import (
    AugSpec,
    ExtractorHead,
    PhaseRecipe,
    accuracy,
    tap_width,
    train_phase,
)
from tunnellab.data.arrays import DatasetSplits
from tunnellab.disk import ensure_writable_dir
from tunnellab.errors import ConfigError
from tunnellab.metrics.tunnel import id_saturation_start
from tunnellab.models.taps import Tap
from tunnellab.pipeline import instantiate_dataset, pin_cpu_threads, stage_for, tracked
from tunnellab.pretrain.train import build_backbone
from tunnellab.probe.stage import resolve_device
from tunnellab.run_identity import (
    claim_run_dir,
    config_hash,
    digest,
    done_record,
    move_aside,
    semantic,
)
from tunnellab.stages import enter_stage

log = logging.getLogger("tunnellab")
STATE_DIR = "continual"
DONE = "continual_done.json"
IDENTITY = "identity.json"
OUTPUTS = (STATE_DIR, DONE, CONTINUAL_CSV, TUNNEL_LAYERS, FIGURE, "config.yaml")
Evaluate = Callable[[nn.Module, DatasetSplits], float]


@dataclass
class ContinualResult:
    """Where a continual run wrote and what it measured."""

    run_dir: Path
    table: pd.DataFrame
    tunnel: dict
    files: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False


def continual_hash(cfg: DictConfig) -> str:
    """The run hash plus the ``continual`` node: what determines this stage's numbers."""
    return digest({"run": config_hash(cfg), "continual": semantic(cfg.continual)})


def _claim(cfg: DictConfig, run_dir: Path) -> None:
    """This config's work only: another's is an error, or moved aside with overwrite=true."""
    path = run_dir / STATE_DIR / IDENTITY
    mine = continual_hash(cfg)
    if path.is_file() and json.loads(path.read_text())["hash"] != mine:
        if not cfg.get("overwrite"):
            raise ConfigError(
                f"run dir '{run_dir}' holds continual work of another config (hash "
                f"{json.loads(path.read_text())['hash']}, this one {mine}); use another run dir "
                "or overwrite=true to move it into replaced-<time>/."
            )
        move_aside(run_dir, OUTPUTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        atomic_write_text(path, json.dumps({"hash": mine}))


def _phase_recipe(node: DictConfig, schedule: str) -> PhaseRecipe:
    return PhaseRecipe(
        epochs=int(node.epochs),
        lr=float(node.lr),
        weight_decay=float(node.weight_decay),
        batch_size=int(node.batch_size),
        schedule=schedule,
        warmup_epochs=float(node.get("warmup_epochs", 0.0)),
        warmup_start_factor=float(node.get("warmup_start_factor", 0.01)),
        milestones=tuple(int(m) for m in node.get("milestones", ()) or ()),
        gamma=float(node.get("gamma", 0.1)),
    )


def _mixing(cfg: DictConfig) -> MixingRecipe | None:
    node = cfg.continual.mixing
    if not node.enabled:
        return None
    return MixingRecipe(
        node.mixup_p, node.mixup_alpha, node.cutmix_p, node.cutmix_alpha, cfg.optim.label_smoothing
    )


class Phases:
    """Runs (or reloads) the training phases of one continual run."""

    def __init__(self, cfg: DictConfig, state_dir: Path) -> None:
        self.cfg = cfg
        self.dir = state_dir
        self.device = resolve_device(cfg.continual.device)
        self.aug = AugSpec(
            cfg.aug.name, cfg.aug.scale_min, cfg.aug.flip_p, cfg.data.get("norm", "imagenet")
        )

    def run(
        self,
        name: str,
        index: int,
        model: nn.Module,
        trainable: list[str],
        data: DatasetSplits,
        recipe: PhaseRecipe,
    ) -> State:
        """Train ``model`` (or reload the finished phase ``name``); its final state dict."""
        done = self.dir / f"{name}.pt"
        if done.is_file():
            state = torch.load(done, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            return state
        enter_stage(f"continual: {name}")
        seed = int(self.cfg.seed) * 100 + index
        smoothing = float(self.cfg.optim.label_smoothing)
        resume = self.dir / f"{name}.last.pt"
        mixing = _mixing(self.cfg)
        train_phase(
            model, trainable, data, recipe, mixing, smoothing, self.aug, seed, self.device, resume
        )
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(state, done)
        return state


def own_tunnel_start(
    cfg: DictConfig, run_dir: Path, model: nn.Module, task1: DatasetSplits, classes: list[int]
) -> tuple[int, list[float]]:
    """The tunnel start from the model's own task-1 ID probe curve (first tap reaching
    ``continual.own_fraction`` of the last tap's accuracy) and that curve."""
    enter_stage("continual: probing task 1")
    stage = stage_for(cfg, run_dir, model)
    key = {"data": semantic(cfg.data), "classes": classes}
    probe, _test = stage.probe(task1, "id", key)
    curve = [float(v) for v in getattr(probe.curves, f"acc_{cfg.probe.accuracy}")]
    # The extractor keeps at least the first tap's module (a tunnel from tap 1 leaves no E).
    return max(2, id_saturation_start(curve, float(cfg.continual.own_fraction))), curve


def _choose(cfg: DictConfig, own: int, paper: int | None, n_taps: int) -> tuple[str, int]:
    choice = cfg.continual.tunnel_start
    if choice == "own":
        return "own", own
    if choice == "paper":
        if paper is None:
            raise ConfigError(
                f"'continual.tunnel_start=paper' but continual.paper_tunnel_starts has no entry "
                f"for data.resolution={cfg.data.resolution}; add one, or use own or a tap number."
            )
        return "paper", paper
    if isinstance(choice, int) or str(choice).isdigit():
        return "manual", int(choice)
    raise ConfigError(
        f"'continual.tunnel_start={choice}' is not allowed: own (from the task-1 ID probe "
        f"curve), paper (continual.paper_tunnel_starts) or a tap number in 2..{n_taps}."
    )


def _row(combination: str, task: int, accuracy: float, choice: str) -> dict:
    return {"combination": combination, "task": task, "accuracy": accuracy, "tunnel_choice": choice}


def _swap_rows(
    model: nn.Module,
    states: tuple[State, State],
    cut: Cut,
    tasks: list[DatasetSplits],
    evaluate: Evaluate,
    choice: str,
) -> list[dict]:
    """E1+T1, E1+T2, E2+T2, E2+T1 on both tasks (each task with its own head)."""
    s1, s2 = states
    e = {1: part(s1, cut.extractor), 2: part(s2, cut.extractor)}
    t = {1: part(s1, cut.tunnel), 2: part(s2, cut.tunnel)}
    heads = {1: part(s1, cut.head), 2: part(s2, cut.head)}
    rows = []
    for ei, ti in ((1, 1), (1, 2), (2, 2), (2, 1)):
        for task in (1, 2):
            load_combination(model, e[ei], t[ti], heads[task])
            score = evaluate(model, tasks[task - 1])
            rows.append(_row(f"E{ei}+T{ti}", task, score, choice))
    return rows


def run_continual(cfg: DictConfig, run_dir: Path) -> ContinualResult:
    """The whole continual stage in ``run_dir`` (skipped when done, resumed when interrupted)."""
    run_dir = Path(run_dir)
    pin_cpu_threads(cfg)
    run_dir = ensure_writable_dir(run_dir, "the run dir (hydra.run.dir)")
    claim_run_dir(cfg, run_dir)  # a plain run's results or backbone of another config: refused
    _claim(cfg, run_dir)
    done = run_dir / DONE
    if cfg.skip_if_done and done.is_file():
        info = json.loads(done.read_text())
        if info["hash"] == continual_hash(cfg):
            table = pd.read_csv(run_dir / CONTINUAL_CSV)
            files = {k: Path(v) for k, v in info["files"].items()}
            return ContinualResult(run_dir, table, info["tunnel"], files, skipped=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    with tracked(cfg, run_dir, "continual") as tracker:
        result = _run(cfg, run_dir)
        used = result.table[result.table["tunnel_choice"] == result.tunnel["used"]]
        summary = {f"{r.combination}/task{r.task}": float(r.accuracy) for r in used.itertuples()}
        summary |= {"tunnel_start": result.tunnel["starts"][result.tunnel["used"]]}
        tracker.log_tables(
            {"continual": result.table}, summary, {"continual": result.files["figure"]}
        )
    info = {"hash": continual_hash(cfg), "tunnel": result.tunnel, **done_record(cfg, run_dir)}
    info["files"] = {k: str(v) for k, v in result.files.items()}
    atomic_write_text(done, json.dumps(info, indent=2))
    return result


def _run(cfg: DictConfig, run_dir: Path) -> ContinualResult:
    enter_stage("loading data")
    data = instantiate_dataset(cfg.data)
    classes = task_classes(list(cfg.continual.tasks), data.n_classes)
    tasks = [task_splits(data, c, f"{data.name}-task{i + 1}") for i, c in enumerate(classes)][:2]
    phases = Phases(cfg, run_dir / STATE_DIR)
    norm, batch = cfg.data.get("norm", "imagenet"), int(cfg.continual.eval_batch_size)

    def evaluate(model: nn.Module, task: DatasetSplits) -> float:
        return accuracy(model, task.test, norm, batch, phases.device)

    torch.manual_seed(int(cfg.seed))
    model = build_backbone(cfg)
    set_head(model, tasks[0].n_classes)
    everything = [n for n, _ in model.named_parameters()]
    taps = model.taps(cfg.taps)
    paper = OmegaConf.to_container(cfg.continual.paper_tunnel_starts or {}).get(
        str(cfg.data.resolution)
    )
    for choice in {_choose(cfg, 2, paper, len(taps))[1], paper} - {None}:
        cut_model(model, taps, int(choice))  # a bad tunnel_start fails before any training
    train = _phase_recipe(cfg.optim, "cosine")
    s1 = phases.run("task1", 1, model, everything, tasks[0], train)
    own, curve = own_tunnel_start(cfg, run_dir, model.eval(), tasks[0], classes[0])
    used, start = _choose(cfg, own, paper, len(taps))
    torch.manual_seed(int(cfg.seed) + 1)
    set_head(model, tasks[1].n_classes)
    s2 = phases.run("task2", 2, model, everything, tasks[1], train)
    starts = {"own": own, "paper": paper, used: start}
    rows: list[dict] = []
    for choice, tap in starts.items():
        if tap is None or (choice != used and tap == start):
            continue
        cut = cut_model(model, taps, int(tap))
        rows += _swap_rows(model, (s1, s2), cut, tasks, evaluate, choice)
    cut = cut_model(model, taps, start)
    _save_parts(run_dir / STATE_DIR / "parts.pt", cut, s1, s2)
    rows += _finetune_rows(
        cfg, phases, model, (s1, s2), cut, taps[start - 1], tasks, evaluate, used
    )
    table = pd.DataFrame(rows)
    table.insert(0, "resolution", int(cfg.data.resolution))
    table.insert(0, "seed", int(cfg.seed))
    n_taps = len(taps)
    table["tunnel_layers"] = [layers_label(starts[c], n_taps) for c in table["tunnel_choice"]]
    table = table[COLUMNS]
    tunnel = {
        "used": used,
        "starts": starts,
        "layers": {c: layers_label(s, n_taps) for c, s in starts.items() if s is not None},
        "n_taps": n_taps,
        "tap_names": [t.name for t in taps],
        "own_fraction": float(cfg.continual.own_fraction),
        "task1_id_curve": curve,
    }
    files = {"table": run_dir / CONTINUAL_CSV, "tunnel": run_dir / TUNNEL_LAYERS}
    atomic_write_text(files["table"], table.to_csv(index=False))
    atomic_write_text(files["tunnel"], json.dumps(tunnel, indent=2))
    title = (
        f"{cfg.model.name} on {cfg.data.name} {cfg.data.resolution}², seed {cfg.seed}: "
        f"tunnel {tunnel['layers'][used]} ({used})"
    )
    used_rows = table[table["tunnel_choice"] == used]
    files["figure"] = plot_continual(used_rows, run_dir / FIGURE, title)
    return ContinualResult(run_dir, table, tunnel, files)


def _save_parts(path: Path, cut: Cut, s1: State, s2: State) -> None:
    """(E1, T1, head 1) and (E2, T2, head 2) as cut at the tunnel start in use."""
    parts: dict[str, object] = {"tap_index": cut.tap_index}
    for i, state in ((1, s1), (2, s2)):
        parts |= {f"E{i}": part(state, cut.extractor), f"T{i}": part(state, cut.tunnel)}
        parts[f"head{i}"] = part(state, cut.head)
    torch.save(parts, path)


def _finetune_rows(
    cfg: DictConfig,
    phases: Phases,
    model: nn.Module,
    states: tuple[State, State],
    cut: Cut,
    tap: Tap,
    tasks: list[DatasetSplits],
    evaluate: Evaluate,
    choice: str,
) -> list[dict]:
    """E2+T1 fine-tuned (E2 trained under the frozen T1 and head 1) and E2 fine-tuned (E2 with a
    new linear head on its pooled output, no tunnel), both on task-1 training data."""
    s1, s2 = states
    recipe = _phase_recipe(cfg.continual.finetune, "step")
    params = {n for n, _ in model.named_parameters()}
    extractor = [k for k in cut.extractor if k in params]
    load_combination(model, part(s2, cut.extractor), part(s1, cut.tunnel), part(s1, cut.head))
    phases.run("finetune_e2_t1", 3, model, extractor, tasks[0], recipe)
    rows = [_row("E2+T1 fine-tuned", 1, evaluate(model, tasks[0]), choice)]
    base = copy.deepcopy(model)
    load_combination(base, part(s2, cut.extractor), part(s2, cut.tunnel), part(s2, cut.head))
    torch.manual_seed(int(cfg.seed) + 4)
    alone = ExtractorHead(
        base, tap, tasks[0].n_classes, tap_width(base, tap, int(cfg.data.resolution))
    )
    trainable = [f"model.{k}" for k in extractor] + ["head.weight", "head.bias"]
    phases.run("finetune_e2", 4, alone, trainable, tasks[0], recipe)
    rows.append(_row("E2 fine-tuned", 1, evaluate(alone, tasks[0]), choice))
    return rows


def format_continual(result: ContinualResult) -> str:
    """The console summary: the table (%), the tunnel and where the files are."""
    used = result.tunnel["used"]
    rows = result.table[result.table["tunnel_choice"] == used]
    wide = rows.pivot_table(index="combination", columns="task", values="accuracy", sort=False)
    lines = [
        f"continual run in {result.run_dir}"
        + (" (already done: skipped)" if result.skipped else ""),
        f"tunnel ({used}): taps {result.tunnel['layers'][used]}; "
        + ", ".join(f"{k} {v}" for k, v in result.tunnel["layers"].items()),
        "top-1 %: "
        + " | ".join(
            f"{c}: " + " / ".join(f"{100 * v:.1f}" for v in wide.loc[c].dropna())
            for c in wide.index
        ),
        f"table: {result.run_dir / CONTINUAL_CSV}",
    ]
    return "\n".join(lines)
