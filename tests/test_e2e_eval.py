"""End to end: `semsearch eval` on the shipped labelled sets with the real default models.

This is the check behind the quality table of docs/search-quality.md: on every shipped set the
default (hybrid) mode is at least as good as dense alone on recall@1 and
MRR@10, and words-only search beats meaning-only search on the exact-token
queries (identifiers, numbers).

It also keeps issue 30's 1% rule: indexing runs in bf16 by default where the CPU has
bfloat16 instructions, which is allowed only while `semsearch eval` loses at most 1%
MRR@10 (relative) against fp32 on every set, dense and hybrid. The sets' corpora are
indexed once more with `--fp32` and compared with the default index the quality checks
use (on a CPU without the instructions the default is fp32 itself: nothing to compare).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import semsearch

from searchengine.models.text_backends import cpu_has_bf16

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
SETS = [
    REPO / "evalsets" / "debian-faq-ko" / "qrels.tsv",
    REPO / "evalsets" / "debian-faq-ko" / "qrels-en.tsv",
    REPO / "evalsets" / "python-faq-en" / "qrels.tsv",
]
FOLDERS = sorted({q.parent / "docs" for q in SETS})


@pytest.fixture(scope="module")
def env(real_env: dict[str, str]) -> dict[str, str]:
    return real_env


def _index(env: dict[str, str], *options: str, precision: tuple[str, ...] = ()) -> None:
    for folder in FOLDERS:
        # eval reads no word vectors: none are trained (the CLI would wait for them)
        args = ("index", str(folder), *precision, "--json", "--no-word-vectors")
        proc = semsearch(env, *options, *args)
        assert proc.returncode == 0, proc.stderr


def _text_precision(env: dict[str, str], *options: str) -> str:
    proc = semsearch(env, *options, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    spaces = json.loads(proc.stdout)["spaces"]
    return str(next(s["precision"] for s in spaces if s["name"] == "text"))


def _evaluate(env: dict[str, str], *options: str, modes: tuple[str, ...] = ()) -> dict:
    """`semsearch eval --json`'s modes, per set."""
    out = {}
    for qrels in SETS:
        mode_args = [a for m in modes for a in ("--mode", m)]
        proc = semsearch(env, *options, "eval", str(qrels), *mode_args, "--json")
        assert proc.returncode == 0, proc.stderr
        out[qrels] = json.loads(proc.stdout)["modes"]
    return out


@pytest.fixture(scope="module")
def default_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """This module's own index folder: the data folder's default index is shared with the
    other e2e modules of a worker, whose small runs (the sample corpus, on ONNX Runtime in
    fp32) would make its text space 'bf16+fp32'."""
    return ("--index", str(tmp_path_factory.mktemp("e2e-eval") / "index"))


@pytest.fixture(scope="module")
def default_eval(env: dict[str, str], default_index: tuple[str, str]) -> dict:
    """The sets indexed with the default settings, as a user runs them, and evaluated."""
    _index(env, *default_index)
    return _evaluate(env, *default_index)


@pytest.mark.parametrize("qrels", SETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hybrid_never_loses_to_dense_and_lexical_wins_exact_tokens(
    default_eval: dict, qrels: Path
) -> None:
    modes = default_eval[qrels]
    hybrid, dense, lexical = modes["hybrid"]["all"], modes["dense"]["all"], modes["lexical"]["all"]
    assert hybrid["queries"] >= 40
    assert hybrid["recall@1"] >= dense["recall@1"], modes
    assert hybrid["mrr@10"] >= dense["mrr@10"], modes
    exact_lex, exact_dense = modes["lexical"]["exact"], modes["dense"]["exact"]
    assert exact_lex["recall@1"] > exact_dense["recall@1"], modes
    assert modes["hybrid"]["exact"]["recall@1"] >= exact_dense["recall@1"]
    # and the numbers are not degenerate: meaning alone finds most answers
    assert dense["recall@10"] > 0.5 and lexical["recall@10"] > 0.3


@pytest.mark.skipif(not cpu_has_bf16(), reason="no bfloat16 instructions: the default is fp32")
def test_default_precision_is_bf16_here_and_within_one_percent_of_fp32(
    default_eval: dict, default_index: tuple[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    fp32 = ("--index", str(tmp_path / "fp32"))
    _index(env, *fp32, precision=("--fp32",))
    assert _text_precision(env, *default_index) == "bf16"
    assert _text_precision(env, *fp32) == "fp32"
    exact = _evaluate(env, *fp32, modes=("dense", "hybrid"))
    changes = {
        f"{q.parent.name}/{q.name} {m}": (
            default_eval[q][m]["all"]["mrr@10"] - exact[q][m]["all"]["mrr@10"]
        )
        / exact[q][m]["all"]["mrr@10"]
        for q in SETS
        for m in ("dense", "hybrid")
    }
    assert min(changes.values()) >= -0.01, changes
