"""End to end: the default indexing precision keeps search quality (issue 30's 1% rule).

Indexing runs in bf16 by default where the CPU has bfloat16 instructions. That is
allowed only while `semsearch eval` loses at most 1% MRR@10 (relative) against fp32 on
every shipped labelled set, dense and hybrid. This indexes each set's corpus twice,
with the default settings and with fp32, and compares. On a CPU without the
instructions the default is fp32 itself, so there is nothing to compare.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from searchengine import Index, Settings
from searchengine.models.text_backends import cpu_has_bf16

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not cpu_has_bf16(), reason="no bfloat16 instructions: the default is fp32"),
]

REPO = Path(__file__).resolve().parent.parent
SETS = [
    REPO / "evalsets" / "debian-faq-ko" / "qrels.tsv",
    REPO / "evalsets" / "debian-faq-ko" / "qrels-en.tsv",
    REPO / "evalsets" / "python-faq-en" / "qrels.tsv",
]
MODES = ("dense", "hybrid")


def _mrr(real_home: Path, tmp: Path, precision: str | None) -> tuple[dict[str, float], set[str]]:
    """MRR@10 per set and mode, and the precisions the text space records."""
    out: dict[str, float] = {}
    recorded: set[str] = set()
    for folder in sorted({q.parent / "docs" for q in SETS}):
        settings = Settings(
            index_dir=tmp / (precision or "default") / folder.parent.name,
            model_cache=real_home / "models",
            word_vectors=False,
        )
        if precision is not None:
            settings = replace(settings, text_precision=precision)
        with Index.open(settings=settings) as index:
            index.add(folder)
            for s in index.status().spaces:
                if s["name"] == "text":
                    recorded.add(str(s["precision"]))
            for q in (q for q in SETS if q.parent == folder.parent):
                modes = index.evaluate(q, modes=MODES).to_json(str(q))["modes"]
                for m in MODES:
                    out[f"{q.parent.name}/{q.name} {m}"] = modes[m]["all"]["mrr@10"]
    return out, recorded


def test_default_precision_is_bf16_here_and_within_one_percent_of_fp32(
    real_home: Path, tmp_path: Path
) -> None:
    default, used = _mrr(real_home, tmp_path, None)
    exact, exact_used = _mrr(real_home, tmp_path, "fp32")
    assert used == {"bf16"} and exact_used == {"fp32"}
    changes = {k: (default[k] - exact[k]) / exact[k] for k in exact}
    assert min(changes.values()) >= -0.01, changes
