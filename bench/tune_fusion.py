"""Choose and check the hybrid fusion and the good-match cut-off on the labelled sets.

Protocol:

* Each corpus of evalsets/ (its docs/ folder) is indexed with the default
  models by ``searchengine.Index.add``, into a cached index of its own.
* Every query of a set scores every file of that set's folder through
  ``Index.search`` (hybrid, k = the folder's file count, filtered to the folder):
  each hit carries its file's exact cosine, that cosine's z-score against the
  text model's reference passages, and BM25 of the file's best chunk, as
  ``Hit.extra`` (cosine, z, bm25; rounded to 6, 3 and 4 decimals).
* From those scores, candidate fusions are ranked offline: dense only, lexical
  only, reciprocal-rank fusion (RRF, k=60, equal and reduced lexical weight),
  and the convex combination z + a * BM25/max(BM25) for a grid of weights,
  with a separate weight for queries that carry identifiers or numbers; and
  z + a * BM25/worth, where worth is the sum of the query's terms' idf as FTS5's
  bm25() computes it (``query_worth``: what the query's words could score), identifiers
  staying on BM25/max(BM25). Measured and not shipped: on the 599 queries of
  libreoffice-help-ko it moved MRR@10 by no more than its noise at any weight.
* Each fusion's MRR@10 is printed with its 95% bootstrap interval, and beside it its
  paired difference from the product's fusion (``Δ``: the same resampled queries on
  both sides, 1,000 resamples), which is what tells a change from noise.
* Good-match cut-off: the z-score of each answered query's top file, split
  into "the top file is relevant" and "it is not", against the top z-score of
  unanswerable queries (each set's queries run against the other corpus). The
  printed cut-off maximizes balanced accuracy between relevant tops and
  unanswerable tops.

    python -m bench.tune_fusion [--cache DIR] [--json]
    python -m bench.tune_fusion --smoke   # a few queries and files of each set, in a
                                          # temporary folder: a check, not a measurement
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from searchengine import Encoders, Filters, Index, Settings  # noqa: E402
from searchengine.config import DEFAULT_TEXT_MODEL, data_home  # noqa: E402
from searchengine.lexical import analyse_query, looks_exact  # noqa: E402
from searchengine.models.spaces import load_text_encoder  # noqa: E402
from searchengine.query.evaluate import read_qrels  # noqa: E402
from searchengine.query.fusion import LEXICAL_WEIGHT, LEXICAL_WEIGHT_EXACT  # noqa: E402
from searchengine.store.folder import CATALOG_NAME  # noqa: E402

SETS = {
    "ko": ROOT / "evalsets/debian-faq-ko/qrels.tsv",
    "en->ko": ROOT / "evalsets/debian-faq-ko/qrels-en.tsv",
    "en": ROOT / "evalsets/python-faq-en/qrels.tsv",
    "ko-help": ROOT / "evalsets/libreoffice-help-ko/qrels.tsv",
}
# the corpus whose questions are unanswerable against each set's folder
OTHER = {"ko": "en", "en->ko": "en", "en": "ko", "ko-help": "en"}
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
WORTH_WEIGHTS = (1.0, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 4.0)
RESAMPLES = 1000
EXACT_WEIGHTS = (1.0, 2.0, 4.0, 8.0)
SMOKE_QUESTIONS, SMOKE_EXACT, SMOKE_OTHER_FILES = 3, 1, 2  # --smoke: per qrels file


def smoke_sets(root: Path) -> dict[str, Path]:
    """SETS cut down under `root`: a few questions and exact queries of each qrels file,
    their relevant files and a few others (--smoke)."""
    out: dict[str, Path] = {}
    for name, path in SETS.items():
        docs = path.parent / "docs"
        lines = path.read_text(encoding="utf-8").splitlines()
        kept: dict[str, list[str]] = {}
        counts = {"question": 0, "exact": 0}
        for line in lines[1:]:
            cols = line.split("\t")
            if len(cols) < 2:
                continue
            kind = "exact" if len(cols) > 2 and cols[2] == "exact" else "question"
            if cols[0] not in kept:
                if counts[kind] >= (SMOKE_EXACT if kind == "exact" else SMOKE_QUESTIONS):
                    continue
                counts[kind] += 1
            kept.setdefault(cols[0], []).append(line)
        dest = root / path.parent.name
        (dest / "docs").mkdir(parents=True, exist_ok=True)
        (dest / path.name).write_text(
            "\n".join([lines[0]] + [ln for rows in kept.values() for ln in rows]) + "\n",
            encoding="utf-8",
        )
        wanted = {ln.split("\t")[1] for rows in kept.values() for ln in rows}
        wanted |= {p.name for p in sorted(docs.glob("*.txt"))[:SMOKE_OTHER_FILES]}
        for rel in wanted:
            shutil.copyfile(docs / rel, dest / "docs" / rel)
        out[name] = dest / path.name
    return out


def query_worth(catalog: sqlite3.Connection, expression: str) -> float:
    """What a chunk could score for an FTS5 MATCH expression of quoted units OR-ed
    (`AnalysedQuery.expression`): the sum of the units' idf as FTS5's bm25() has it,
    log((N - n + 0.5) / (n + 0.5)) over N chunks, n of them matching, floored at 1e-6."""
    rows = catalog.execute("SELECT count(*) FROM chunks").fetchone()[0]
    worth = 0.0
    for unit in re.findall(r'"([^"]*)"', expression):
        sql = "SELECT count(*) FROM chunk_terms WHERE chunk_terms MATCH ?"
        n = catalog.execute(sql, (f'"{unit}"',)).fetchone()[0]
        worth += max(math.log((rows - n + 0.5) / (n + 0.5)), 1e-6)
    return worth


def score_table(
    index: Index,
    qrels_path: Path,
    folder_of: Path | None = None,
    catalog: sqlite3.Connection | None = None,
) -> list[dict]:
    """Per query: relevant paths, {path: (cosine, z, bm25)} over the whole folder and the
    query's worth (the sum of its terms' idf; None for identifiers or without words)."""
    qrels = read_qrels(qrels_path, folder_of)
    filters = Filters(folders=(qrels.folder,))
    n_files = sum(1 for _ in Path(qrels.folder).rglob("*") if _.is_file())
    rows = []
    for query, relevant in qrels.relevant.items():
        hits = index.search(query, k=n_files, mode="hybrid", spaces={"text"}, filters=filters)
        scores = {
            unicodedata.normalize("NFC", h.path): (
                float(h.extra.get("cosine", -1.0)),  # type: ignore[arg-type]
                float(h.extra.get("z", -9.0)),  # type: ignore[arg-type]
                float(h.extra.get("bm25", 0.0)),  # type: ignore[arg-type]
            )
            for h in hits
        }
        analysed = analyse_query(query)
        worth = None
        if catalog is not None and analysed.expression and not analysed.exact:
            worth = query_worth(catalog, analysed.expression)
        rows.append(
            {
                "query": query,
                "kind": qrels.kinds[query],
                "relevant": relevant,
                "scores": scores,
                "worth": worth,
            }
        )
    return rows


def rank(row: dict, how: str, a: float = 1.0, a_exact: float = 1.0) -> list[str]:
    s = row["scores"]
    paths = sorted(s)
    cos = np.array([s[p][0] for p in paths])
    z = np.array([s[p][1] for p in paths])
    bm = np.array([s[p][2] for p in paths])
    if how == "dense":
        key = cos
    elif how == "lexical":
        key = np.where(bm > 0, bm, -np.inf)
    elif how.startswith("rrf"):
        w = a
        dense_rank = np.argsort(np.argsort(-cos, kind="stable"), kind="stable")
        lex_rank = np.argsort(np.argsort(-bm, kind="stable"), kind="stable")
        key = 1 / (60 + dense_rank + 1) + np.where(bm > 0, w / (60 + lex_rank + 1), 0.0)
    elif how == "worth" and row.get("worth"):  # BM25 over what the query could score
        key = z + a * bm / row["worth"]
    else:  # convex (and "worth" for identifiers, or where the worth is unknown)
        w = a_exact if looks_exact(row["query"]) else a
        top = bm.max() if len(bm) and bm.max() > 0 else 1.0
        key = z + w * bm / top
    order = sorted(range(len(paths)), key=lambda i: (-key[i], paths[i]))
    return [paths[i] for i in order if np.isfinite(key[i])]


def reciprocal_ranks(rows: list[dict], **kw: object) -> np.ndarray:
    """Each query's 1/rank of its first relevant file in the top 10 (0 if none)."""
    out = []
    for row in rows:
        ranked = rank(row, **kw)  # type: ignore[arg-type]
        first = next((i for i, p in enumerate(ranked[:10]) if p in row["relevant"]), None)
        out.append(0.0 if first is None else 1 / (first + 1))
    return np.asarray(out)


