"""How a console script ends when something goes wrong: one paragraph, never a traceback wall.

* an error the user can fix (:class:`~tunnellab.errors.TunnellabError`, a full or read-only disk)
  → that paragraph, exit status 2;
* Ctrl-C → where it stopped and that the same command resumes, exit status 130;
* anything else → its type and message, and the log file that holds the full traceback
  (the run's ``tunnellab.log``, or ``tunnellab-error.log`` where a command keeps no log), exit 1.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

from tunnellab.disk import explain_os_error
from tunnellab.errors import TunnellabError
from tunnellab.stages import current_stage

USER_ERROR = 2
UNEXPECTED = 1
INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
ERROR_LOG = "tunnellab-error.log"


def user_paragraph(err: BaseException) -> str | None:
    """The paragraph for an error the user can fix, or None for an unexpected one."""
    if isinstance(err, TunnellabError):
        return str(err)
    if isinstance(err, OSError):
        sentence = explain_os_error(err)
        if sentence is not None:
            return sentence[0].upper() + sentence[1:]
    return None


def interrupted_paragraph(resumable: bool = True) -> str:
    """What Ctrl-C left behind and how to carry on."""
    where = f"interrupted during {current_stage()}"
    if resumable:
        return (
            f"{where}; rerun the same command to resume (pretraining continues from "
            "checkpoints/last.ckpt; cached images and features are reused)."
        )
    return f"{where}; rerun the same command to start again."


def _file_handlers() -> list[logging.FileHandler]:
    roots = [logging.getLogger(), logging.getLogger("tunnellab")]
    return [h for logger in roots for h in logger.handlers if isinstance(h, logging.FileHandler)]


def record_traceback(err: BaseException, fallback_dir: str | Path | None) -> Path:
    """Write ``err``'s traceback to the log file(s) only (not the console); return the path.

    The log file is the one Hydra's job logging writes (``<run dir>/tunnellab.log``); without
    one, ``<fallback_dir>/tunnellab-error.log`` (or the same name in the temp dir).
    """
    handlers = _file_handlers()
    if handlers:
        record = logging.LogRecord(
            "tunnellab", logging.ERROR, __file__, 0, "unexpected error", None,
            (type(err), err, err.__traceback__),
        )  # fmt: skip
        for handler in handlers:
            handler.handle(record)
            handler.flush()
        return Path(handlers[0].baseFilename)
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    for folder in (fallback_dir, tempfile.gettempdir()):
        if folder is None:
            continue
        path = Path(folder) / ERROR_LOG
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as out:
                out.write(text + "\n")
            return path
        except OSError:
            continue
    return Path(tempfile.gettempdir()) / f"tunnellab-error-{os.getpid()}.log"


def unexpected_paragraph(err: BaseException, log_path: Path) -> str:
    """Type, first line of the message, and where the traceback is."""
    message = (str(err).strip().splitlines() or [""])[0][:300]
    detail = f"{type(err).__name__}: {message}" if message else type(err).__name__
    return (
        f"unexpected {detail}. tunnellab cannot explain this one (it may be a bug); the full "
        f"traceback is in {log_path}."
    )


def say(prog: str, paragraph: str, status: int) -> int:
    """Print ``prog: error: paragraph`` (``prog: paragraph`` after Ctrl-C) on stderr; return
    ``status``."""
    label = "" if status == INTERRUPTED else "error: "
    print(f"\n{prog}: {label}{paragraph}", file=sys.stderr, flush=True)
    return status


def fail(prog: str, paragraph: str, status: int) -> NoReturn:
    """:func:`say`, then exit with ``status``."""
    sys.exit(say(prog, paragraph, status))


def report(prog: str, err: BaseException, fallback_dir: str | Path | None) -> int:
    """Print what this module describes for ``err``; return the exit status."""
    paragraph = user_paragraph(err)
    if paragraph is not None:
        return say(prog, paragraph, USER_ERROR)
    log_path = record_traceback(err, fallback_dir)
    return say(prog, unexpected_paragraph(err, log_path), UNEXPECTED)


def exit_for(prog: str, err: BaseException, fallback_dir: str | Path | None) -> NoReturn:
    """:func:`report`, then exit with its status."""
    sys.exit(report(prog, err, fallback_dir))
