"""Read W&B's local run files (``run-<id>.wandb``) and carry a resumed run's summary over.

A ``.wandb`` file is W&B's transaction log: a 7-byte header (``:W&B``, a 2-byte magic, a version
byte), then LevelDB-log blocks of 32 KiB holding chunks (4-byte checksum, 2-byte length, 1-byte
type: full, first, middle, last) of serialised ``wandb.proto`` ``Record`` messages. wandb ships no
Python reader for it since the core moved to Go, so this module has a small one.

A job killed and relaunched offline leaves one directory per launch (``offline-run-<time>-<id>``),
all with the same run id; ``wandb sync`` uploads them in start-time order into one run, and the
last one's summary becomes the run's. :func:`carried_summary` and :func:`merge_summaries` let the
tracker end each launch with the whole run's summary (best ``val/acc`` over every launch).
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "carried_summary",
    "final_summary",
    "merge_summaries",
    "read_records",
    "run_fragments",
]

_MAGIC = b":W&B"
_HEADER = 7
_BLOCK = 32 * 1024
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: str | Path) -> Iterator[Any]:
    """The ``wandb_internal_pb2.Record`` messages of a ``.wandb`` file, in order.

    Stops quietly at a cut-short tail (a killed job's last, partly written block).
    """
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError(f"{path} is not a W&B transaction log (no ':W&B' header)")
    pos, pending = _HEADER, b""
    while pos + _CHUNK_HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK_HEADER:  # block trailer: padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _CHUNK_HEADER])
        start, pos = pos + _CHUNK_HEADER, pos + _CHUNK_HEADER + length
        if kind == 0 or pos > len(data):  # zero padding or a cut-short chunk
            if pos > len(data):
                return
            continue
        chunk = data[start:pos]
        if kind == _FULL:
            yield wandb_internal_pb2.Record.FromString(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield wandb_internal_pb2.Record.FromString(pending + chunk)
            pending = b""


def _start_time(path: Path) -> float:
    """The run record's start time (what ``wandb sync`` orders fragments by)."""
    for record in read_records(path):
        if record.WhichOneof("record_type") == "run":
            return record.run.start_time.ToMicroseconds() / 1e6
    return path.stat().st_mtime


def run_fragments(wandb_dir: str | Path, run_id: str) -> list[Path]:
    """Every ``run-<id>.wandb`` under ``wandb_dir`` (one per launch), oldest first."""
    files = {
        f.resolve()
        for f in Path(wandb_dir).glob(f"*-{run_id}/run-{run_id}.wandb")
        if f.stat().st_size > _HEADER
    }
    return sorted(files, key=_start_time)


def _set(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    tree[keys[-1]] = value


def _remove(tree: dict[str, Any], keys: list[str]) -> None:
    for key in keys[:-1]:
        tree = tree.get(key)
        if not isinstance(tree, dict):
            return
    tree.pop(keys[-1], None)


def final_summary(path: str | Path) -> dict[str, Any]:
    """The run summary a ``.wandb`` file ends with (summary records applied in order)."""
    summary: dict[str, Any] = {}
    for record in read_records(path):
        if record.WhichOneof("record_type") != "summary":
            continue
        for item in record.summary.update:
            try:
                value = json.loads(item.value_json)
            except ValueError:
                continue
            _set(summary, list(item.nested_key) or [item.key], value)
        for item in record.summary.remove:
            _remove(summary, list(item.nested_key) or [item.key])
    return summary


def merge_summaries(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """The summary of a run whose history is ``earlier`` then ``later``.

    Keys starting with ``_`` (W&B's runtime, step, timestamp) follow ``later``. For a
    ``define_metric`` summary (a dict with ``max``/``min``/``last``/...), ``max`` and ``min``
    combine, ``first`` comes from ``earlier`` and the rest from ``later``; any other value is
    ``later``'s when it has one, else ``earlier``'s.
    """
    merged = {k: v for k, v in earlier.items() if not k.startswith("_")}
    for key, value in later.items():
        before = merged.get(key)
        if _is_metric_summary(before) and _is_metric_summary(value):
            combined = {**before, **value}
            for stat, pick in (("max", max), ("min", min)):
                if stat in before and stat in value:
                    with contextlib.suppress(TypeError):  # not numbers: the later value
                        combined[stat] = pick(before[stat], value[stat])
            if "first" in before:
                combined["first"] = before["first"]
            merged[key] = combined
        else:
            merged[key] = value
    return merged


_STATS = {"max", "min", "last", "first", "mean", "best"}


def _is_metric_summary(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= _STATS


def carried_summary(wandb_dir: str | Path, run_id: str) -> dict[str, Any]:
    """The summary of every earlier launch of ``run_id`` under ``wandb_dir``, merged in order."""
    summary: dict[str, Any] = {}
    for fragment in run_fragments(wandb_dir, run_id):
        try:
            summary = merge_summaries(summary, final_summary(fragment))
        except Exception:  # an unreadable fragment carries nothing; the run goes on
            continue
    return summary
