"""int8 variants of the e5-small ONNX graph: size, speed, agreement with fp32, search quality.

Issue 15 offers a quantised text encoder only if `semsearch eval` on the shipped
sets loses at most 1% MRR@10 (relative). This script measures every variant it
builds against the fp32 graph, through the product's own path.

Protocol:

* fp32: the graph `TextEncoder` exports into the model cache (``<cache>/onnx/<slug>/``:
  ``model.onnx`` taking ``inputs_embeds`` + ``attention_mask``; the word-embedding
  table stays outside, in ``embeddings.npy``, so it stays fp32 in every variant).
* Variants, built with ``onnxruntime.quantization`` from that graph after
  ``quant_pre_process`` (shape inference + ORT's basic graph optimisations):

  - ``dyn-tensor``: dynamic int8, one scale per weight tensor, every op type ORT
    quantises (so the position-embedding Gather too): the "whole graph" recipe.
  - ``dyn-channel``: the same with one scale per output channel.
  - ``dyn-channel-matmul``: per channel, MatMul only (every embedding stays fp32).
  - ``dyn-channel-last1`` / ``-last2``: as above, the last 1 / 2 encoder layers kept fp32
    (``nodes_to_exclude``: every node whose name holds ``/encoder/layer.N/``).
  - ``dyn-channel-ffnout``: as above, each layer's second feed-forward MatMul
    (``layer.N/output/dense``, the GELU outputs with their outliers) kept fp32;
    ``-ffnout-last1`` / ``-ffnout-last2``: that, and the last 1 / 2 layers fp32 too.
  - ``static-qdq-minmax`` / ``static-qdq-pct``: static QDQ (int8 weights per channel,
    int8 activations), MatMul only, calibrated (MinMax; Percentile 99.999) on the
    project's own text: a seeded sample of 16 chunks of both evalsets corpora (cut by the
    product's chunker, then to their first 128 tokens: ORT's calibrators hold every
    activation in memory) plus 18 short Korean/English queries of
    ``bench/bench_text_encoder.py`` (no labelled query is used for calibration). Only
    the weight MatMuls are quantised, as in the dynamic variants.

* Per variant: file size of ``model.onnx``; chunks/s encoding a fixed sample of real
  chunks (``--speed-chunks``, batch 32, ``--threads`` intra-op threads, median of
  ``--repeats``); one-query encode p50 (``--speed-queries`` labelled queries, after a
  warm-up); cosine to the fp32 vectors of those chunks and queries (min / median).
  ``--interleave`` times all variants again at the end, in rotation, round after round,
  so that each sees the same load; the table then shows those figures.
* Quality: each corpus (``evalsets/debian-faq-ko/docs``, ``evalsets/python-faq-en/docs``)
  indexed with ``Index.add`` (default settings: the chunking ``semsearch index`` uses)
  by a ``TextEncoder`` whose backend is the variant's ONNX session, then
  ``Index.evaluate`` (what ``semsearch eval`` runs) on ``qrels.tsv`` (and the
  cross-lingual ``qrels-en.tsv``), modes dense and hybrid: recall@10 and MRR@10.
  A variant passes if dense and hybrid MRR@10 fall by at most 1% (relative) on both
  ``qrels.tsv`` sets.

The machine is shared: speed figures are noisy, accuracy figures are not.
Work files go to ``--work`` (default ``bench/.cache/int8/``, git-ignored).

    python -m bench.int8_variants [--json] [--variants a,b] [--threads 1]
    python -m bench.int8_variants --smoke   # a tiny random BERT and a few files: a check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from searchengine import Encoders, Index, Settings  # noqa: E402
from searchengine.models.sources import TextSource  # noqa: E402
from searchengine.models.text_backends import OnnxBackend, onnx_folder  # noqa: E402
from searchengine.models.text_encoder import TextEncoder  # noqa: E402

SEED = 0
BATCH = 32
MAX_LOSS = 0.01  # relative MRR@10 loss a variant may have
SETS = {
    "ko": ("debian-faq-ko", "qrels.tsv"),
    "ko-en": ("debian-faq-ko", "qrels-en.tsv"),
    "en": ("python-faq-en", "qrels.tsv"),
}
GATED = ("ko", "en")  # the sets the 1% rule is read on
MODES = ("dense", "hybrid")
CALIB_QUERIES = [  # bench/bench_text_encoder.py's short queries: not labelled ones
    "자동차 보험료 비교", "회의 일정", "분기 매출 보고서", "강아지 산책 공원",
    "연말정산 서류 제출", "스마트폰 카메라 리뷰", "내일 날씨 비", "빵 굽는 온도",
    "car insurance price", "meeting schedule next week", "quarterly revenue growth",
    "invoice deadline", "library opening hours", "exercise and sleep",
    "search latency 개선", "checkout 화면 디자인", "timeout error 원인", "PDF extraction speed",
]  # fmt: skip
VARIANTS = (  # in the order they run: the likeliest to pass first
    "fp32",
    "dyn-channel-matmul",
    "dyn-channel-last2",
    "dyn-channel-ffnout",
    "dyn-channel-ffnout-last1",
    "dyn-channel-ffnout-last2",
    "static-qdq-pct",
    "dyn-tensor",
    "dyn-channel",
    "dyn-channel-last1",
    "static-qdq-minmax",
)
# ORT's calibrators keep every collected activation of every batch in memory (the first
# try, 66 texts of up to 512 tokens, took 23 GB): calibration texts are cut to this
CALIB_TOKENS = 128
SMOKE_VARIANTS = "fp32,dyn-channel-last1,static-qdq-pct"


# the fp32 graph and the variants


def tiny_bert(out: Path) -> Path:
    """A 2-layer random BERT with a tiny vocabulary (as tests/conftest.py makes): --smoke."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    out.mkdir(parents=True, exist_ok=True)
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789.,!?-'\"") | set("자동차강아지"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=True)
    tok.model_max_length = 64
    tok.save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).save_pretrained(out)
    return out


