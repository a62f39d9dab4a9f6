"""Disk trouble as one paragraph: folders that cannot be written, a disk that fills up."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from tunnellab.errors import DiskError

FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
NOT_A_FOLDER = frozenset({errno.ENOTDIR, errno.EEXIST})


def explain_os_error(err: OSError, path: str | Path | None = None) -> str | None:
    """One sentence for a full, read-only or misplaced path (None for any other OSError)."""
    where = path or err.filename or "a file"
    if err.errno in FULL:
        return (
            f"no space left on the device holding {where} ({err.strerror}); free some space or "
            "point the output (paths.output_root, hydra.run.dir) or the caches (paths.cache_dir, "
            "data.cache_dir) at another disk, then rerun the same command: nothing half-written "
            "was kept, so the run resumes where its last complete file left it."
        )
    if err.errno in DENIED:
        return (
            f"{where} cannot be written ({err.strerror}); choose a folder you may write to "
            "(paths.output_root, hydra.run.dir, paths.cache_dir, data.cache_dir or "
            "$TUNNELLAB_CACHE) or fix its permissions."
        )
    if err.errno in NOT_A_FOLDER:
        return (
            f"{where} cannot be made a folder ({err.strerror}): a file is in the way somewhere "
            "on that path; choose another folder or move the file aside."
        )
    return None


def disk_error(err: OSError, path: str | Path) -> OSError:
    """``err`` as a :class:`DiskError` naming ``path`` when it is disk trouble, else ``err``."""
    sentence = explain_os_error(err, path)
    if sentence is None:
        return err
    wrapped = DiskError(sentence[0].upper() + sentence[1:])
    wrapped.errno = err.errno
    wrapped.filename = str(path)
    return wrapped


def ensure_writable_dir(path: str | Path, key: str) -> Path:
    """Create ``path`` if needed and prove a file can be written in it; else :class:`DiskError`.

    ``key`` is the config key (or description) the path came from, named in the error.
    """
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".tunnellab-write-test-"):
            pass
    except OSError as err:
        reason = explain_os_error(err, path) or f"{path} cannot be used ({err.strerror or err})."
        raise DiskError(f"{key}: {reason}") from None
    return path
