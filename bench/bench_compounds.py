"""Korean noun compounds in BM25 (issue 31): MRR@10 of each labelled set, per variant.

A query's neighbouring nouns, written together or a space apart (국회의원, 국회 의원), are
also asked as a phrase, "국회 의원", which the chunks' stored terms answer wherever the
two nouns stand side by side (lexical._noun_phrases). A variant names which phrases:

* `off`: none (the analyser before);
* `phrase`: the product's, two nouns (kiwi's NNG/NNP) together or a space apart;
* `phrase-nogap`: written together only; `phrase-any`: whatever lies between them;
  `phrase3`: runs of two and of three nouns.

Joining the nouns into extra terms on both sides instead (국회 + 의원 → also 국회의원
stored with every chunk) was measured by this script at commit fb0168d (variants `2`,
`2+space`, `3`, `3+space`; bench/results/compounds_2026-12-07.txt) and lost on the
larger Korean set.

Each set's folder is indexed once with the default models (vectors per piece, as the
product), into a cached index of its own; each variant then empties the index's lexical
rows and reopens it, so the catalog writes them again with today's analyser (the path
an old catalog takes after an analyser change), and asks the set's queries:

* hybrid and lexical MRR@10 per variant with its 95% bootstrap interval; dense once
  (phrases do not touch it);
* Δ: the paired difference from the first variant (the same resampled queries on both
  sides), which is what tells a change from noise, and how many queries went up / down;
* terms stored per chunk, and seconds to analyse every chunk.

Query vectors are encoded once and reused across variants.

    python -m bench.bench_compounds [--variants off,phrase,phrase3] [--sets ko,ko-help]
                                    [--cache DIR] [--json]
    python -m bench.bench_compounds --smoke   # a few queries of each set: a check
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.bench_vector_tokens import ask, paired  # noqa: E402
from bench.tune_fusion import SETS as FUSION_SETS  # noqa: E402
from bench.tune_fusion import smoke_sets  # noqa: E402
from searchengine import Encoders, Index, Settings, lexical  # noqa: E402
from searchengine.config import DEFAULT_TEXT_MODEL, data_home  # noqa: E402
from searchengine.models.encoders import TextEncoding, TextRole  # noqa: E402
from searchengine.models.spaces import load_text_encoder  # noqa: E402
from searchengine.records import Vectors  # noqa: E402
from searchengine.store.folder import CATALOG_NAME, Store  # noqa: E402

SETS = {**FUSION_SETS, "office-ko": ROOT / "evalsets/office-ko/qrels.tsv"}
MODES = ("hybrid", "lexical", "dense")


_PHRASES = lexical._noun_phrases
VARIANTS = {  # name -> (the gaps allowed between two nouns, None: any; the longest run)
    "phrase-nogap": (("",), 2),
    "phrase-any": (None, 2),
    "phrase3": (("", " "), 3),
}


def configure(variant: str) -> None:
    """Make lexical.py ask `variant`'s phrases."""
    if variant == "phrase":
        lexical._noun_phrases = _PHRASES
    elif variant == "off":
        lexical._noun_phrases = lambda query, terms: []
    elif variant in VARIANTS:
        gaps, longest = VARIANTS[variant]
        lexical._noun_phrases = functools.partial(_phrases, gaps=gaps, longest=longest)
    else:
        raise SystemExit(
            f"unknown variant {variant!r}: off, phrase, {', '.join(VARIANTS)} (extra terms: "
            "2, 2+space, 3, 3+space were measured at commit fb0168d)"
        )


def _phrases(
    query: str, terms: Sequence[lexical.Term], gaps: tuple[str, ...] | None, longest: int
) -> list[str]:
    """Each run of 2 to `longest` neighbouring nouns apart by one of `gaps` (None: by
    anything), as a phrase."""
    out = []
    for i in range(len(terms)):
        for j in range(i + 1, min(i + longest, len(terms))):
            a, b = terms[j - 1], terms[j]
            if not (a.noun and b.noun and (gaps is None or query[a.end : b.start] in gaps)):
                break
            out.append(" ".join(t.term for t in terms[i : j + 1]))
    return out


class QueryMemo:
    """The text model, with each query's vector kept: variants ask the same queries."""

    def __init__(self, inner: TextEncoding) -> None:
        self._inner = inner
        self._memo: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors:
        if role != "query":
            return self._inner.encode(texts, role)
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self._inner.encode(missing, role), strict=True))
        return np.stack([self._memo[t] for t in texts])


