"""Read the words in a picture with Tesseract (OCR): scanned PDF pages, screenshots, photos.

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
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
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
SURE = 90.0  # Tesseract's confidence (0-100) under which a word is read again, language by language
MAX_REREAD = 2000  # unsure words read again on one page, at most
PAD, GAP = 6, 40  # pixels around each unsure word's box, and between boxes on the sheet
_SYLLABLE_SPACE = re.compile(r"(?<=[\uac00-\ud7a3]) (?=[\uac00-\ud7a3])")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_HANGUL_ONLY = re.compile(r"[\uac00-\ud7a3]+")
_TRAILING_JUNK = "'\u2019\u2018\"`|!?:;,._-=~()[]{}<>"  # a cut through a letter reads as these
HANGUL_LANGUAGES = frozenset({"kor", "kor_vert", "Hangul", "Hangul_vert"})
MIN_SPLIT_WIDTH = 8  # pixels: a Latin part narrower than this is not read on its own
LANGUAGE_PACKAGES = {"kor": "tesseract-ocr-kor", "Hangul": "tesseract-ocr-script-hang"}


@dataclass(frozen=True)
class OcrOptions:
    """Whether and how to read pictures of text; from Settings, sent to the reader."""

    mode: str = DEFAULT_OCR  # "auto" | "all" | "off"
    languages: str = DEFAULT_OCR_LANGUAGES  # Tesseract's models joined by "+": "kor+eng"
    timeout_s: float = DEFAULT_OCR_TIMEOUT_S  # one Tesseract call; 0: no limit of its own
    binary: str = "tesseract"
    # called after each page read (the reader's heartbeat: a long scan is not a hung one)
    on_page: Callable[[], None] | None = field(default=None, compare=False, repr=False)

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
    """The text Tesseract reads in a page (`read`, one block of text); an ExtractionError
    when it fails or runs out of time."""
    return read(image, options, PAGE_SEGMENTATION).text


@dataclass(frozen=True)
class Word:
    """One word Tesseract read, where it stands, and how sure it is (0-100)."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float


@dataclass(frozen=True)
class Reading:
    text: str  # Tesseract's text, with its own spacing (it knows which boxes make a word)
    words: list[Word]  # its words, each with its best reading


def read(image: Image.Image, options: OcrOptions, segmentation: str) -> Reading:
    """Read `image` with all the languages at once, then each word Tesseract was unsure of
    (under SURE) again with each language alone, keeping the surest reading.

    With kor+eng together, Tesseract picks a language per word and often picks wrong: a
    package name inside a Korean line comes out as digits and Hangul (`stable` ->
    `'553616ㅇ`), a Korean word as Latin (`목적은` -> `SAYS`). Those words are the unsure
    ones; read alone by the right model they come back right and sure. On the office-ko
    scans this halved the character errors (7.5% -> 4.2%) for 1.4x the time (two more
    Tesseract runs a page, each on a sheet of the unsure words' boxes).
    Unsure words are never dropped: a misread word matches nothing, a dropped one loses a
    match."""
    with tempfile.TemporaryDirectory(prefix="semsearch-ocr-") as tmp:
        base = os.path.join(tmp, "out")
        renderers = ("txt", "tsv")  # Tesseract writes base.txt and base.tsv
        _tesseract(image, options, segmentation, *renderers, output=base)
        try:
            text, tsv = (
                Path(f"{base}.{r}").read_text(encoding="utf-8", errors="replace") for r in renderers
            )
            words = _tsv_words(tsv)
        except FileNotFoundError:
            raise ExtractionError(f"OCR failed ({options.binary} wrote no text)") from None
    languages = options.languages.split("+")
    unsure = [i for i, w in enumerate(words) if w.confidence < SURE][:MAX_REREAD]
    if len(languages) < 2 or not unsure:
        return Reading(text, words)
    grey = image.convert("L")
    better: dict[int, Word] = {}
    # word -> where its Hangul ending starts, and the ending (None: a neighbour's word)
    mixed: dict[int, tuple[int, Word | None]] = {}
    for language in languages:
        alone = replace(options, languages=language)
        read_alone = _reread(grey, [words[i] for i in unsure], alone)
        for i, parts in zip(unsure, read_alone, strict=True):
            inside = _inside(words[i], parts)
            # Tesseract's box of a misread word can reach over the next word (a particle
            # it read on its own): what lies in a neighbour's box is the neighbour's
            own = [p for p in inside if not in_neighbour_box(words, i, p)]
            word = _joined(words[i], own)
            if word is not None and word.confidence > better.get(i, words[i]).confidence:
                better[i] = word
            if language in HANGUL_LANGUAGES and (ending := hangul_ending(inside)) is not None:
                x, tail = ending
                mixed[i] = (x, None if in_neighbour_box(words, i, tail) else tail)
    latin = next((lang for lang in languages if lang not in HANGUL_LANGUAGES), None)
    if mixed and latin is not None:
        better.update(_read_mixed(grey, words, mixed, better, replace(options, languages=latin)))
    return Reading(splice(text, words, better), [better.get(i, w) for i, w in enumerate(words)])