def fp32_graph(source: TextSource, model_cache: Path) -> Path:
    """The folder of the graph TextEncoder exports (exported now if it is not there)."""
    TextEncoder(source, model_cache=model_cache, engine="onnx", threads=1).encode(["warm"])
    folder = onnx_folder(source, model_cache)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if not meta.get("ok"):
        raise SystemExit(f"no usable fp32 graph in {folder}: {meta.get('reason')}")
    return folder


def layer_count(model_path: Path) -> int:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    found = {int(m.group(1)) for n in model.graph.node for m in [LAYER.search(n.name)] if m}
    return max(found) + 1


LAYER = re.compile(r"/encoder/layer\.(\d+)/")


def node_names(model_path: Path, keep: Callable[[str], bool]) -> list[str]:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return [n.name for n in model.graph.node if keep(n.name)]


def weight_matmuls(model_path: Path) -> list[str]:
    """The MatMul nodes with a weight (an initializer) as their second input."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


class CalibReader:
    """Feeds calibration batches (inputs_embeds, attention_mask) to quantize_static."""

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self.batches = batches
        self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.batches)


def calibration_batches(
    tokenizer: Any, table: np.ndarray, texts: list[str], max_tokens: int, batch: int = 1
) -> list[dict[str, np.ndarray]]:
    """One text a batch, each padded to the longest text: histogram calibration
    (Percentile) stacks the batches' activations, so all must have one shape."""
    out = []
    order = sorted(texts, key=len)
    longest = max(
        len(ids) for ids in tokenizer(order, truncation=True, max_length=max_tokens)["input_ids"]
    )
    for i in range(0, len(order), batch):
        enc = tokenizer(
            order[i : i + batch], padding="max_length", truncation=True, max_length=longest,
            return_tensors="np",
        )  # fmt: skip
        out.append(
            {
                "inputs_embeds": np.ascontiguousarray(table[enc["input_ids"]], dtype=np.float32),
                "attention_mask": enc["attention_mask"].astype(np.int64),
            }
        )
    return out


