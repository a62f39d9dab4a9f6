"""Disks: a folder that cannot be written and a disk that fills up are one paragraph naming the
path, and never leave a truncated file a relaunch would trust.

Tests run as root, where permission bits do not stop a write: an unwritable folder is made by
putting a plain file where a folder of the path should be (ENOTDIR); a full disk by a write that
raises ENOSPC half way (monkeypatched).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tunnellab.atomic import atomic_write, atomic_write_text
from tunnellab.cli.failures import user_paragraph
from tunnellab.data.image_sources import FileSource
from tunnellab.data.imagecache import cached
from tunnellab.data.views import View
from tunnellab.disk import ensure_writable_dir
from tunnellab.errors import DiskError, TunnellabError
from tunnellab.pretrain.checkpoint_io import AtomicCheckpointIO
from tunnellab.result_tables import write_tables


def _full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_folder_under_a_file_names_the_key_and_path(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    target = tmp_path / "blocker" / "cache"
    with pytest.raises(DiskError) as err:
        ensure_writable_dir(target, "paths.cache_dir")
    message = str(err.value)
    assert message.startswith("paths.cache_dir: ") and str(target) in message
    assert "a file is in the way" in message
    assert ensure_writable_dir(tmp_path / "ok" / "deep", "x").is_dir()
    assert list((tmp_path / "ok" / "deep").iterdir()) == []  # the probe file is gone


def test_full_disk_during_a_write_keeps_the_old_file_and_names_the_path(tmp_path):
    path = tmp_path / "probe_results.csv"
    atomic_write_text(path, "old,complete\n")

    def half_then_full(tmp: Path) -> None:
        tmp.write_text("new,half")
        _full_disk()

    with pytest.raises(DiskError) as err:
        atomic_write(path, half_then_full)
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    assert str(path) in str(err.value) and "no space left" in str(err.value).lower()
    assert path.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["probe_results.csv"]


def test_result_tables_are_never_left_half_written(tmp_path, monkeypatch):
    frame = pd.DataFrame({"a": [1, 2]})
    monkeypatch.setattr(pd.DataFrame, "to_csv", _full_disk)
    with pytest.raises(DiskError, match=r"probe_results\.csv"):
        write_tables(tmp_path, frame, frame)
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "w": torch.arange(4.0)}, path)
    assert io.load_checkpoint(path)["epoch"] == 1
    real_save = torch.save

    def half_then_full(obj, target):
        real_save({"epoch": 2, "w": torch.zeros(10_000)}, target)
        with open(target, "r+b") as f:
            f.truncate(100)  # what a full disk leaves
        _full_disk()

    monkeypatch.setattr(torch, "save", half_then_full)
    with pytest.raises(DiskError, match=r"last\.ckpt"):
        io.save_checkpoint({"epoch": 2}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert io.load_checkpoint(path)["epoch"] == 1  # the previous checkpoint, intact
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_checkpoint_folder_under_a_file(tmp_path):
    (tmp_path / "run").write_text("")
    with pytest.raises(DiskError, match="a file is in the way"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "run" / "checkpoints" / "best.ckpt")


def _source(tmp_path: Path) -> FileSource:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((8, 8, 3), i * 40, dtype=np.uint8)).save(paths[-1])
    return FileSource(paths, [0, 1, 1], ["a", "b"])


def test_image_cache_on_a_full_disk_is_an_error_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", _full_disk, raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(DiskError, match=r"No space left"):
        cached(_source(tmp_path), View(8, 8), "tiny", cache)
    assert [p for p in cache.iterdir()] == []  # no half entry


def test_image_cache_dir_that_cannot_be_made(tmp_path):
    (tmp_path / "blocker").write_text("")
    with pytest.raises(DiskError) as err:
        cached(_source(tmp_path), View(8, 8), "tiny", tmp_path / "blocker" / "images")
    assert str(tmp_path / "blocker") in str(err.value)


def test_os_errors_of_the_disk_become_one_paragraph():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/run/last.ckpt")
    assert "No space left on the device holding /data/run/last.ckpt" in user_paragraph(full)
    read_only = OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x")
    assert "/mnt/ro/x cannot be written" in user_paragraph(read_only)
    assert user_paragraph(OSError(errno.ECONNRESET, "reset")) is None
    assert user_paragraph(ValueError("x")) is None
    assert user_paragraph(TunnellabError("explained")) == "explained"
