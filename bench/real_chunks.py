"""Real chunks, encoded once and cached outside git: what recall at scale is measured on (issue 30).

Texts nobody here wrote: Debian's documentation (``/usr/share/doc``: plain, gzip and
HTML files) and the Korean texts that packages install (the ``ko`` gettext catalogs
under ``/usr/share/locale``, the Korean man pages), plus the shipped Korean eval
corpus. They are cut by the product's chunker with e5-small's tokenizer into chunks
of ``--chunk-tokens`` (128 by default: four times cheaper to encode on 2 cores than
the product's 512, the same model and space), at most ``--per-file`` chunks of one
file (a 5 MB changelog would otherwise be a tenth of the set), exact duplicates
dropped, then shuffled with a fixed seed so that any prefix of the set is a random
sample of it (10k is the first 10,000). The plan is written first; encoding
(e5-small on torch, bf16 where the CPU has it: the indexing default) appends shards
of float16 vectors, so a killed run goes on where it stopped.

    python -m bench.real_chunks --target 100000     # hours on 2 cores; run it niced
    python -m bench.real_chunks --status            # how far it is
    python -m bench.real_chunks --smoke             # a few chunks in a temporary folder

The cache: ``$SEMSEARCH_BENCH_CACHE``, else ``~/.cache/semsearch-bench/real-chunks``.
``load(folder)`` gives the vectors encoded so far and their chunks' file numbers.
"""

from __future__ import annotations

import argparse
import gettext
import gzip
import html
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARD = 2048  # chunks per shard of vectors
MAX_FILE_BYTES = 4 * 2**20  # a text bigger than this is read to here
SOURCES = {
    "doc": Path("/usr/share/doc"),
    "locale-ko": Path("/usr/share/locale/ko/LC_MESSAGES"),
    "man-ko": Path("/usr/share/man/ko"),
    "evalset-ko": ROOT / "evalsets" / "debian-faq-ko" / "docs",
}
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_ROFF = re.compile(r"^\.[A-Za-z]+\s?|\\f[BIRP]|\\-|\\\(..|\\&", re.M)


def default_cache() -> Path:
    env = os.environ.get("SEMSEARCH_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "semsearch-bench" / "real-chunks"


def _read(path: Path) -> str:
    raw = path.read_bytes()[:MAX_FILE_BYTES]
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(path.read_bytes())[:MAX_FILE_BYTES]
        except (OSError, EOFError):
            return ""
    if b"\x00" in raw[:4096]:
        return ""  # binary
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    head = text[:2000].lower()
    if "<html" in head or "<!doctype html" in head:
        text = html.unescape(_TAG.sub(" ", text))
    elif path.parent.parent.name == "ko" and "man" in path.parts:
        text = _ROFF.sub("", text)
    return text


def _catalog_text(path: Path) -> str:
    """The Korean strings of a gettext catalog, one a line."""
    try:
        with open(path, "rb") as fh:
            catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    lines = [v for k, v in catalog.items() if k and isinstance(v, str) and v.strip()]
    return "\n".join(sorted(lines))


def texts() -> Iterator[tuple[str, str]]:
    """(source file, its text) for every readable file of the sources, in a fixed order."""
    for name, folder in SOURCES.items():
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            text = _catalog_text(path) if name == "locale-ko" else _read(path)
            if len(text.strip()) >= 40:
                yield str(path), text


def plan(folder: Path, chunk_tokens: int, per_file: int, limit: int | None, log) -> int:  # type: ignore[no-untyped-def]
    """Chunk every source text and write the shuffled plan; how many chunks it holds."""
    from indexer.chunk import chunk_passages
    from searchengine.config import Settings
    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_encoder import TextEncoder
    from searchengine.records import Passage

    enc = TextEncoder(resolve_text_model("e5-small", Settings().model_cache), engine="torch")
    budget = chunk_tokens - enc.prefix_tokens("passage")
    seen: set[str] = set()
    rows: list[tuple[int, str]] = []
    files: list[str] = []
    started = time.perf_counter()
    for done, (path, text) in enumerate(texts()):
        if done % 500 == 0:
            log(f"  {done:,} files read, {len(rows):,} chunks")
        text = text[: per_file * chunk_tokens * 8]  # past per_file chunks' worth: not read
        chunks = chunk_passages([Passage(text)], enc.token_spans, budget, 16)[:per_file]
        kept = [c.text for c in chunks if c.text not in seen and len(c.text.strip()) >= 20]
        if not kept:
            continue
        seen.update(kept)
        rows += [(len(files), t) for t in kept]
        files.append(path)
        if limit is not None and len(rows) >= limit:
            break
    random.Random(30).shuffle(rows)
    rows = rows[:limit] if limit is not None else rows
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "plan.jsonl.tmp", "w", encoding="utf-8") as out:
        for file_no, text in rows:
            out.write(json.dumps({"file": file_no, "text": text}, ensure_ascii=False) + "\n")
    (folder / "files.json").write_text(json.dumps(files), encoding="utf-8")
    meta = {"chunk_tokens": chunk_tokens, "per_file": per_file, "chunks": len(rows)}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    os.replace(folder / "plan.jsonl.tmp", folder / "plan.jsonl")
    korean = sum(1 for _, t in rows if re.search("[가-힣]", t))
    log(
        f"planned {len(rows):,} chunks ({korean:,} with Hangul) of {len(files):,} files "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return len(rows)


def shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("vectors-[0-9]*[0-9].npy"))