def interval(values: np.ndarray) -> list[float]:
    """The 95% percentile-bootstrap interval of the mean (seeded: reruns agree)."""
    if not len(values):
        return [0.0, 0.0]
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, len(values), size=(RESAMPLES, len(values)))].mean(axis=1)
    return [round(float(x), 4) for x in np.percentile(means, [2.5, 97.5])]


def metrics(rows: list[dict], base: np.ndarray | None = None, **kw: object) -> dict:
    """recall@1 and MRR@10 with MRR's interval; with `base` (another fusion's reciprocal
    ranks of the same queries), the paired difference from it and its interval."""
    rr = reciprocal_ranks(rows, **kw)
    n = max(len(rows), 1)
    out: dict[str, object] = {
        "recall@1": round(float((rr == 1.0).sum()) / n, 4),
        "mrr@10": round(float(rr.sum()) / n, 4),
        "mrr@10_ci95": interval(rr),
    }
    if base is not None and len(rr):
        out["mrr@10_diff"] = round(float((rr - base).mean()), 4)
        out["mrr@10_diff_ci95"] = interval(rr - base)
    return out


def calibrate(answered: list[dict], unanswerable: list[dict]) -> dict[str, object]:
    def top_z(row: dict) -> tuple[float, bool]:
        best = max(row["scores"].items(), key=lambda kv: kv[1][0])
        return best[1][1], best[0] in row.get("relevant", ())

    pos = np.array([z for z, ok in map(top_z, answered) if ok])
    wrong = np.array([z for z, ok in map(top_z, answered) if not ok])
    neg = np.array([top_z(r)[0] for r in unanswerable])
    grid = np.round(np.arange(0.0, 8.01, 0.25), 2)
    best = max(grid, key=lambda t: ((pos >= t).mean() + (neg < t).mean()) / 2)
    return {
        "cutoff_z": float(best),
        "relevant_tops_kept": round(float((pos >= best).mean()), 3),
        "wrong_tops_kept": round(float((wrong >= best).mean()), 3) if len(wrong) else None,
        "unanswerable_tops_flagged": round(float((neg < best).mean()), 3),
        "median_z": {
            "relevant_top": round(float(np.median(pos)), 2),
            "wrong_top": round(float(np.median(wrong)), 2) if len(wrong) else None,
            "unanswerable_top": round(float(np.median(neg)), 2),
        },
        "counts": {"relevant": len(pos), "wrong": len(wrong), "unanswerable": len(neg)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench/.cache/eval")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_QUESTIONS} questions and {SMOKE_EXACT} exact query of each set, their "
        "files and a few others, indexed into a temporary folder: a quick check",
    )
    args = ap.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="tune-fusion-smoke-") as tmp:
            args.cache = Path(tmp) / "indexes"
            run(args, smoke_sets(Path(tmp) / "evalsets"))
        return
    run(args, SETS)


