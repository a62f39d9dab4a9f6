"""Decode-once cache: each (dataset, split, view) decoded and resized once into a uint8 ``.npy``.

Entries are memory-mapped on load (``torch.from_numpy`` over the mapping: nothing is read until a
batch touches it), so every backbone and probe run of a machine shares one decoded copy and the
page cache. An entry's key is a digest of the source's content (file paths, sizes and mtimes, or
the array bytes) and of the view, so editing the data or the transform makes a new entry. Entries
are written to a temporary directory and renamed into place: a crash never leaves a half entry.

An image that fails to decode (truncated, corrupt, no faithful 8-bit version: see
:mod:`tunnellab.data.imagefiles`) is left out of the entry and listed in its ``meta.json``;
each load warns about it again, and a split left with no image is an error.
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
from tunnellab.data.imagefiles import DECODE_ERRORS, reason_of, skipped_summary
from tunnellab.data.views import View
from tunnellab.disk import disk_error
from tunnellab.errors import DataError

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
) -> dict[int, str]:
    """Fill uint8 ``out`` ``(N, 3, S, S)`` with every image of ``source`` through ``view``.

    Chunks of images are decoded on a thread pool (PIL releases the GIL while decoding and
    resizing); a progress bar shows on a terminal. Returns the images that could not be decoded
    (index → reason); their rows are left zero.
    """
    n = len(source)
    starts = range(0, n, CHUNK)
    failed: dict[int, str] = {}

    def work(start: int) -> int:
        index = np.arange(start, min(start + CHUNK, n))
        if view.is_identity:
            out[index] = source.native_batch(index)
            return len(index)
        for i in index:
            try:
                out[i] = view.apply(source.image(int(i))).transpose(2, 0, 1)
            except DECODE_ERRORS as err:  # reading only: any error is this image's
                out[i] = 0
                failed[int(i)] = reason_of(err)
        return len(index)

    with (
        ThreadPoolExecutor(decode_workers(workers)) as pool,
        tqdm(total=n, desc=desc, unit="img", disable=None, leave=False) as bar,
    ):
        for done in pool.map(work, starts):
            bar.update(done)
    return dict(sorted(failed.items()))


def check_skipped(label: str, source: ImageSource, failed: dict[int, str]) -> dict[str, str]:
    """Warn about the images of ``source`` that did not decode (name → reason); raise
    :class:`DataError` when none did."""
    if not failed:
        return {}
    skipped = {source.item_name(i): reason for i, reason in failed.items()}
    summary = skipped_summary(list(skipped.items()), len(source))
    if len(failed) == len(source):
        raise DataError(
            f"No image of {label} could be decoded ({summary}); check that the files are "
            "images (JPEG, PNG, ...) and were copied completely."
        )
    log.warning("%s: %s", label, summary)
    return skipped


def _wrap(images: np.ndarray, source: ImageSource, skipped: dict[int, str]) -> ImageArrays:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copy-on-write maps are writable; keep torch quiet anyway
        tensor = torch.from_numpy(images)
    labels = np.delete(source.labels, list(skipped)) if skipped else source.labels.copy()
    arrays = ImageArrays(tensor, torch.from_numpy(labels), list(source.classes))
    arrays.skipped = {source.item_name(i): reason for i, reason in skipped.items()}
    return arrays


def _empty_output(source: ImageSource, view: View) -> tuple[int, ...]:
    side = view.size(source.native_size)
    return (len(source), 3, side, side)


def decode(source: ImageSource, view: View, workers: int = 0, desc: str = "decode") -> ImageArrays:
    """Decode ``source`` into memory (no cache); images that fail to decode are left out."""
    out = np.empty(_empty_output(source, view), dtype=np.uint8)
    failed = decode_into(out, source, view, workers, desc)
    check_skipped(desc.removeprefix("decode "), source, failed)
    return _wrap(np.delete(out, list(failed), axis=0) if failed else out, source, failed)


def load_entry(entry: Path, source: ImageSource) -> ImageArrays:
    """Memory-map a finished entry (copy-on-write: the file is never modified)."""
    images = np.load(entry / IMAGES, mmap_mode="c")
    meta = json.loads((entry / META).read_text()) if (entry / META).is_file() else {}
    failed = {int(i): reason for i, _name, reason in meta.get("skipped", [])}
    if images.shape[0] != len(source) - len(failed):
        raise ValueError(f"cache entry {entry} holds {images.shape[0]} images, not {len(source)}")
    check_skipped(str(meta.get("label", entry.name)), source, failed)
    return _wrap(images, source, failed)


def _reserve(path: Path) -> None:
    """Claim the disk space of a new (sparse) file now: a full disk is an error here, not a
    crash (SIGBUS) when a memory-mapped write finds no space."""
    if not hasattr(os, "posix_fallocate"):
        return
    with path.open("r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, path.stat().st_size)
        except OSError as err:
            if disk_error(err, path) is not err:
                raise
            # the filesystem cannot reserve space (EOPNOTSUPP, EINVAL): write as before


def _new_images(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    _reserve(path)
    return out


def _without(tmp: Path, out: np.ndarray, failed: dict[int, str]) -> None:
    """Rewrite ``tmp/images.npy`` without the rows of the images that failed to decode."""
    keep = np.setdiff1d(np.arange(len(out)), list(failed))
    kept = _new_images(tmp / "kept.npy", (len(keep), *out.shape[1:]))
    for start in range(0, len(keep), CHUNK * 16):
        kept[start : start + CHUNK * 16] = out[keep[start : start + CHUNK * 16]]
    kept.flush()
    del kept
    os.replace(tmp / "kept.npy", tmp / IMAGES)


def _build_entry(entry: Path, source: ImageSource, view: View, workers: int, label: str) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    except OSError as err:
        raise disk_error(err, entry.parent) from None
    try:
        started = time.perf_counter()
        out = _new_images(tmp / IMAGES, _empty_output(source, view))
        desc = f"decode {label} at {out.shape[-1]}px"
        failed = decode_into(out, source, view, workers, desc=desc)
        check_skipped(label, source, failed)
        out.flush()
        if failed:
            _without(tmp, out, failed)
        del out
        meta = {
            "label": label,
            "n": len(source),
            "view": view.key,
            "classes": list(source.classes),
            "seconds": round(time.perf_counter() - started, 2),
            "format": FORMAT_VERSION,
            "skipped": [[i, source.item_name(i), reason] for i, reason in failed.items()],
        }
        (tmp / META).write_text(json.dumps(meta, indent=1))
        try:
            tmp.rename(entry)
        except OSError:  # another process finished the same entry first: keep theirs
            if not (entry / IMAGES).is_file():
                raise
    except OSError as err:
        raise disk_error(err, entry) from None
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
