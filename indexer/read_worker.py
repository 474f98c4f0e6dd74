"""The process that reads and parses files, so that a hostile file cannot stall a run.

`python -m indexer.read_worker` takes requests on stdin and answers on stdout,
each a length-prefixed pickle. Every file is read under a time limit (an
interval timer, which it may set: this process is its own) and the whole
process under an address-space limit, so a PDF that sends the parser in
circles or a decompression bomb costs one skipped file. Whatever escapes that
(a hang inside C code, a crash) the parent ends by killing this process.

`read_file` is the whole job and is also called in-process by tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import signal
import struct
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from searchengine.config import Settings
from searchengine.errors import ExtractionError
from searchengine.records import Attached, Passage

from .extract import extract_document
from .ocr import OcrOptions
from .picture_text import words_if_text

FRAME = struct.Struct(">Q")
ALIVE = "alive"  # sent between a request and its reply: a page of a scan was read
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadLimits:
    """What reading one file may cost; from Settings, sent to the worker once."""

    max_file_bytes: int
    timeout_s: float
    max_unpacked_bytes: int
    max_unpack_ratio: float
    max_image_pixels: int
    max_image_side: int
    memory_bytes: int
    ocr: OcrOptions | None = None  # None: scanned pages are not read

    def signature(self) -> str:
        """The limits that decide whether a file is skipped, as recorded with a skip."""
        return (
            f"bytes={self.max_file_bytes} timeout={self.timeout_s:g} "
            f"unpacked={self.max_unpacked_bytes} ratio={self.max_unpack_ratio:g} "
            f"pixels={self.max_image_pixels} memory={self.memory_bytes}"
            + (f" {self.ocr.signature()}" if self.ocr else "")
        )

    @property
    def reads_words(self) -> bool:
        """Whether OCR runs under these limits (on, and Tesseract with its models here)."""
        return self.ocr is not None and self.ocr.signature() not in ("ocr=off", "ocr=unavailable")

    @classmethod
    def from_settings(cls, s: Settings) -> ReadLimits:
        return cls(
            s.max_file_bytes,
            s.file_timeout_s,
            s.max_unpacked_bytes,
            s.max_unpack_ratio,
            s.max_image_pixels,
            s.max_image_side,
            s.reader_memory_bytes,
            OcrOptions.from_settings(s),
        )


@dataclass(frozen=True)
class ReadRequest:
    """A file as the walk saw it, with the content hash change detection took."""

    path: str
    kind: str  # "text" | "image"
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class ReadReply:
    """status: "text" (passages, and the files attached to it that were read),
    "image" (raw RGB, and its words read by OCR as passages, if any), "skip" (remember
    why) or "changed"."""

    status: str
    reason: str = ""
    passages: list[Passage] = field(default_factory=list)
    image: tuple[str, tuple[int, int], bytes] | None = None
    attached: list[Attached] = field(default_factory=list)


class _Timeout(BaseException):
    # a BaseException, so that parsers' own `except Exception` cannot swallow it
    pass


def read_file(req: ReadRequest, limits: ReadLimits) -> ReadReply:
    """Read, check and parse one file; every failure becomes a reason, never an exception."""
    try:
        st = os.stat(req.path)
    except FileNotFoundError:
        return ReadReply("changed", "disappeared before it could be read")
    except PermissionError:
        return ReadReply("skip", "permission denied")
    except OSError as exc:
        return ReadReply("skip", f"cannot read: {exc.strerror or exc}")
    if (st.st_size, st.st_mtime_ns) != (req.size, req.mtime_ns):
        return ReadReply("changed", "changed since the folder was scanned; the next run indexes it")
    if st.st_size > limits.max_file_bytes:
        return ReadReply("skip", f"larger than the {limits.max_file_bytes:,}-byte limit")
    try:
        if req.kind == "text":
            return _read_text(req, limits)
        return _read_image(req, limits)
    except PermissionError:
        return ReadReply("skip", "permission denied")
    except FileNotFoundError:
        return ReadReply("changed", "disappeared while being read")
    except ExtractionError as exc:
        return ReadReply("skip", str(exc))
    except MemoryError:
        limit = f" (the limit is {limits.memory_bytes:,} bytes)" if limits.memory_bytes else ""
        return ReadReply("skip", f"ran out of memory reading it{limit}")
    except OSError as exc:
        return ReadReply("skip", f"cannot read: {exc.strerror or exc}")
    except RecursionError:
        return ReadReply("skip", "nested too deeply to read")
    except Exception as exc:  # a parser's own bug on odd input: skip the file, go on
        return ReadReply("skip", f"could not be read ({type(exc).__name__}: {exc})")


def _read_text(req: ReadRequest, limits: ReadLimits) -> ReadReply:
    with open(req.path, "rb") as fh:
        data = fh.read(req.size + 1)
        st = os.fstat(fh.fileno())
    stable = len(data) == req.size and (st.st_size, st.st_mtime_ns) == (req.size, req.mtime_ns)
    if not stable or hashlib.sha256(data).hexdigest() != req.sha256:
        return ReadReply("changed", "changed while being read; the next run indexes it")
    passages, attached = extract_document(
        data,
        Path(req.path).suffix.lower(),
        max_unpacked_bytes=limits.max_unpacked_bytes,
        max_unpack_ratio=limits.max_unpack_ratio,
        ocr=limits.ocr,
    )
    return ReadReply("text", passages=passages, attached=attached)


def _read_image(req: ReadRequest, limits: ReadLimits) -> ReadReply:
    """The picture at the image model's size; and its words, where the gate sees text."""
    import io

    from PIL import Image

    from searchengine.models.images import decode_upright

    with open(req.path, "rb") as fh:
        data = fh.read(req.size + 1)
    if len(data) != req.size:
        return ReadReply("changed", "changed while being read; the next run indexes it")
    with warnings.catch_warnings():
        # Pillow only warns between one and two times its pixel limit: refuse those too
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            upright = decode_upright(
                io.BytesIO(data), limits.max_image_side, limits.max_image_pixels
            )
        except Image.DecompressionBombWarning as exc:
            raise ExtractionError(f"image too large to decode safely ({exc})") from None
    image = upright.copy()
    image.thumbnail((limits.max_image_side, limits.max_image_side))
    passages: list[Passage] = []
    try:
        passages = words_if_text(data, upright, image, limits.ocr)
    except ExtractionError as exc:  # the picture is still a picture
        log.info("%s: its words were not read: %s", req.path, exc)
    del upright
    st = os.stat(req.path)
    if (st.st_size, st.st_mtime_ns) != (req.size, req.mtime_ns):
        return ReadReply("changed", "changed while being read; the next run indexes it")
    return ReadReply("image", passages=passages, image=(image.mode, image.size, image.tobytes()))