def encoded(folder: Path) -> int:
    return sum(int(np.load(p, mmap_mode="r").shape[0]) for p in shards(folder))


def encode(folder: Path, target: int, threads: int, log) -> int:  # type: ignore[no-untyped-def]
    """Encode the plan's chunks up to `target`, a shard at a time; how many are encoded."""
    from searchengine.config import Settings
    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_backends import cpu_has_bf16
    from searchengine.models.text_encoder import TextEncoder

    precision = "bf16" if cpu_has_bf16() else "fp32"
    source = resolve_text_model("e5-small", Settings().model_cache)
    enc = TextEncoder(source, engine="torch", precision=precision, threads=threads)  # type: ignore[arg-type]
    with open(folder / "plan.jsonl", encoding="utf-8") as fh:
        planned = [json.loads(line)["text"] for line in fh]
    done = encoded(folder)
    target = min(target, len(planned))
    while done < target:
        batch = planned[done : done + SHARD]
        started = time.perf_counter()
        vectors = enc.encode(batch, "passage").astype(np.float16)
        name = folder / f"vectors-{len(shards(folder)):05d}.npy"
        np.save(name.with_suffix(".tmp.npy"), vectors)
        os.replace(name.with_suffix(".tmp.npy"), name)
        took = time.perf_counter() - started
        done += len(batch)
        log(
            f"{done:,}/{target:,} encoded ({precision}, {len(batch) / took:.1f} chunks/s, "
            f"load {os.getloadavg()[0]:.1f})"
        )
    return done


def load(folder: Path | None = None, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first n vectors encoded (float32, unit length; all, without n) and the number
    of the file each chunk came from."""
    folder = folder or default_cache()
    parts = [np.load(p) for p in shards(folder)]
    vectors = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 384), np.float32)
    vectors = vectors[:n] if n is not None else vectors
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with open(folder / "plan.jsonl", encoding="utf-8") as fh:
        files = [json.loads(line)["file"] for _, line in zip(range(len(vectors)), fh, strict=False)]
    return vectors, np.asarray(files, dtype=np.int64)


def status(folder: Path) -> str:
    if not (folder / "meta.json").exists():
        return f"{folder}: nothing planned"
    meta = json.loads((folder / "meta.json").read_text())
    return f"{folder}: {encoded(folder):,} of {meta['chunks']:,} planned chunks encoded"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", type=int, default=100_000, help="chunks to encode")
    ap.add_argument("--chunk-tokens", type=int, default=128)
    ap.add_argument("--per-file", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--status", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="a few chunks, a temporary folder")
    args = ap.parse_args()
    folder = args.cache or default_cache()
    if args.status:
        print(status(folder))
        return 0

    def log(line: str) -> None:
        print(time.strftime("%H:%M:%S"), line, flush=True)

    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="semsearch-chunks-") as tmp:
            plan(Path(tmp), args.chunk_tokens, 3, 40, log)
            encode(Path(tmp), 40, args.threads, log)
            vectors, files = load(Path(tmp))
            print(f"loaded {len(vectors)} vectors of {len(set(files.tolist()))} files")
        return 0
    if not (folder / "plan.jsonl").exists():
        plan(folder, args.chunk_tokens, args.per_file, None, log)
    log(status(folder))
    encode(folder, args.target, args.threads, log)
    log(status(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