def build_variant(
    name: str, fp32: Path, pre: Path, out: Path, calib: Callable[[], CalibReader]
) -> dict[str, Any]:
    """Write `out`/model.onnx (and links to the fp32 table and meta); returns notes."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.onnx"
    meta = json.loads((fp32 / "meta.json").read_text(encoding="utf-8"))
    meta["fingerprint"] = f"{meta['fingerprint']}-{name}"
    (out / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    if not (out / "embeddings.npy").exists():
        os.symlink(fp32 / "embeddings.npy", out / "embeddings.npy")
    notes: dict[str, Any] = {}
    started = time.perf_counter()
    if name == "fp32":
        shutil.copyfile(fp32 / "model.onnx", target)
    elif name.startswith("dyn-"):
        layers = layer_count(pre)
        exclude: list[str] = []
        ops = None if name in ("dyn-tensor", "dyn-channel") else ["MatMul"]
        last = re.search(r"-last(\d)", name)
        keep = set(range(layers - int(last.group(1)), layers)) if last else set()
        ffnout = "-ffnout" in name

        def excluded(n: str) -> bool:
            m = LAYER.search(n)
            if m and int(m.group(1)) in keep:
                return True
            return ffnout and re.search(r"/layer\.\d+/output/dense/", n) is not None

        exclude = node_names(pre, excluded)
        notes["excluded_nodes"] = len(exclude)
        quantize_dynamic(
            str(pre),
            str(target),
            per_channel=name != "dyn-tensor",
            weight_type=QuantType.QInt8,
            op_types_to_quantize=ops,
            nodes_to_exclude=exclude or None,
        )
    elif name.startswith("static-qdq-"):
        method = (
            CalibrationMethod.MinMax if name.endswith("minmax") else CalibrationMethod.Percentile
        )
        quantize_static(
            str(pre),
            str(target),
            calib(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=weight_matmuls(pre),  # as the dynamic ones: not Q.K, not P.V
            calibrate_method=method,
            extra_options={"CalibPercentile": 99.999, "CalibTensorRangeSymmetric": False},
        )
    else:
        raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    notes["build_s"] = round(time.perf_counter() - started, 1)
    return notes


# encoders on a variant graph


class VariantEncoder(TextEncoder):
    """The product's TextEncoder, its backend an ONNX session on the variant's graph."""

    def __init__(self, source: TextSource, folder: Path, threads: int, label: str):
        super().__init__(source, batch_size=BATCH, threads=threads)
        self._folder = folder
        self.name = source.name  # the index records the model's name: one per variant index
        self.label = label

    def _load_backend(self) -> OnnxBackend:
        meta = json.loads((self._folder / "meta.json").read_text(encoding="utf-8"))
        return OnnxBackend(self._folder, meta, self._threads)


# the texts


def corpus_chunks(encoder: TextEncoder, docs: Path) -> list[str]:
    """Chunks of every file of `docs`, as `semsearch index` cuts them by default."""
    from indexer.chunk import chunk_passages
    from indexer.extract import extract_text_bytes
    from searchengine.config import DEFAULT_CHUNK_OVERLAP_TOKENS

    budget = encoder.max_tokens - encoder.prefix_tokens("passage")
    out: list[str] = []
    for path in sorted(p for p in docs.rglob("*") if p.is_file()):
        passages = extract_text_bytes(path.read_bytes(), path.suffix.lower())
        chunks = chunk_passages(passages, encoder.token_spans, budget, DEFAULT_CHUNK_OVERLAP_TOKENS)
        out.extend(c.text for c in chunks)
    return out


def labelled_queries(n: int) -> list[str]:
    from searchengine.query.evaluate import read_qrels

    seen: set[str] = set()
    for folder, qrels in SETS.values():
        seen |= set(read_qrels(ROOT / "evalsets" / folder / qrels).relevant)
    rows = sorted(seen)
    random.Random(SEED).shuffle(rows)
    return rows[:n]


# measuring


def speed(enc: TextEncoder, chunks: list[str], queries: list[str], repeats: int) -> dict:
    enc.encode(chunks[:BATCH])
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        enc.encode(chunks)
        rates.append(len(chunks) / (time.perf_counter() - t0))
    for q in queries[:3]:
        enc.encode([q], "query")
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        enc.encode([q], "query")
        lat.append((time.perf_counter() - t0) * 1000)
    return {
        "chunks_per_s": round(statistics.median(rates), 1),
        "chunks_per_s_all": [round(r, 1) for r in rates],
        "query_p50_ms": round(statistics.median(lat), 1),
    }


def interleaved_speed(
    make: Callable[[str], TextEncoder],
    names: list[str],
    chunks: list[str],
    queries: list[str],
    rounds: int,
) -> dict[str, dict[str, Any]]:
    """Every variant timed in turn, round after round, so that all see the same load.

    One session at a time: each keeps its memory arena (GBs after a batch of long
    chunks), so eleven live sessions exhausted the machine's memory."""
    import gc

    rates: dict[str, list[float]] = {n: [] for n in names}
    lat: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            enc = make(name)
            enc.encode(chunks[:BATCH])  # load and warm, untimed
            enc.encode(queries[:3], "query")
            t0 = time.perf_counter()
            enc.encode(chunks)
            rates[name].append(len(chunks) / (time.perf_counter() - t0))
            for q in queries:
                t0 = time.perf_counter()
                enc.encode([q], "query")
                lat[name].append((time.perf_counter() - t0) * 1000)
            del enc
            gc.collect()
    return {
        n: {
            "chunks_per_s": round(statistics.median(rates[n]), 1),
            "chunks_per_s_all": [round(x, 1) for x in rates[n]],
            "query_p50_ms": round(statistics.median(lat[n]), 1),
            "timing": "interleaved",
        }
        for n in names
    }


