"""Decode-once cache: each (dataset, split, view) decoded and resized once into a uint8 ``.npy``.

Entries are memory-mapped on load (``torch.from_numpy`` over the mapping: nothing is read until a
batch touches it), so every backbone and probe run of a machine shares one decoded copy and the
page cache. An entry's key is a digest of the source's content (file paths, sizes and mtimes, or
the array bytes) and of the view, so editing the data or the transform makes a new entry. Entries
are written to a temporary directory and renamed into place: a crash never leaves a half entry.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from tunnellab.data.arrays import ImageArrays
from tunnellab.data.image_sources import ImageSource, digest
from tunnellab.data.views import View

log = logging.getLogger("tunnellab")

CACHE_ENV = "TUNNELLAB_CACHE"
IMAGES = "images.npy"
META = "meta.json"
FORMAT_VERSION = 1
CHUNK = 64


def default_cache_dir() -> Path:
    """``$TUNNELLAB_CACHE``, else ``$XDG_CACHE_HOME/tunnellab/images`` (``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tunnellab" / "images"


def decode_workers(requested: int = 0) -> int:
    """Threads for decoding: ``requested``, or one per CPU core when 0."""
    return requested if requested > 0 else max(1, os.cpu_count() or 1)


def entry_name(label: str, source: ImageSource, view: View) -> str:
    """``<label>-<side>px-<key>``: readable, and unique per content and transform."""
    side = view.size(source.native_size)
    key = digest(f"v{FORMAT_VERSION}", source.fingerprint(), view.key)[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    return f"{safe}-{side}px-{key}"


def decode_into(
    out: np.ndarray, source: ImageSource, view: View, workers: int = 0, desc: str = "decode"
) -> np.ndarray:
    """Fill uint8 ``out`` ``(N, 3, S, S)`` with every image of ``source`` through ``view``.

    Chunks of images are decoded on a thread pool (PIL releases the GIL while decoding and
    resizing); a progress bar shows on a terminal.
    """
    n = len(source)
    starts = range(0, n, CHUNK)

    def work(start: int) -> int:
        index = np.arange(start, min(start + CHUNK, n))
        if view.is_identity:
            out[index] = source.native_batch(index)
        else:
            for i in index:
                out[i] = view.apply(source.image(int(i))).transpose(2, 0, 1)
        return len(index)

    with (
        ThreadPoolExecutor(decode_workers(workers)) as pool,
        tqdm(total=n, desc=desc, unit="img", disable=None, leave=False) as bar,
    ):
        for done in pool.map(work, starts):
            bar.update(done)
    return out


def _wrap(images: np.ndarray, source: ImageSource) -> ImageArrays:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copy-on-write maps are writable; keep torch quiet anyway
        tensor = torch.from_numpy(images)
    return ImageArrays(tensor, torch.from_numpy(source.labels.copy()), list(source.classes))


def _empty_output(source: ImageSource, view: View) -> tuple[int, ...]:
    side = view.size(source.native_size)
    return (len(source), 3, side, side)


def decode(source: ImageSource, view: View, workers: int = 0, desc: str = "decode") -> ImageArrays:
    """Decode ``source`` into memory (no cache)."""
    out = np.empty(_empty_output(source, view), dtype=np.uint8)
    return _wrap(decode_into(out, source, view, workers, desc), source)


def load_entry(entry: Path, source: ImageSource) -> ImageArrays:
    """Memory-map a finished entry (copy-on-write: the file is never modified)."""
    images = np.load(entry / IMAGES, mmap_mode="c")
    if images.shape[0] != len(source):
        raise ValueError(f"cache entry {entry} holds {images.shape[0]} images, not {len(source)}")
    return _wrap(images, source)


def _build_entry(entry: Path, source: ImageSource, view: View, workers: int, label: str) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        started = time.perf_counter()
        out = np.lib.format.open_memmap(
            tmp / IMAGES, mode="w+", dtype=np.uint8, shape=_empty_output(source, view)
        )
        decode_into(out, source, view, workers, desc=f"decode {label} at {out.shape[-1]}px")
        out.flush()
        del out
        meta = {
            "label": label,
            "n": len(source),
            "view": view.key,
            "classes": list(source.classes),
            "seconds": round(time.perf_counter() - started, 2),
            "format": FORMAT_VERSION,
        }
        (tmp / META).write_text(json.dumps(meta, indent=1))
        try:
            tmp.rename(entry)
        except OSError:  # another process finished the same entry first: keep theirs
            if not (entry / IMAGES).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached(
    source: ImageSource,
    view: View,
    label: str,
    cache_dir: str | Path | None = None,
    workers: int = 0,
) -> ImageArrays:
    """``source`` through ``view`` as uint8 arrays, decoded at most once per machine.

    ``cache_dir`` None uses :func:`default_cache_dir`.
    """
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    entry = root / entry_name(label, source, view)
    if not (entry / IMAGES).is_file():
        log.info("decoding %s (%d images) into %s", label, len(source), entry)
        _build_entry(entry, source, view, workers, label)
    return load_entry(entry, source)


def cache_size_bytes(cache_dir: str | Path) -> int:
    """Bytes on disk under ``cache_dir``."""
    return sum(p.stat().st_size for p in Path(cache_dir).rglob("*") if p.is_file())
