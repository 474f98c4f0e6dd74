"""Query latency per search mode (dense, lexical, hybrid) on a real corpus of 10k+ chunks.

Protocol:

* Corpus (built once, cached under ``--cache``, default ``bench/.cache/modes-corpus/``):
  real text from Debian packages, fetched with ``apt-get download`` and unpacked with
  ``dpkg-deb -x`` into a temporary folder (nothing is installed): the Python 3.11
  HTML documentation (``python3.11-doc``, English) and the Korean LibreOffice help
  (``libreoffice-help-ko``, Korean with untranslated English strings left in), copied
  as the .html files they are, plus both labelled sets of ``evalsets/`` (so that the
  queries have their answers in the corpus). Whole files are drawn in a seeded order
  from each package until its share of ``--chunks`` (default 11,000; half Korean, half
  English after the evalsets) is reached, counting chunks with the product's own
  chunker and tokenizer at ``chunk_tokens=128``.
* Index: ``searchengine.Index.add`` with the default text model
  (multilingual-e5-small), ``chunk_tokens=128``, no fsync. Cached beside the corpus;
  each run brings it up to date (fast when nothing changed). ``--rebuild`` starts over.
* Queries: ``--queries`` (default 100) drawn in a seeded order from the first column
  of every ``evalsets/*/qrels*.tsv`` (Korean and English questions and the ``exact``
  identifier/number queries), duplicates removed; five more queries (Korean and
  English: the first Hangul query loads the morphological analyser) warm each mode up.
* Timing: one warm process; ``Index.search(query, k=10, mode=...)`` timed with
  ``time.perf_counter`` per query and mode. Each query runs every mode and the bare
  query encoder (``encode([query], "query")`` of the text encoder given to the
  index, so the very one its searches use) in a rotating order, so
  all of them see the same machine load. Reported per mode: p50, p95, mean, count;
  the encoder's p50/p95 and its share of the dense and hybrid medians (``lexical``
  does not encode). The same is repeated with a narrow path filter: the folder with
  the most files among those that hold at most 1% of the corpus's files.
* ``found@10`` is a sanity check only (a query's labelled answer file is among its
  first 10 hits), not a quality benchmark.
* ``--profile`` adds a cProfile of the hybrid queries (top functions by own time and
  by cumulative time).
* The load average before and after the timed part, and the CPU that other processes
  used during each timed part (from /proc/stat), are printed: on a shared machine
  another busy process changes the figures a lot. In particular, with torch's
  default OpenMP threads (GNU libgomp spins while it waits), one other process at
  100% CPU on a 2-core machine slowed a one-query encode from ~30 ms to ~1 s;
  ``OMP_WAIT_POLICY`` is printed for that reason, and ``--threads N`` sets torch's
  thread count to compare. Likewise numpy's OpenBLAS threads, still spinning after
  the search's own matrix products, slow the next query's encode (about 25 -> 50 ms
  here; ``OPENBLAS_NUM_THREADS=1`` removes that), so back-to-back queries, as timed
  here, include that cost.

    python -m bench.bench_query_modes [--json] [--queries 100] [--rebuild] [--profile]
                                      [--threads N]
    python -m bench.bench_query_modes --smoke   # a few evalsets files and queries, in a
                                                # temporary folder: a check, not a measurement
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from searchengine import Encoders, Index, Settings  # noqa: E402
from searchengine.config import DEFAULT_TEXT_MODEL, data_home  # noqa: E402

DEFAULT_CACHE = ROOT / "bench/.cache/modes-corpus"
CHUNK_TOKENS = 128
SEED = 0
K = 10
WARMUP = 5
MODES = ("dense", "lexical", "hybrid")
NARROW_SHARE = 0.01  # the filtered run's folder holds at most this share of the files
# --smoke: files taken from each labelled set, timed queries, warm-up queries, narrow share
SMOKE_FILES, SMOKE_QUERIES, SMOKE_WARMUP, SMOKE_NARROW_SHARE = 4, 3, 2, 0.5

# package -> (folder inside the package, name of its folder in the corpus)
PACKAGES = {
    "python3.11-doc": ("usr/share/doc/python3.11/html", "python3.11-doc"),
    "libreoffice-help-ko": ("usr/share/libreoffice/help/ko", "libreoffice-help-ko"),
}
KOREAN_PACKAGE = "libreoffice-help-ko"
# index and search pages of the Python docs are link lists, not prose
SKIP_NAMES = {"genindex.html", "py-modindex.html", "search.html", "genindex-all.html"}
EVALSETS = ("debian-faq-ko", "python-faq-en")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LETTER = re.compile(r"[^\W\d_]")


# corpus


def fetch_packages(dest: Path, debs: Path | None) -> dict[str, dict[str, str]]:
    """Unpack each package into dest/<name>; returns name -> {version, deb}."""
    out = {}
    for name in PACKAGES:
        if debs is not None:
            found = sorted(debs.glob(f"{name}_*.deb"))
            if not found:
                raise SystemExit(f"no {name}_*.deb in {debs}")
            deb = found[-1]
        else:
            res = subprocess.run(
                ["apt-get", "download", name], cwd=dest, capture_output=True, text=True
            )
            found = sorted(dest.glob(f"{name}_*.deb"))
            if res.returncode != 0 or not found:
                raise SystemExit(
                    f"apt-get download {name} failed (try `apt-get update` first):\n{res.stderr}"
                )
            deb = found[-1]
        version = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest / name)], check=True)
        out[name] = {"version": version, "deb": deb.name}
    return out


def source_files(root: Path) -> list[Path]:
    """The .html pages of a package's help folder, without Sphinx's own folders."""
    return sorted(
        p
        for p in root.rglob("*.html")
        if p.is_file()
        and p.name not in SKIP_NAMES
        and not any(part.startswith("_") for part in p.relative_to(root).parts)
    )


class ChunkCounter:
    """Chunks and letters of a file, as the indexer will cut it (chunk_tokens=128)."""

    def __init__(self, settings: Settings):
        from indexer.chunk import chunk_passages
        from indexer.extract import extract_text_bytes
        from searchengine.models.presets import resolve_text_model
        from searchengine.models.text_encoder import TextEncoder

        src = resolve_text_model("e5-small", settings.model_cache)
        self.encoder = TextEncoder(src)
        self.overlap = settings.chunk_overlap_tokens
        self._chunk = chunk_passages
        self._extract = extract_text_bytes

    def __call__(self, path: Path) -> tuple[int, int, int]:
        """(chunks, letters, Hangul syllables); (0, 0, 0) when the indexer finds no text."""
        try:
            passages = self._extract(path.read_bytes(), path.suffix.lower())
        except Exception:  # noqa: BLE001 - the indexer skips such files too
            return 0, 0, 0
        text = "".join(p.text for p in passages)
        n = len(self._chunk(passages, self.encoder.token_spans, CHUNK_TOKENS, self.overlap))
        return n, len(LETTER.findall(text)), len(HANGUL.findall(text))


def build_corpus(corpus: Path, target_chunks: int, debs: Path | None, settings: Settings) -> dict:
    """Write the corpus folder and return its manifest (also saved as corpus.json)."""
    import warnings

    warnings.filterwarnings("ignore", module="bs4")  # XML-looking pages parsed as HTML
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    count = ChunkCounter(settings)
    sources: dict[str, dict[str, Any]] = {}

    def add(name: str, files: list[tuple[Path, Path]], budget: int | None, extra: dict) -> None:
        """Copy (src, dest-relative) pairs in a seeded order until `budget` chunks."""
        order = list(files)
        if budget is not None:
            random.Random(f"{SEED}:{name}").shuffle(order)
        chunks = letters = hangul = n_files = 0
        for src, rel in order:
            c, lt, hg = count(src)
            if c == 0 or (budget is not None and chunks + c > budget):
                continue
            dest = corpus / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            chunks, letters, hangul, n_files = chunks + c, letters + lt, hangul + hg, n_files + 1
            if budget is not None and chunks >= budget:
                break
        sources[name] = {
            **extra,
            "files": n_files,
            "of_files": len(files),
            "chunks_estimated": chunks,
            "hangul_share_of_letters": round(hangul / max(letters, 1), 3),
        }

    for name in EVALSETS:
        docs = ROOT / "evalsets" / name / "docs"
        files = [(p, Path("evalsets", name, p.relative_to(docs))) for p in sorted(docs.rglob("*"))]
        add(f"evalsets/{name}", [f for f in files if f[0].is_file()], None, {})
    rest = max(0, target_chunks - sum(s["chunks_estimated"] for s in sources.values()))
    with tempfile.TemporaryDirectory(prefix="modes-debs-") as tmp:
        versions = fetch_packages(Path(tmp), debs)
        for name, (inner, folder) in PACKAGES.items():
            root = Path(tmp) / name / inner
            files = [(p, Path(folder, p.relative_to(root))) for p in source_files(root)]
            budget = rest // 2 if name == KOREAN_PACKAGE else rest - rest // 2
            add(name, files, budget, versions[name])
    manifest = {
        "target_chunks": target_chunks,
        "chunk_tokens": CHUNK_TOKENS,
        "seed": SEED,
        "built": dt.datetime.now().isoformat(timespec="seconds"),
        "sources": sources,
    }
    (corpus.parent / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def build_smoke_corpus(corpus: Path) -> dict:
    """The first SMOKE_FILES files of each labelled set, no Debian packages (--smoke)."""
    if corpus.exists():
        shutil.rmtree(corpus)
    sources: dict[str, dict[str, Any]] = {}
    for name in EVALSETS:
        docs = ROOT / "evalsets" / name / "docs"
        files = sorted(p for p in docs.rglob("*") if p.is_file())
        letters = hangul = 0
        for src in files[:SMOKE_FILES]:
            dest = corpus / "evalsets" / name / src.relative_to(docs)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            text = src.read_text(encoding="utf-8", errors="replace")
            letters, hangul = (
                letters + len(LETTER.findall(text)),
                hangul + len(HANGUL.findall(text)),
            )
        sources[f"evalsets/{name}"] = {
            "files": min(SMOKE_FILES, len(files)),
            "of_files": len(files),
            "chunks_estimated": "?",
            "hangul_share_of_letters": round(hangul / max(letters, 1), 3),
        }
    manifest = {
        "target_chunks": None,
        "chunk_tokens": CHUNK_TOKENS,
        "seed": SEED,
        "built": dt.datetime.now().isoformat(timespec="seconds"),
        "smoke": True,
        "sources": sources,
    }
    (corpus.parent / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def build_index(corpus: Path, settings: Settings, log: Any) -> dict[str, Any]:
    """Bring the cached index up to date; returns what the run did and how long it took."""
    last = [0.0]

    def progress(phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= 30:
            last[0] = now
            log(f"  {phase} {done}/{total if total is not None else '?'}")

    t0 = time.perf_counter()
    with Index.open(settings=settings) as index:  # settings.fsync is False: no fsync
        summary = index.add(corpus, on_progress=progress)
        counts = index.status().counts
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 1), "summary": summary.to_json(), "counts": counts}


# queries


def load_queries(corpus: Path, answered_only: bool = False) -> list[dict[str, Any]]:
    """Every distinct labelled query, with its kind, language and relevant corpus paths.

    `answered_only` keeps the queries with a relevant file in the corpus (--smoke's
    corpus holds a few files of each set)."""
    from searchengine.query.evaluate import read_qrels

    seen: dict[str, dict[str, Any]] = {}
    for path in sorted((ROOT / "evalsets").glob("*/qrels*.tsv")):
        qrels = read_qrels(path, corpus / "evalsets" / path.parent.name)
        for query, relevant in qrels.relevant.items():
            row = seen.setdefault(
                query,
                {
                    "query": query,
                    "kind": qrels.kinds[query],
                    "lang": "ko" if HANGUL.search(query) else "en",
                    "set": f"{path.parent.name}/{path.name}",
                    "relevant": set(),
                },
            )
            row["relevant"] |= set(relevant)
    rows = sorted(seen.values(), key=lambda r: r["query"])
    if answered_only:
        rows = [r for r in rows if any(os.path.isfile(p) for p in r["relevant"])]
    random.Random(SEED).shuffle(rows)
    return rows


def narrow_folder(corpus: Path, share: float = NARROW_SHARE) -> tuple[Path, int, int]:
    """The folder with the most files among those holding at most `share` of them."""
    files = [p for p in corpus.rglob("*") if p.is_file()]
    per_dir: dict[Path, int] = {}
    for p in files:
        for d in p.relative_to(corpus).parents:
            if d != Path("."):
                per_dir[d] = per_dir.get(d, 0) + 1
    limit = share * len(files)
    fits = [(n, str(d)) for d, n in per_dir.items() if 2 <= n <= limit]
    if not fits:
        raise SystemExit("no folder small enough for the filtered run")
    n, d = min(fits, key=lambda x: (-x[0], x[1]))  # most files; then the first by name
    return corpus / d, n, len(files)


# timing


def cpu_seconds() -> tuple[float, float] | None:
    """(busy CPU seconds of the whole machine, CPU seconds of this process); None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    own = os.times()
    return (sum(ticks[:8]) - idle) / hz, own.user + own.system