def run(args: argparse.Namespace, sets: dict[str, Path]) -> None:
    folders = sorted({p.parent / "docs" for p in sets.values()})
    settings = {
        f: Settings(index_dir=args.cache / f.parent.name, model_cache=data_home() / "models")
        for f in folders
    }
    # one text model, loaded once, for every index (each checks it is the one it holds)
    encoders = Encoders(text=load_text_encoder(DEFAULT_TEXT_MODEL, settings[folders[0]]))
    t0 = time.perf_counter()
    for folder in folders:
        with Index.open(settings=settings[folder], encoders=encoders) as index:
            index.add(folder)
    t_index = time.perf_counter() - t0
    tables: dict[str, list[dict]] = {}
    unanswerable: dict[str, list[dict]] = {}
    searched: dict[str, int] = {}
    for name, path in sets.items():
        folder = path.parent / "docs"
        with Index.open(settings=settings[folder], encoders=encoders) as index:
            text = next(s for s in index.status().spaces if s["name"] == "text")
            searched[name] = int(text["vectors"])  # type: ignore[call-overload]
            catalog = sqlite3.connect(settings[folder].index_dir / CATALOG_NAME)
            try:
                tables[name] = score_table(index, path, catalog=catalog)
            finally:
                catalog.close()
            # the other corpus's questions, asked of this one: none has an answer here
            rows = score_table(index, sets[OTHER[name]], folder)
            unanswerable[name] = [dict(r, relevant=frozenset()) for r in rows]
    report: dict[str, object] = {
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "index_seconds": round(t_index, 1),
        "sets": {},
    }
    for name, rows in tables.items():
        main_rows = [r for r in rows if r["kind"] != "exact"]
        exact_rows = [r for r in rows if r["kind"] == "exact"]
        entry: dict[str, object] = {"queries": len(rows), "exact_queries": len(exact_rows)}
        variants: dict[str, dict] = {
            "dense": {"how": "dense"},
            "lexical": {"how": "lexical"},
            "rrf": {"how": "rrf", "a": 1.0},
            "rrf-lex0.5": {"how": "rrf", "a": 0.5},
        }
        for a in WEIGHTS:
            for ae in EXACT_WEIGHTS:
                variants[f"convex a={a} exact={ae}"] = {"how": "convex", "a": a, "a_exact": ae}
        for a in WORTH_WEIGHTS:
            variants[f"worth a={a} exact={LEXICAL_WEIGHT_EXACT}"] = {
                "how": "worth", "a": a, "a_exact": LEXICAL_WEIGHT_EXACT
            }  # fmt: skip
        before = {"how": "convex", "a": LEXICAL_WEIGHT, "a_exact": LEXICAL_WEIGHT_EXACT}
        entry["product"] = f"convex a={LEXICAL_WEIGHT} exact={LEXICAL_WEIGHT_EXACT}"
        base = reciprocal_ranks(rows, **before)  # type: ignore[arg-type]
        base_q = reciprocal_ranks(main_rows, **before)  # type: ignore[arg-type]
        base_x = reciprocal_ranks(exact_rows, **before)  # type: ignore[arg-type]
        assert before in variants.values()
        entry["fusions"] = {
            v: {
                "all": metrics(rows, base, **kw),
                "questions": metrics(main_rows, base_q, **kw),
                "exact": metrics(exact_rows, base_x, **kw) if exact_rows else None,
            }
            for v, kw in variants.items()
        }
        entry["good_match"] = calibrate(rows, unanswerable[name])
        entry["good_match"]["vectors_searched"] = searched[name]  # type: ignore[index]
        report["sets"][name] = entry  # type: ignore[index]
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        return
    print(f"machine: {report['machine']}; indexing took {report['index_seconds']} s")
    for name, entry in report["sets"].items():  # type: ignore[attr-defined]
        print(f"\n== {name}: {entry['queries']} queries ({entry['exact_queries']} exact)")
        print(f"   Δ: the paired difference from the product's fusion, {entry['product']}")
        for v, m in entry["fusions"].items():
            ex, a = m["exact"], m["all"]
            exs = f"  exact R@1 {ex['recall@1']:.3f}" if ex else ""
            lo, hi = a["mrr@10_ci95"]
            dlo, dhi = a["mrr@10_diff_ci95"]
            print(
                f"  {v:28} R@1 {a['recall@1']:.3f}  MRR@10 {a['mrr@10']:.3f} [{lo:.3f}, {hi:.3f}]"
                f"  Δ {a['mrr@10_diff']:+.4f} [{dlo:+.4f}, {dhi:+.4f}]{exs}"
            )
        print(f"  good match: {json.dumps(entry['good_match'])}")


if __name__ == "__main__":
    main()
