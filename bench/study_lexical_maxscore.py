"""A study, not a product path: can an exact top-k BM25 skip most of the chunks an OR
query matches, with FTS5 as it is (issue 30: hybrid p50 <= 50 ms at 1M)?

MaxScore's idea: a chunk that holds none of the query's rarer terms ("essential") can
score at most the sum of the other terms' upper bounds; once the k-th best score among
the chunks that do hold one exceeds that sum, the top k is exact without scoring the
rest. On FTS5:

* each unit's document count: `count(*)` of a one-unit MATCH; its bound idf * (k1 + 1)
  (FTS5's bm25: k1 1.2, b 0.75, idf floored at 1e-6; N taken as the highest chunk id,
  which can only raise the bound);
* the essential units: the rarest, up to `--budget` matches in all;
* the candidates' exact scores: bm25 is a sum over the expression's phrases, so
  `(E) AND (N OR E)` scores E twice and N once; minus bm25 of `E` alone, per rowid;
* where the k-th candidate score does not exceed the bound, the full statement.

Runs on the 1M catalog `bench_scale_search` builds (read-only) with its labelled
queries, and prints each query's time both ways, whether the top k agree, and the
bound against the k-th score.

    python -m bench.study_lexical_maxscore [--budget 20000] [--queries 50]
    python -m bench.study_lexical_maxscore --smoke   # 3,000 rows of its own: a check
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_scale_search import default_cache, query_texts
from searchengine.lexical import analyse_query

FULL = (
    "SELECT rowid, -bm25(chunk_terms) s FROM chunk_terms "
    "WHERE chunk_terms MATCH ? ORDER BY rank LIMIT ?"
)
PRUNED = """WITH d AS MATERIALIZED (
  SELECT rowid id, -bm25(chunk_terms) s FROM chunk_terms WHERE chunk_terms MATCH :dup),
e AS MATERIALIZED (
  SELECT rowid id, -bm25(chunk_terms) s FROM chunk_terms WHERE chunk_terms MATCH :ess)
SELECT d.id, d.s - e.s AS sc FROM d JOIN e ON e.id = d.id ORDER BY sc DESC LIMIT :k"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=default_cache() / "n1000000/index/catalog.sqlite")
    ap.add_argument("--budget", type=int, default=20_000, help="essential matches, at most")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("-k", type=int, default=50)
    ap.add_argument("--smoke", action="store_true", help="a small table of its own")
    args = ap.parse_args()
    asked = query_texts()
    random.Random(30).shuffle(asked)
    asked = asked[10 : 10 + args.queries]  # bench_scale_search's timed queries
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="semsearch-maxscore-") as tmp:
            args.db, args.budget, args.k = Path(tmp) / "catalog.sqlite", 60, 5
            small_catalog(args.db, asked[:20])
            return study(args, asked[:6])
    return study(args, asked)


def small_catalog(db: Path, texts: list[str]) -> None:
    """A catalog's two tables as the study reads them: 3,000 rows of query words."""
    from searchengine.lexical import index_text

    rng = random.Random(7)
    words = [w for t in texts for w in index_text(t).split()]
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE chunks (id INTEGER PRIMARY KEY)")
    con.execute("CREATE VIRTUAL TABLE chunk_terms USING fts5(terms)")
    for i in range(1, 3001):
        con.execute("INSERT INTO chunks (id) VALUES (?)", (i,))
        row = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
        con.execute("INSERT INTO chunk_terms (rowid, terms) VALUES (?, ?)", (i, row))
    con.commit()
    con.close()


def study(args: argparse.Namespace, asked: list[str]) -> int:
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    top_id = con.execute("SELECT max(id) FROM chunks").fetchone()[0]
    print(f"{args.db}: chunk ids up to {top_id:,}; budget {args.budget:,}; k {args.k}")
    print(f"load {os.getloadavg()[0]:.1f}")

    def bound(df: int) -> float:
        return max(math.log((top_id - df + 0.5) / (df + 0.5)), 1e-6) * 2.2

    fulls, pruned, same, fell = [], [], 0, 0
    for q in asked:
        expr = analyse_query(q).expression
        if not expr:
            continue
        started = time.perf_counter()
        ref = con.execute(FULL, (expr, args.k)).fetchall()
        full_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        units = expr.split(" OR ")
        dfs = [
            con.execute(
                "SELECT count(*) FROM chunk_terms WHERE chunk_terms MATCH ?", (u,)
            ).fetchone()[0]
            for u in units
        ]
        rare_first = sorted(range(len(units)), key=lambda i: dfs[i])
        ess: list[int] = []
        total = 0
        for i in rare_first:
            if ess and total + dfs[i] > args.budget:
                break
            ess.append(i)
            total += dfs[i]
        rest = [i for i in rare_first if i not in ess]
        how = "one group"
        got = None
        if rest:
            e = " OR ".join(units[i] for i in ess)
            dup = f"({e}) AND ({' OR '.join(units[i] for i in rest)} OR {e})"
            got = con.execute(PRUNED, {"dup": dup, "ess": e, "k": args.k}).fetchall()
            theta = got[-1][1] if len(got) == args.k else 0.0
            limit = sum(bound(dfs[i]) for i in rest)
            how = f"k-th {theta:.2f} vs bound {limit:.2f}"
            if theta <= limit:
                fell += 1
                how += ": full"
                got = None
        if got is None:
            got = con.execute(FULL, (expr, args.k)).fetchall()
        new_ms = (time.perf_counter() - started) * 1000
        agree = [round(s, 6) for _, s in got] == [round(s, 6) for _, s in ref]
        same += agree
        fulls.append(full_ms)
        pruned.append(new_ms)
        print(f"{full_ms:7.1f} -> {new_ms:7.1f} ms  top agrees {agree}  {how}  {q[:40]!r}")
        sys.stdout.flush()
    p90 = int(0.9 * len(fulls))
    print(
        f"median {statistics.median(fulls):.1f} -> {statistics.median(pruned):.1f} ms, "
        f"p90 {sorted(fulls)[p90]:.1f} -> {sorted(pruned)[p90]:.1f}; top {args.k} agrees "
        f"{same}/{len(fulls)}; fell back to the full statement {fell}"
    )
    print(f"load {os.getloadavg()[0]:.1f}")
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
