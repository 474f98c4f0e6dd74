"""Every benchmark script runs end to end in its quick `--smoke` mode, so none can rot.

Each runs as `python -m bench.X --smoke` in a subprocess (the repository root on
PYTHONPATH, so that `bench` is a package wherever it runs), with the session's data
folder for the real models (`real_home`) and the hub off. A smoke run works in a
temporary folder: the committed results and the shipped data stay as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# the benchmarks measure the default setup, a SQLite catalog (bench_scale.py starts its
# own PostgreSQL server for the shared-catalog figures)
pytestmark = pytest.mark.sqlite_only("benchmarks of the default SQLite catalog")

# script -> lines its report must print; marked e2e where it loads the real models
SMOKES = [
    pytest.param("bench_safety.py", ["fsync costs", "one catalog commit", "open_checked_s"]),
    pytest.param("make_background.py", ["160 passages; the same as"]),
    pytest.param("study_lexical_maxscore.py", ["agrees 6/6", "fell back to the full statement"]),
    pytest.param("bench_text_encoder.py", ["chunks/s", "torch_fp32"], marks=pytest.mark.e2e),
    pytest.param(
        "bench_query_modes.py",
        ["no filter", "filter --under", "hybrid", "encoder share of the median"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "bench_vector_tokens.py",
        ["tokens per vector chunk", "tokens per vector   384", "ko-help (", "hybrid   chunk"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "bench_compounds.py",
        ["variant      off:", "ko-help (", "hybrid   off:", "lexical  off:"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "tune_fusion.py",
        ["== ko:", "== en:", "== ko-help:", "worth a=2.0", "Δ +0.0000", "good match:"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "bench_clip_recall.py",
        ["text->image, Korean queries", "image->image (same concept)", "ms/picture"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "bench_server.py",
        ["warm search latency", "HTTP overhead", "map compute"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "calibrate_image_match.py", ["z* (grid optimum)", "z current"], marks=pytest.mark.e2e
    ),
    pytest.param("bench_image_to_docs.py", ["vector", "both", "MRR"], marks=pytest.mark.e2e),
    pytest.param(
        "bench_photos.py",
        ["Korean photo captions", "hybrid (product, w 4)", "held-out drawings, R@10"],
        marks=pytest.mark.e2e,
    ),
    pytest.param("calibrate_tags.py", ["precision", "lowest threshold"], marks=pytest.mark.e2e),
    pytest.param("bench_vocab.py", ["train s", "size MB", "glove"]),
    pytest.param("bench_picture_ocr.py", ["gate: precision", "labelled pictures"]),
    pytest.param("bench_screenshots.py", ["of .txt", "as .txt: MRR@10"], marks=pytest.mark.e2e),
    pytest.param("bench_storage.py", ["bare hnswlib", "ratio: time"]),
    pytest.param("bench_scale.py", ["recall@10", "EXTRAPOLATED n=100,000,000", "iter_vectors s"]),
    pytest.param("scale_sim.py", ["bulk fill writes what write_items writes: True", "rows/s"]),
    pytest.param("bench_recall.py", ["the product's ef at this size", "worst recall@10"]),
    pytest.param(
        "bench_scale_search.py",
        ["HNSW built by Store.rebuild", "median of 1 passes", "hybrid: wall p50", "searcher RSS"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "real_chunks.py", ["planned 40 chunks", "loaded 40 vectors"], marks=pytest.mark.e2e
    ),
    pytest.param(
        "bench_tail.py", ["slowest 5%", "fastest half", "costliest snippets"], marks=pytest.mark.e2e
    ),
    pytest.param("bench_lookup.py", ["dense lookup", "first search ms"]),
    pytest.param(
        "bench_outliers.py",
        ["autoencoder on 2,000 vectors", "together  knn k=5", "alone     autoencoder"],
        marks=pytest.mark.e2e,
    ),
    pytest.param(
        "bench_recommend.py",
        [
            "SIMULATED",
            "content only",
            "popularity",
            "own topic: plain hybrid",
            "asked again: re-finding",
            "no history: hits unchanged in 20 of 20",
            "= the order measured here: True",
        ],
        marks=pytest.mark.e2e,
    ),
    pytest.param("bench_ocr.py", ["pages/s"]),
    pytest.param(
        "bench_watch.py",
        ["new file found by another reader", "idle CPU", "verify clean: True"],
        marks=pytest.mark.e2e,
    ),  # "not measured (why)" where Tesseract is absent
    pytest.param("bench_cold_start.py", ["whole processes", "median"], marks=pytest.mark.e2e),
    pytest.param(
        "bench_bf16.py", ["cosine min", "chunks/s", "MRR change", "verdict"], marks=pytest.mark.e2e
    ),
    pytest.param("bench_index_memory.py", ["peak RSS", "chunks/s"], marks=pytest.mark.e2e),
    pytest.param("int8_variants.py", ["chunks/s", "cos min/med", "verdict", "static-qdq-pct"]),
    pytest.param(
        "compare_peers.py",
        ["ingest chunks/s", "cold one-shot search", "peers skipped"],
        marks=pytest.mark.e2e,
    ),
]


def committed_state() -> dict[str, int]:
    """What a smoke run must not touch: bench/ (its results, its cache) and the shipped
    reference passages that make_background.py writes."""
    files = [p for p in BENCH.rglob("*") if "__pycache__" not in p.parts]
    files.append(ROOT / "searchengine" / "data" / "background.txt")
    return {str(p): p.stat().st_mtime_ns for p in sorted(files)}


def test_every_bench_script_has_a_smoke_test() -> None:
    listed = {p.values[0] for p in SMOKES}
    assert listed == {p.name for p in BENCH.glob("*.py")} - {"__init__.py"}


@pytest.mark.parametrize(("script", "figures"), SMOKES)
def test_bench_smoke(script: str, figures: list[str], real_home: Path, tmp_path: Path) -> None:
    before = committed_state()
    env = {
        **os.environ,
        "SEMSEARCH_HOME": str(real_home),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    res = subprocess.run(
        [sys.executable, "-m", f"bench.{script[:-3]}", "--smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, f"{script} --smoke failed:\n{res.stdout}\n{res.stderr}"
    for figure in figures:
        assert figure in res.stdout, f"{script} --smoke did not print {figure!r}:\n{res.stdout}"
    assert committed_state() == before, f"{script} --smoke wrote into the repository"
    assert not any(tmp_path.iterdir()), f"{script} --smoke left files in its working folder"