def other_cores(before: tuple[float, float] | None, wall: float) -> float | None:
    """Cores that other processes kept busy, on average, since `before`."""
    after = cpu_seconds()
    if before is None or after is None or wall <= 0:
        return None
    return round(max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall, 2)


def summarize(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "mean_ms": round(float(a.mean()), 2),
        "max_ms": round(float(a.max()), 2),
        "count": len(ms),
    }


def time_modes(
    index: Index, encoder: Any, queries: list[dict], warm: list[dict], filters: Any
) -> dict:
    """Per mode and for the bare encoder: latencies of every query, in a rotating order."""
    steps = [*MODES, "encoder"]

    def run(step: str, query: str) -> Any:
        if step == "encoder":
            encoder.encode([query], "query")
            return []
        return index.search(query, k=K, mode=step, filters=filters)

    for row in warm:
        for step in steps:
            run(step, row["query"])
    times: dict[str, list[float]] = {s: [] for s in steps}
    found: dict[str, int] = {m: 0 for m in MODES}
    empty: dict[str, int] = {m: 0 for m in MODES}
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for i, row in enumerate(queries):
        for j in range(len(steps)):
            step = steps[(i + j) % len(steps)]
            t0 = time.perf_counter()
            hits = run(step, row["query"])
            times[step].append((time.perf_counter() - t0) * 1000)
            if step != "encoder":
                paths = {os.path.normpath(unicodedata.normalize("NFC", h.path)) for h in hits}
                found[step] += bool(paths & row["relevant"])
                empty[step] += not hits
    out: dict[str, Any] = {"other_processes_cores": other_cores(cpu0, time.perf_counter() - wall0)}
    for m in MODES:
        slowest = max(range(len(queries)), key=lambda i: times[m][i])
        out[m] = {
            **summarize(times[m]),
            "found@10": found[m],
            "no_hits": empty[m],
            "slowest_query": queries[slowest]["query"],
        }
    enc = summarize(times["encoder"])
    out["encoder"] = {
        **enc,
        "share_of_dense_p50": round(enc["p50_ms"] / out["dense"]["p50_ms"], 3),
        "share_of_hybrid_p50": round(enc["p50_ms"] / out["hybrid"]["p50_ms"], 3),
    }
    return out


