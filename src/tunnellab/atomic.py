"""Atomic file writes: a reader (or a relaunch after a crash) never sees a half-written file.

A write that fails for lack of space or permission raises :class:`~tunnellab.errors.DiskError`
naming the file; the temporary file is removed and an earlier version of the file stays intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tunnellab.disk import disk_error


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        wrapped = disk_error(err, path)
        if wrapped is err:
            raise
        raise wrapped from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))