def hangul_ending(parts: list[Word]) -> tuple[int, Word] | None:
    """Where a word read by a Korean model ends in Hangul after something else (a Latin
    word and its particle, `testing에`, read as `1658008 에`): the page x at which the
    Hangul ending starts, and the ending; None for any other word."""
    at = len(parts)
    while at > 0 and _HANGUL_ONLY.fullmatch(parts[at - 1].text):
        at -= 1
    if at == 0 or at == len(parts) or any(_HANGUL.search(p.text) for p in parts[:at]):
        return None
    if sum(len(p.text) for p in parts[:at]) < 2:
        return None
    ending = parts[at:]
    text = "".join(p.text for p in ending)
    confidence = min(p.confidence for p in ending)
    first = ending[0]
    return first.left, Word(text, first.left, first.top, first.width, first.height, confidence)


def _read_mixed(
    grey: Image.Image,
    words: list[Word],
    mixed: dict[int, tuple[int, Word | None]],
    better: dict[int, Word],
    latin: OcrOptions,
) -> dict[int, Word]:
    """Words of Latin letters with a Hangul ending (`testing에`, `XYZ-3.7이`): each model
    alone misreads the half it does not know (`testingoll`, `1658008에`). The part before
    the ending, as the Korean model placed it, is read again by the Latin model, and joined
    to the Korean model's ending (unless the next word is that ending); kept where that is
    surer than the best reading so far."""
    order = [i for i in mixed if mixed[i][0] - words[i].left >= MIN_SPLIT_WIDTH]
    if not order:
        return {}
    heads = [replace(words[i], width=mixed[i][0] - words[i].left) for i in order]
    out: dict[int, Word] = {}
    read = _reread(grey, heads, latin, pad_right=0)
    for i, cut, parts in zip(order, heads, read, strict=True):
        head = _joined(words[i], _inside(cut, parts))
        if head is None:
            continue
        latin_part = head.text.rstrip(_TRAILING_JUNK)
        if len(latin_part) < 2 or _HANGUL.search(latin_part):
            continue
        ending = mixed[i][1]
        confidence = min(head.confidence, ending.confidence if ending else 100.0)
        if confidence > better.get(i, words[i]).confidence:
            w = words[i]
            text = latin_part + (ending.text if ending else "")
            out[i] = Word(text, w.left, w.top, w.width, w.height, confidence)
    return out


def _tsv_words(tsv: str) -> list[Word]:
    words = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue  # level 5: a word
        try:
            left, top, width, height = (int(c) for c in cols[6:10])
            confidence = float(cols[10])
        except ValueError:
            continue
        words.append(Word(cols[11].strip(), left, top, width, height, confidence))
    return words