def profile_hybrid(index: Index, queries: list[dict], top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for row in queries:
        index.search(row["query"], k=K, mode="hybrid")
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


# report


def print_table(title: str, res: dict, n_queries: int) -> None:
    print(f"\n{title}")
    print(
        f"  {'mode':<9}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'max ms':>9}{'n':>5}"
        f"{'found@10':>10}"
    )
    for m in MODES:
        r = res[m]
        print(
            f"  {m:<9}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['mean_ms']:>9.1f}"
            f"{r['max_ms']:>9.1f}{r['count']:>5}{r['found@10']:>6}/{n_queries}"
        )
    e = res["encoder"]
    print(
        f"  {'encoder':<9}{e['p50_ms']:>9.1f}{e['p95_ms']:>9.1f}{e['mean_ms']:>9.1f}"
        f"{e['max_ms']:>9.1f}{e['count']:>5}"
    )
    print(
        f"  encoder share of the median: dense {e['share_of_dense_p50']:.0%}, "
        f"hybrid {e['share_of_hybrid_p50']:.0%} (lexical does not encode)"
    )
    slow = ", ".join(f"{m} {res[m]['slowest_query']!r}" for m in MODES)
    print(f"  slowest query: {slow}")
    busy = res.get("other_processes_cores")
    if busy is not None:
        warn = "  <- the machine was busy: figures inflated" if busy >= 0.25 else ""
        print(f"  other processes kept {busy:.2f} cores busy meanwhile{warn}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="corpus and index folder")
    ap.add_argument("--queries", type=int, default=100, help="timed queries per mode")
    ap.add_argument("--chunks", type=int, default=11_000, help="corpus size to aim for")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the corpus and the index")
    ap.add_argument("--debs", type=Path, help="folder with the .deb files (else apt-get download)")
    ap.add_argument("--profile", action="store_true", help="cProfile the hybrid queries")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick check: {SMOKE_FILES} files of each labelled set, {SMOKE_QUERIES} "
        "queries, in a temporary folder (--cache, --queries, --chunks are ignored)",
    )
    args = ap.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="query-modes-smoke-") as tmp:
            args.cache, args.queries, args.rebuild = Path(tmp), SMOKE_QUERIES, True
            run(args)
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    warmup = SMOKE_WARMUP if args.smoke else WARMUP

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    cache = args.cache.expanduser().resolve()
    corpus, index_dir = cache / "corpus", cache / "index"
    settings = Settings(
        index_dir=index_dir,
        model_cache=data_home() / "models",
        chunk_tokens=CHUNK_TOKENS,
        fsync=False,
    )
    if args.rebuild:
        shutil.rmtree(index_dir, ignore_errors=True)
    manifest_path = cache / "corpus.json"
    if args.rebuild or not manifest_path.is_file() or not corpus.is_dir():
        log(f"building the corpus in {corpus} ...")
        t0 = time.perf_counter()
        if args.smoke:
            manifest = build_smoke_corpus(corpus)
        else:
            manifest = build_corpus(corpus, args.chunks, args.debs, settings)
        log(f"  done in {time.perf_counter() - t0:.0f} s")
        shutil.rmtree(index_dir, ignore_errors=True)
    else:
        manifest = json.loads(manifest_path.read_text())

    full_path = cache / "index-build.json"
    fresh = not index_dir.is_dir() or not any(index_dir.iterdir())
    log(f"{'indexing' if fresh else 'updating the index of'} {corpus} ...")
    run = build_index(corpus, settings, log)
    if fresh or not full_path.is_file():
        full_path.write_text(json.dumps(run, indent=2) + "\n")
    full = json.loads(full_path.read_text())
    log(f"  {run['seconds']:.1f} s ({run['summary'].get('encoded', '?')} chunks encoded)")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from searchengine.filters import make_filters
    from searchengine.models.spaces import load_text_encoder

    rows = load_queries(corpus, answered_only=args.smoke)
    if len(rows) < args.queries + warmup:
        raise SystemExit(f"only {len(rows)} distinct labelled queries")
    queries, rest = rows[: args.queries], rows[args.queries :]
    # both languages in the warm-up: the first Hangul query loads kiwi (seconds)
    firsts = [next(r for r in rest if r["lang"] == lang) for lang in ("ko", "en")]
    warm = firsts + [r for r in rest if r not in firsts][: warmup - len(firsts)]
    narrow, narrow_files, all_files = narrow_folder(
        corpus, SMOKE_NARROW_SHARE if args.smoke else NARROW_SHARE
    )

    # The index's text encoder, given to it so that the bare encoder timed beside the
    # searches is the very one they use; it loads on the first search, as it would.
    encoder = load_text_encoder(DEFAULT_TEXT_MODEL, settings)
    with Index.open(settings=settings, encoders=Encoders(text=encoder)) as index:
        counts = index.status().counts
        t0 = time.perf_counter()
        index.search(warm[0]["query"], k=K, mode="hybrid")  # loads model and index
        first_ms = (time.perf_counter() - t0) * 1000
        load_before = os.getloadavg()
        log(f"timing {len(queries)} queries x {len(MODES)} modes + encoder, no filter ...")
        plain = time_modes(index, encoder, queries, warm, None)
        log(f"timing the same with the filter --under {narrow.relative_to(corpus)} ...")
        filtered = time_modes(index, encoder, queries, warm, make_filters(folders=[str(narrow)]))
        load_after = os.getloadavg()
        if args.profile:
            log("profiling the hybrid queries ...")
        profile = profile_hybrid(index, queries) if args.profile else None

    mix: dict[str, int] = {}
    for r in queries:
        key = f"{r['lang']}/{'exact' if r['kind'] == 'exact' else 'question'}"
        mix[key] = mix.get(key, 0) + 1
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_avg_1m_before": round(load_before[0], 2),
            "load_avg_1m_after": round(load_after[0], 2),
        },
        "corpus": {
            "folder": str(corpus),
            "files": counts.get("files"),
            "skipped": counts.get("skipped"),
            "chunks": counts.get("chunks"),
            "vectors": counts.get("vectors_text"),
            "chunk_tokens": CHUNK_TOKENS,
            "sources": manifest["sources"],
            "full_index_seconds": full.get("seconds"),
            "refresh_seconds": run["seconds"],
        },
        "queries": {"timed": len(queries), "warmup_per_mode": warmup, "k": K, "mix": mix},
        "first_query_ms": round(first_ms, 1),
        "unfiltered": plain,
        "filtered": {
            "under": str(narrow.relative_to(corpus)),
            "files": narrow_files,
            "of_files": all_files,
            **filtered,
        },
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return

    m, c = report["machine"], report["corpus"]
    print(f"\nquery latency per mode, {report['date']}")
    print(
        f"machine: {m['platform']}, {m['processor']}, {m['cpu_count']} CPUs, "
        f"python {m['python']}, torch {m['torch']} with {m['torch_threads']} threads, "
        f"OMP_WAIT_POLICY={m['omp_wait_policy'] or 'unset'}; load average (1 min) "
        f"{m['load_avg_1m_before']} before timing, {m['load_avg_1m_after']} after"
    )
    print(
        f"corpus: {c['files']} files ({c['skipped']} skipped), {c['chunks']} chunks, "
        f"{c['vectors']} vectors, chunk_tokens={CHUNK_TOKENS}; "
        f"full index build {c['full_index_seconds']} s, refresh {c['refresh_seconds']} s"
    )
    for name, s in c["sources"].items():
        ver = f" {s['version']}" if "version" in s else ""
        print(
            f"  {name}{ver}: {s['files']}/{s['of_files']} files, ~{s['chunks_estimated']} "
            f"chunks, Hangul {s['hangul_share_of_letters']:.0%} of letters"
        )
    mix_s = ", ".join(f"{k} {v}" for k, v in sorted(mix.items()))
    print(
        f"queries: {len(queries)} timed per mode ({mix_s}), {warmup} warm-up, k={K}; "
        f"first query of the process {report['first_query_ms']:.0f} ms"
    )
    print_table("no filter", plain, len(queries))
    f = report["filtered"]
    print_table(
        f"filter --under {f['under']} ({f['files']} of {f['of_files']} files)",
        filtered,
        len(queries),
    )
    if profile:
        print("\ncProfile of the hybrid queries:\n" + profile)


if __name__ == "__main__":
    main()