def quality(
    enc: TextEncoder, work: Path, model_cache: Path, threads: int, sets: dict[str, Path]
) -> dict[str, dict[str, dict[str, float]]]:
    """recall@10 and MRR@10 per set and mode, through Index.add + Index.evaluate."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    by_folder: dict[str, list[str]] = {}
    for key, (folder, _) in SETS.items():
        by_folder.setdefault(folder, []).append(key)
    for folder, keys in by_folder.items():
        index_dir = work / folder
        shutil.rmtree(index_dir, ignore_errors=True)
        settings = Settings(
            index_dir=index_dir, model_cache=model_cache, fsync=False, word_vectors=False,
            encode_threads=threads,
        )  # fmt: skip
        with Index.open(settings=settings, encoders=Encoders(text=enc)) as index:
            index.add(sets[folder])
            for key in keys:
                qrels = ROOT / "evalsets" / folder / SETS[key][1]
                report = index.evaluate(qrels, folder=sets[folder], modes=MODES)
                out[key] = {
                    m: {
                        "recall@10": float(report.modes[m]["all"]["recall@10"]),
                        "mrr@10": float(report.modes[m]["all"]["mrr@10"]),
                        "queries": float(report.modes[m]["all"]["queries"]),
                    }
                    for m in MODES
                }
        shutil.rmtree(index_dir, ignore_errors=True)
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    c = np.sum(a * b, axis=1)
    return {"min": round(float(c.min()), 4), "median": round(float(np.median(c)), 4)}


def verdict(q: dict, ref: dict) -> tuple[bool, float]:
    """Passes if MRR@10 falls by at most MAX_LOSS (relative) for every gated set and mode;
    also the worst relative change."""
    worst = 0.0
    for key in GATED:
        for m in MODES:
            base = ref[key][m]["mrr@10"]
            change = (q[key][m]["mrr@10"] - base) / base if base else 0.0
            worst = min(worst, change)
    return worst >= -MAX_LOSS, worst


# the run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "bench/.cache/int8")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--speed-chunks", type=int, default=32)
    ap.add_argument("--speed-queries", type=int, default=40)
    ap.add_argument("--calib-chunks", type=int, default=16)
    ap.add_argument("--no-eval", action="store_true", help="size, speed and cosine only")
    ap.add_argument(
        "--interleave",
        action="store_true",
        help="at the end, time all variants again in rotation (fairer on a shared machine)",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="take the rows of variants already measured in --work (partial.jsonl) as they are",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny random BERT, a few files")
    args = ap.parse_args()
    if args.smoke:
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory(prefix="int8-smoke-") as tmp:
            args.work = Path(tmp)
            args.repeats, args.speed_chunks, args.speed_queries, args.calib_chunks = 1, 8, 4, 8
            args.variants = SMOKE_VARIANTS  # each way of building one
            args.interleave = True
            try:
                run(args)
            finally:
                os.chdir(cwd)
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    from onnxruntime.quantization.shape_inference import quant_pre_process

    work: Path = args.work.expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # quant_pre_process and the calibrator leave temporary files in the cwd
    load_before = os.getloadavg()
    sets: dict[str, Path] = {}
    if args.smoke:
        model_cache = work / "models"
        source = TextSource("tiny-bert", str(tiny_bert(work / "tiny-bert")), "smoke", "", "")
        for folder in {f for f, _ in SETS.values()}:  # a few files of each set
            docs = ROOT / "evalsets" / folder / "docs"
            dest = work / "docs" / folder
            dest.mkdir(parents=True)
            for p in sorted(docs.iterdir())[:6]:
                shutil.copyfile(p, dest / p.name)
            sets[folder] = dest
    else:
        from searchengine.config import data_home
        from searchengine.models.presets import resolve_text_model

        model_cache = data_home() / "models"
        source = resolve_text_model("e5-small", model_cache)
        sets = {f: ROOT / "evalsets" / f / "docs" for f, _ in SETS.values()}
    log(f"fp32 graph of {source.location} ...")
    fp32 = fp32_graph(source, model_cache)
    pre = work / "preprocessed.onnx"
    if not pre.is_file():
        log("quant_pre_process ...")
        try:
            quant_pre_process(str(fp32 / "model.onnx"), str(pre), skip_symbolic_shape=False)
        except Exception as exc:  # noqa: BLE001 - the symbolic pass gives up on some graphs
            log(f"  symbolic shape inference failed ({exc}); ONNX shape inference only")
            quant_pre_process(str(fp32 / "model.onnx"), str(pre), skip_symbolic_shape=True)

    base = TextEncoder(source, model_cache=model_cache, engine="onnx", threads=args.threads)
    by_set = {f: corpus_chunks(base, d) for f, d in sets.items()}
    all_chunks = [c for f in sorted(by_set) for c in by_set[f]]
    rng = random.Random(SEED)
    speed_chunks = rng.sample(all_chunks, min(args.speed_chunks, len(all_chunks)))
    calib_texts = []
    for f in sorted(by_set):
        pool = [c for c in by_set[f] if c not in speed_chunks]
        calib_texts += random.Random(f"{SEED}:{f}").sample(
            pool, min(args.calib_chunks // 2, len(pool))
        )
    calib_texts = [base.source.passage_prefix + t for t in calib_texts]
    calib_texts += [base.source.query_prefix + q for q in CALIB_QUERIES]
    queries = labelled_queries(args.speed_queries)
    table = np.load(fp32 / "embeddings.npy", mmap_mode="r")
    batches = calibration_batches(base.tokenizer, table, calib_texts, CALIB_TOKENS)
    log(
        f"{len(all_chunks)} chunks in the corpora; speed set {len(speed_chunks)} chunks, "
        f"{len(queries)} queries; calibration {len(calib_texts)} texts"
    )

    names = [v for v in args.variants.split(",") if v]
    if "fp32" not in names:
        names.insert(0, "fp32")
    rows: dict[str, dict[str, Any]] = {}
    ref_vecs: tuple[np.ndarray, np.ndarray] | None = None
    done: dict[str, dict[str, Any]] = {}
    if args.reuse and (work / "partial.jsonl").is_file():
        for line in (work / "partial.jsonl").read_text(encoding="utf-8").splitlines():
            saved = json.loads(line)
            done[saved.pop("variant")] = saved  # the last measurement of each variant
    for name in names:
        if name in done:
            log(f"[{name}] measured before (--reuse)")
            rows[name] = done[name]
            if ref_vecs is None and name == "fp32":
                enc = VariantEncoder(source, work / "variants" / name, args.threads, name)
                ref_vecs = (enc.encode(speed_chunks), enc.encode(queries, "query"))
            continue
        folder = work / "variants" / name
        log(f"[{name}] building ...")
        try:
            notes = build_variant(name, fp32, pre, folder, lambda: CalibReader(batches))
        except Exception as exc:  # noqa: BLE001 - a variant that cannot be built is reported
            rows[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"[{name}] cannot be built: {exc}")
            continue
        enc = VariantEncoder(source, folder, args.threads, name)
        row: dict[str, Any] = {
            **notes,
            "model_onnx_mb": round((folder / "model.onnx").stat().st_size / 1e6, 1),
        }
        log(f"[{name}] timing ...")
        row.update(speed(enc, speed_chunks, queries, args.repeats))
        vecs = (enc.encode(speed_chunks), enc.encode(queries, "query"))
        if ref_vecs is None:
            ref_vecs = vecs
        row["cos_passages"] = cosines(vecs[0], ref_vecs[0])
        row["cos_queries"] = cosines(vecs[1], ref_vecs[1])
        if not args.no_eval:
            log(f"[{name}] indexing and evaluating ...")
            t0 = time.perf_counter()
            row["eval"] = quality(enc, work / "index" / name, work / "cache", args.threads, sets)
            row["eval_s"] = round(time.perf_counter() - t0, 1)
        rows[name] = row
        log(f"[{name}] {json.dumps(row, ensure_ascii=False)}")
        with (work / "partial.jsonl").open("a", encoding="utf-8") as fh:  # survives a stop
            fh.write(json.dumps({"variant": name, **row}, ensure_ascii=False) + "\n")
    if args.interleave:
        built = [n for n in rows if "error" not in rows[n]]
        log(f"timing {len(built)} variants in rotation, {args.repeats} rounds ...")
        for name, res in interleaved_speed(
            lambda n: VariantEncoder(source, work / "variants" / n, args.threads, n),
            built,
            speed_chunks,
            queries,
            args.repeats,
        ).items():
            res["chunks_per_s_solo"] = rows[name].get("chunks_per_s")  # its own pass
            rows[name].update(res)
    load_after = os.getloadavg()

    ref = rows["fp32"].get("eval")
    for row in rows.values():
        if ref and "eval" in row:
            row["passes"], row["worst_mrr_change"] = verdict(row["eval"], ref)
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "smoke": bool(args.smoke),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in load_after],
        },
        "model": source.location,
        "corpus_chunks": {f: len(c) for f, c in by_set.items()},
        "variants": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print_report(report)


def print_report(report: dict) -> None:
    m = report["machine"]
    smoke = " (smoke: tiny random BERT)" if report["smoke"] else ""
    print(f"\nint8 variants, {report['date']}{smoke}")
    print(
        f"machine: {m['platform']}, {m['cpu_count']} CPUs, {m['threads']} intra-op thread(s); "
        f"load average {m['load_avg_before']} before, {m['load_avg_after']} after (shared)"
    )
    print(f"model: {report['model']}; corpus chunks: {report['corpus_chunks']}")
    rows = report["variants"].values()
    how = "in rotation (--interleave)" if any(r.get("timing") for r in rows) else "one by one"
    print(f"speed: median of rounds, variants timed {how}")
    head = (
        f"{'variant':<20}{'MB':>7}{'chunks/s':>10}{'q p50 ms':>10}{'cos min/med':>14}"
        + "".join(f"{k + ' ' + md:>20}" for k in SETS for md in MODES)
        + f"{'worst':>8}  verdict"
    )
    print("recall@10 / MRR@10 per set and mode; worst: the largest relative MRR@10 loss "
          f"on {', '.join(GATED)}")  # fmt: skip
    print(head)
    for name, r in report["variants"].items():
        if "error" in r:
            print(f"{name:<20} cannot be built: {r['error']}")
            continue
        cos = f"{r['cos_passages']['min']:.3f}/{r['cos_passages']['median']:.4f}"
        line = (
            f"{name:<20}{r['model_onnx_mb']:>7.1f}{r['chunks_per_s']:>10.1f}"
            f"{r['query_p50_ms']:>10.1f}{cos:>14}"
        )
        ev = r.get("eval")
        if ev:
            for k in SETS:
                for md in MODES:
                    line += f"{ev[k][md]['recall@10']:>11.3f} / {ev[k][md]['mrr@10']:.3f}"
            verdict_s = "fp32" if name == "fp32" else ("PASS" if r["passes"] else "fail")
            line += f"{r['worst_mrr_change']:>+8.1%}  {verdict_s}"
        print(line)
    print("cosine to fp32 on queries (min/median): " + ", ".join(
        f"{n} {r['cos_queries']['min']:.3f}/{r['cos_queries']['median']:.4f}"
        for n, r in report["variants"].items() if "cos_queries" in r
    ))  # fmt: skip


if __name__ == "__main__":
    main()
