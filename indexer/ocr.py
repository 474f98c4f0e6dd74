"""Read the words in a picture with Tesseract (OCR): scanned PDF pages, and pictures later.

Tesseract is Debian's (`make tesseract` installs `tesseract-ocr` with the Korean
and Hangul-script models); nothing is downloaded at run time. `read_text` takes
any Pillow image, so a PDF page rendered by PDFium and a screenshot go the same
way. Where Tesseract or a language model is missing, `unavailable` says so in
one line and the caller goes on without OCR.

Why the binary through `subprocess`, not a Python binding: pytesseract is itself
a wrapper that starts the same binary (through temporary files), so it would add
a dependency and nothing else; tesserocr keeps one engine loaded but builds
against libtesseract's headers (no wheel for Debian's Tesseract 5.3) and a crash
or a spin inside it would be a crash or a spin of the reader itself. A child
process is cut off by its own timeout and killed (`subprocess.run` kills it on
any exception, the reader's per-file alarm included), and its start costs little
next to the 0.3-0.9 s a page takes.

Page segmentation mode 6 (one block of text) and one OpenMP thread, as measured
in shared/OFFLINE.md: mode 3 dropped whole lines of a scan, more threads were
four times slower.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from searchengine.config import (
    DEFAULT_OCR,
    DEFAULT_OCR_LANGUAGES,
    DEFAULT_OCR_TIMEOUT_S,
    Settings,
)
from searchengine.errors import ConfigError, ExtractionError

if TYPE_CHECKING:
    from PIL import Image

OCR_MODES = ("auto", "all", "off")
PAGE_SEGMENTATION = "6"  # one uniform block of text
LANGUAGE_PACKAGES = {"kor": "tesseract-ocr-kor", "Hangul": "tesseract-ocr-script-hang"}


@dataclass(frozen=True)
class OcrOptions:
    """Whether and how to read pictures of text; from Settings, sent to the reader."""

    mode: str = DEFAULT_OCR  # "auto" | "all" | "off"
    languages: str = DEFAULT_OCR_LANGUAGES  # Tesseract's models joined by "+": "kor+eng"
    timeout_s: float = DEFAULT_OCR_TIMEOUT_S  # one Tesseract call; 0: no limit of its own
    binary: str = "tesseract"

    @classmethod
    def from_settings(cls, s: Settings) -> OcrOptions:
        if s.ocr not in OCR_MODES:
            raise ConfigError(f"ocr must be one of {', '.join(OCR_MODES)}, not {s.ocr!r}")
        return cls(s.ocr, s.ocr_languages, s.ocr_timeout_s, s.tesseract)

    def signature(self) -> str:
        """What decides whether a scan is read, for ReadLimits.signature: installing
        Tesseract or turning OCR on retries the scans skipped without it."""
        if self.mode == "off":
            return "ocr=off"
        if unavailable(self) is not None:
            return "ocr=unavailable"
        return f"ocr={self.mode}:{self.languages}"


def unavailable(options: OcrOptions) -> str | None:
    """Why OCR cannot run here (one line), or None when it can."""
    return _unavailable(options.binary, options.languages)


@functools.lru_cache(maxsize=8)
def _unavailable(binary: str, languages: str) -> str | None:
    path = shutil.which(binary)
    if path is None:
        return (
            f"OCR is unavailable: Tesseract ({binary}) is not installed "
            "(apt-get install tesseract-ocr tesseract-ocr-kor, or `make tesseract`)"
        )
    try:
        done = subprocess.run(
            [path, "--list-langs"], capture_output=True, timeout=30, env=_env(), check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"OCR is unavailable: {binary} does not run ({exc})"
    if done.returncode != 0:
        return f"OCR is unavailable: {binary} --list-langs failed (exit code {done.returncode})"
    said = (done.stdout + done.stderr).decode("utf-8", "replace")  # versions differ on which
    listed = {line.strip().rpartition("/")[2] for line in said.splitlines()}
    missing = [lang for lang in languages.split("+") if lang.rpartition("/")[2] not in listed]
    if missing:
        what = ", ".join(LANGUAGE_PACKAGES.get(m, f"tesseract-ocr-{m.lower()}") for m in missing)
        return f"OCR is unavailable: Tesseract has no {'+'.join(missing)} model ({what})"
    return None


def version(options: OcrOptions) -> str | None:
    """Tesseract's version ('5.3.0'), or None where it does not run."""
    path = shutil.which(options.binary)
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (done.stdout or done.stderr).decode("utf-8", "replace").split("\n", 1)[0]
    return first.rpartition(" ")[2] or None


def status(options: OcrOptions) -> dict[str, object]:
    """What `status --json` and `models --json` say of OCR: its mode, and whether it runs."""
    reason = None if options.mode == "off" else unavailable(options)
    return {
        "mode": options.mode,
        "languages": options.languages,
        "available": options.mode != "off" and reason is None,
        "tesseract": version(options) if options.mode != "off" and reason is None else None,
        "reason": reason,
    }


def status_line(options: OcrOptions) -> str:
    """One line for `semsearch status` and `semsearch models`."""
    if options.mode == "off":
        return "ocr:     off"
    reason = unavailable(options)
    if reason is not None:
        detail = reason.removeprefix("OCR is unavailable: ")
        return f"ocr:     unavailable, so scanned PDFs are skipped ({detail})"
    return f"ocr:     Tesseract {version(options) or '?'} ({options.languages}), {options.mode}"


def read_text(image: Image.Image, options: OcrOptions) -> str:
    """The text Tesseract reads in `image`; an ExtractionError when it fails or runs out of time."""
    buf = io.BytesIO()
    image.convert("L").save(buf, "PNG", compress_level=1)  # grey: what Tesseract binarises anyway
    command = [
        options.binary,
        "stdin",
        "stdout",
        "-l",
        options.languages,
        "--psm",
        PAGE_SEGMENTATION,
    ]
    try:
        done = subprocess.run(
            command,
            input=buf.getvalue(),
            capture_output=True,
            timeout=options.timeout_s or None,
            env=_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExtractionError(
            f"OCR took longer than {options.timeout_s:g} s on one page (the OCR time limit)"
        ) from None
    except OSError as exc:
        raise ExtractionError(
            f"OCR is unavailable: {options.binary} ({exc.strerror or exc})"
        ) from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ExtractionError(
            f"OCR failed ({said[-1] if said else f'exit code {done.returncode}'})"
        )
    return done.stdout.decode("utf-8", "replace")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}
