"""End to end: `semsearch eval` on the shipped labelled sets with the real default models.

This is the check behind the quality table of docs/search-quality.md: on every shipped set the
default (hybrid) mode is at least as good as dense alone on recall@1 and
MRR@10, and words-only search beats meaning-only search on the exact-token
queries (identifiers, numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import semsearch

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
SETS = [
    REPO / "evalsets" / "debian-faq-ko" / "qrels.tsv",
    REPO / "evalsets" / "debian-faq-ko" / "qrels-en.tsv",
    REPO / "evalsets" / "python-faq-en" / "qrels.tsv",
]


@pytest.fixture(scope="module")
def env(real_env: dict[str, str]) -> dict[str, str]:
    return real_env


@pytest.fixture(scope="module")
def indexed(env: dict[str, str]) -> None:
    for folder in sorted({q.parent / "docs" for q in SETS}):
        # eval reads no word vectors: none are trained (the CLI would wait for them)
        proc = semsearch(env, "index", str(folder), "--json", "--no-word-vectors")
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("qrels", SETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hybrid_never_loses_to_dense_and_lexical_wins_exact_tokens(
    indexed: None, env: dict[str, str], qrels: Path
) -> None:
    proc = semsearch(env, "eval", str(qrels), "--json")
    assert proc.returncode == 0, proc.stderr
    modes = json.loads(proc.stdout)["modes"]
    hybrid, dense, lexical = modes["hybrid"]["all"], modes["dense"]["all"], modes["lexical"]["all"]
    assert hybrid["queries"] >= 40
    assert hybrid["recall@1"] >= dense["recall@1"], modes
    assert hybrid["mrr@10"] >= dense["mrr@10"], modes
    exact_lex, exact_dense = modes["lexical"]["exact"], modes["dense"]["exact"]
    assert exact_lex["recall@1"] > exact_dense["recall@1"], modes
    assert modes["hybrid"]["exact"]["recall@1"] >= exact_dense["recall@1"]
    # and the numbers are not degenerate: meaning alone finds most answers
    assert dense["recall@10"] > 0.5 and lexical["recall@10"] > 0.3