def _reread(
    grey: Image.Image, words: list[Word], options: OcrOptions, pad_right: int = PAD
) -> list[list[Word]]:
    """Each word's box read again by `options`' languages: the boxes (padded; `pad_right`
    on the right) one under the other on one white sheet, read in one run; what was read
    in each box, left to right, in the page's coordinates."""
    from PIL import Image

    def box(w: Word) -> tuple[int, int, int, int]:
        right, bottom = w.left + w.width + pad_right, w.top + w.height + PAD
        return (
            max(w.left - PAD, 0),
            max(w.top - PAD, 0),
            min(right, grey.width),
            min(bottom, grey.height),
        )

    boxes = [box(w) for w in words]
    crops = [grey.crop(b) for b in boxes]
    sheet = Image.new(
        "L",
        (max(c.width for c in crops) + 2 * GAP, sum(c.height + GAP for c in crops) + GAP),
        255,
    )
    spans, y = [], GAP
    for crop in crops:
        sheet.paste(crop, (GAP, y))
        spans.append((y - GAP // 2, y + crop.height + GAP // 2, y))
        y += crop.height + GAP
    read = _tsv_words(_tesseract(sheet, options, "6", "tsv").decode("utf-8", "replace"))
    found: list[list[Word]] = [[] for _ in words]
    for w in read:
        middle = w.top + w.height / 2
        for n, (top, bottom, at) in enumerate(spans):
            if top <= middle < bottom:
                left, upper = boxes[n][0] + w.left - GAP, boxes[n][1] + w.top - at
                found[n].append(replace(w, left=left, top=upper))
                break
    for parts in found:
        parts.sort(key=lambda w: w.left)
    return found


def _joined(word: Word, parts: list[Word]) -> Word | None:
    """What was read in `word`'s box, as one word in its place (None: nothing)."""
    if not parts:
        return None
    # Korean read alone puts a space between the syllables of a lone word
    joined = _SYLLABLE_SPACE.sub("", " ".join(p.text for p in parts))
    confidence = min(p.confidence for p in parts)
    return Word(joined, word.left, word.top, word.width, word.height, confidence)


def _inside(word: Word, parts: list[Word]) -> list[Word]:
    """The parts whose middle lies within `word`'s box, left to right: what lies in the
    padding around it (a neighbour's first letter) is not the word's."""
    return [p for p in parts if _across(word, p)]


def _across(word: Word, part: Word) -> bool:
    """Whether the middle of `part` lies within `word`'s box, left to right."""
    return word.left <= part.left + part.width / 2 <= word.left + word.width


def in_neighbour_box(words: list[Word], i: int, part: Word) -> bool:
    """Whether `part` (read in word i's box) lies in the box of the word before or after
    it on the same line."""
    for j in (i - 1, i + 1):
        if 0 <= j < len(words):
            other = words[j]
            same_line = other.top < part.top + part.height and part.top < other.top + other.height
            if same_line and _across(other, part):
                return True
    return False


def splice(text: str, words: list[Word], better: dict[int, Word]) -> str:
    """`text` with the words that were read better replaced, in reading order (a word
    that cannot be found from where the last one ended is left as it is)."""
    out, at = [], 0
    for i, word in enumerate(words):
        where = text.find(word.text, at)
        if where < 0:
            continue
        out += [text[at:where], better[i].text if i in better else word.text]
        at = where + len(word.text)
    out.append(text[at:])
    return "".join(out)


def _tesseract(
    image: Image.Image,
    options: OcrOptions,
    segmentation: str,
    *config: str,
    output: str = "stdout",
) -> bytes:
    buf = io.BytesIO()
    image.convert("L").save(buf, "PNG", compress_level=1)  # grey: what Tesseract binarises anyway
    command = [
        options.binary,
        "stdin",
        output,
        "-l",
        options.languages,
        "--psm",
        segmentation,
        *config,
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
    return done.stdout


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}