def timed_out(limits: ReadLimits) -> ReadReply:
    return ReadReply(
        "skip", f"took longer than {limits.timeout_s:g} s to read (the --file-timeout limit)"
    )


# the pipe protocol


def send(out: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(FRAME.pack(len(data)) + data)
    out.flush()


def receive(inp: IO[bytes]) -> object | None:
    """The next message, or None at the end of the stream."""
    head = inp.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (n,) = FRAME.unpack(head)
    data = inp.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


def main() -> None:
    # Ctrl-C in the terminal reaches this process too: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp = sys.stdin.buffer
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a parser's print must not corrupt replies
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.CRITICAL)  # parsers log their complaints; the reason says enough
    limits = receive(inp)
    if not isinstance(limits, ReadLimits):
        return
    if limits.memory_bytes:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        except (ImportError, ValueError, OSError):
            pass  # not on this platform: the parent's time limit still holds
    signal.signal(signal.SIGALRM, _on_alarm)

    timeout = limits.timeout_s

    def heartbeat() -> None:
        """A page of a scan was read: the file's time limit starts again, here and in the
        parent, so that a long scan is read page by page instead of cut off as a hang."""
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        send(out, ALIVE)

    if limits.ocr is not None:
        limits = replace(limits, ocr=replace(limits.ocr, on_page=heartbeat))
    send(out, "ready")
    while (req := receive(inp)) is not None:
        assert isinstance(req, ReadRequest)
        reply: ReadReply | None = None
        try:
            if limits.timeout_s:
                signal.setitimer(signal.ITIMER_REAL, limits.timeout_s)
            reply = read_file(req, limits)
            signal.setitimer(signal.ITIMER_REAL, 0)
        except _Timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            reply = reply or timed_out(limits)
        send(out, reply)


if __name__ == "__main__":
    # run the importable module, not this __main__ copy, so that pickled
    # requests and replies are instances of the same classes on both sides
    from indexer.read_worker import main as _main

    _main()
