"""Work that loads a big model only to write files for later runs, done in a process of
its own: what it loaded goes back to the system when that process ends.

Exporting a model to ONNX Runtime loads it into torch and traces it; the memory that
takes is not given back to the system when the model is dropped, so a first run used to
peak far above every later one. A child costs a second or more to start (it imports
torch again), so only models of `APART_BYTES` or more are worth one; smaller ones, and
a process that cannot start another, do the work in-process, as before.

The child is a fresh interpreter (`python -m searchengine.models.apart`), not a
multiprocessing "spawn": that one imports the parent's main script again, and a
user's script without an `if __name__ == "__main__":` guard would run again in it.
The work comes in on the child's stdin, pickled; its log records go back on its stdout,
pickled, to the parent's loggers of the same names, so they read as the parent's own.
Whatever else the work prints goes to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

APART_BYTES = 64 << 20  # weights this big or bigger are exported in a child process
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder `searchengine` is in


def worth_a_process(weights: Iterable[Path]) -> bool:
    """Whether the model whose weight files these are is big enough for a child."""
    size = 0
    for path in weights:
        try:
            size += path.stat().st_size
        except OSError:
            continue
    return size >= APART_BYTES


def run_apart(target: Callable[..., Any], *args: Any) -> int | None:
    """Run `target(*args)` in a fresh Python process and wait for it: its exit code
    (0: it returned; 1: it raised, and said why in the log), or None where no process
    could be started (the caller then does the work itself). `target` must be a
    module-level function and `args` must pickle."""
    job = pickle.dumps((target, args, logging.getLogger().getEffectiveLevel()))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
    except OSError as exc:
        log.debug("cannot start a process for %s (%s): doing it here", target, exc)
        return None
    assert child.stdin is not None and child.stdout is not None
    try:
        with contextlib.suppress(BrokenPipeError), child.stdin:  # ended before reading:
            child.stdin.write(job)  # its exit code says how
        with child.stdout:
            _relay(child.stdout)
    finally:
        code = child.wait()
    return code


def _relay(stream: IO[bytes]) -> None:
    """Hand each record the child sends to the parent's logger of the same name."""
    while True:
        try:
            record = pickle.load(stream)
        except (EOFError, pickle.UnpicklingError):  # the end, or a child killed mid-record
            return
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


class _Sender(logging.Handler):
    """Writes records, their messages made, to the parent (the child's end)."""

    def __init__(self, stream: IO[bytes]):
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        record.msg = self.format(record)  # the message with any traceback, as text
        record.args, record.exc_info, record.exc_text, record.stack_info = None, None, None, None
        pickle.dump(record, self.stream)
        self.stream.flush()


def _main() -> None:
    records = os.fdopen(os.dup(1), "wb")  # stdout is the parent's: records only
    os.dup2(2, 1)  # what the work prints goes to stderr
    sys.stdout = sys.stderr
    target, args, level = pickle.load(sys.stdin.buffer)
    root = logging.getLogger()
    sender = _Sender(records)
    sender.setFormatter(logging.Formatter("%(message)s"))
    root.handlers[:] = [sender]
    root.setLevel(level)
    try:
        target(*args)
    except Exception as exc:  # said in the parent's log; the exit code tells the caller
        name = getattr(target, "__name__", target)
        logging.getLogger(__name__).warning("%s failed: %s", name, exc)
        raise SystemExit(1) from None
    finally:
        root.removeHandler(sender)
        records.close()


if __name__ == "__main__":
    _main()