def run(args: argparse.Namespace, sets: dict[str, Path]) -> dict:
    variants = args.variants.split(",")
    folders = sorted({p.parent / "docs" for p in sets.values()})
    model_cache = data_home() / "models"
    probe = Settings(index_dir=args.cache / "probe", model_cache=model_cache)
    memo = QueryMemo(load_text_encoder(DEFAULT_TEXT_MODEL, probe))
    encoders = Encoders(text=memo)  # type: ignore[arg-type]
    settings = {
        f: Settings(
            index_dir=args.cache / f.parent.name, model_cache=model_cache, word_vectors=False
        )
        for f in folders
    }
    report: dict = {
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "variants": variants,
        "cost": {},
        "sets": {},
    }
    configure(variants[0])
    for folder in folders:  # indexed once; a cached index is brought up to date
        with Index.open(settings=settings[folder], encoders=encoders) as index:
            index.add(folder)
    per_query: dict[str, dict[str, dict[str, list[float]]]] = {}  # variant -> set -> mode
    for vi, variant in enumerate(variants):
        configure(variant)
        cost: dict = {"analyse_seconds": 0.0, "terms_per_chunk": {}}
        report["cost"][variant] = cost
        per_query[variant] = {}
        for folder in folders:
            catalog_path = settings[folder].index_dir / CATALOG_NAME
            db = sqlite3.connect(catalog_path)
            with db:  # no lexical rows: the marker lexical_pending reads on open
                db.execute("DELETE FROM chunk_terms")
            db.close()
            t0 = time.perf_counter()
            with Store.for_settings(settings[folder]):  # opening it writes the rows
                cost["analyse_seconds"] += round(time.perf_counter() - t0, 1)
            cost["terms_per_chunk"][folder.parent.name] = terms_per_chunk(catalog_path)
            with Index.open(settings=settings[folder], encoders=encoders) as index:
                for name, qrels_path in sets.items():
                    if qrels_path.parent / "docs" == folder:
                        modes = MODES if vi == 0 else MODES[:2]
                        per_query[variant][name] = ask(index, qrels_path, modes)
    report["sets"] = paired(per_query, sets, MODES)
    return report


def terms_per_chunk(catalog_path: Path) -> float:
    db = sqlite3.connect(catalog_path)
    try:
        rows = db.execute("SELECT terms FROM chunk_terms").fetchall()
    finally:
        db.close()
    return round(sum(len(r[0].split()) for r in rows) / max(len(rows), 1), 1)


def show(report: dict) -> None:
    variants = report["variants"]
    print(f"machine: {report['machine']}")
    for variant in variants:
        cost = report["cost"][variant]
        print(
            f"variant {variant:>8}: analysed in {cost['analyse_seconds']:.1f} s, terms per "
            f"chunk {json.dumps(cost['terms_per_chunk'])}"
        )
    for name, entry in report["sets"].items():
        print(f"\n{name} ({entry['queries']} queries): MRR@10 [95%], Δ from {variants[0]} [95%]")
        for mode in MODES:
            cells = []
            for variant, r in entry[mode].items():
                cell = f"{variant}: {r['mrr@10']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
                if "delta" in r:
                    low, high = r["delta_ci95"]
                    cell += (
                        f" Δ {r['delta']:+.3f} [{low:+.3f}, {high:+.3f}]"
                        f" ({r['better']}+/{r['worse']}-)"
                    )
                cells.append(cell)
            print(f"  {mode:8} " + "\n           ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--variants",
        default="off,phrase",
        help=f"comma-separated, of off, phrase, {', '.join(VARIANTS)}; Δ is from the first "
        "(default: off and the product's)",
    )
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--cache", type=Path, default=ROOT / "bench/.cache/compounds")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="a few queries and files of each set")
    args = ap.parse_args()
    phrases = lexical._noun_phrases
    try:
        if args.smoke:
            with tempfile.TemporaryDirectory(prefix="compounds-smoke-") as tmp:
                args.cache = Path(tmp) / "indexes"
                report = run(args, smoke_sets(Path(tmp) / "evalsets"))  # no office-ko: OCR
        else:
            report = run(args, {name: SETS[name] for name in args.sets.split(",")})
    finally:
        lexical._noun_phrases = phrases
    if args.json:
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        show(report)


if __name__ == "__main__":
    main()
