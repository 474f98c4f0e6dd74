"""Measure search quality on labelled queries: recall@1/5/10, MRR@10, nDCG@10 per mode.

A qrels file is UTF-8 TSV with the header `query<TAB>relevant` (an optional
third column `kind` groups queries, e.g. `question` / `exact`); `relevant` is
a path relative to the indexed folder, and a query with several relevant
files has several lines.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from searchengine.errors import ConfigError
from searchengine.files import format_of, path_key
from searchengine.filters import Filters
from searchengine.query.searcher import Searcher
from searchengine.records import MODES, Mode

CUTOFFS = (1, 5, 10)
DEPTH = 10
# Each figure's 95% interval: the queries resampled with replacement this many times
# (percentile bootstrap), from a fixed seed so that a rerun prints the same interval.
RESAMPLES = 1000
CONFIDENCE = 0.95
METRICS = (*(f"recall@{c}" for c in CUTOFFS), "mrr@10", "ndcg@10")

Ranker = Callable[[str, int], list[str]]
"""ranker(query, depth): the best files' path keys, best first: a baseline beside the modes."""


@dataclass(frozen=True)
class Qrels:
    """Labelled queries: each query's relevant files (absolute NFC paths) and kind."""

    folder: str
    relevant: dict[str, frozenset[str]]
    kinds: dict[str, str]


Breakdown = dict[str, dict[str, dict[str, object]]]
"""mode -> group -> metrics (as Metrics.to_json gives them)."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics per mode: overall (`all`) and per query kind in `modes`; per format of the
    relevant files (`docx`, `pdf`, ...) in `formats`."""

    modes: Breakdown
    formats: Breakdown


@dataclass
class Metrics:
    """Each query's recall@1/5/10, MRR@10 and nDCG@10, kept per query for the intervals."""

    per_query: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in METRICS}
    )

    @property
    def queries(self) -> int:
        return len(self.per_query["mrr@10"])

    def add(self, ranked: Sequence[str], relevant: frozenset[str]) -> None:
        for c in CUTOFFS:
            hits = len(relevant.intersection(ranked[:c]))
            self.per_query[f"recall@{c}"].append(hits / len(relevant))
        first = next((i for i, p in enumerate(ranked[:DEPTH]) if p in relevant), None)
        self.per_query["mrr@10"].append(0.0 if first is None else 1.0 / (first + 1))
        dcg = sum(1.0 / math.log2(i + 2) for i, p in enumerate(ranked[:DEPTH]) if p in relevant)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), DEPTH)))
        self.per_query["ndcg@10"].append(dcg / ideal)

    def to_json(self) -> dict[str, object]:
        """The means, and `ci95`: each mean's 95% bootstrap interval [low, high]."""
        n = max(self.queries, 1)
        out: dict[str, object] = {"queries": self.queries}
        out.update({name: round(sum(v) / n, 4) for name, v in self.per_query.items()})
        out["ci95"] = {
            name: [round(x, 4) for x in bootstrap_interval(v)] for name, v in self.per_query.items()
        }
        return out


def bootstrap_interval(values: Sequence[float]) -> tuple[float, float]:
    """The percentile bootstrap's CONFIDENCE interval of the mean of `values` (the
    queries drawn with replacement RESAMPLES times; seeded, so reruns agree)."""
    if not values:
        return (0.0, 0.0)
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(0)
    # a hundred resamples at a time: a qrels file of 100,000 queries stays at 80 MB
    means = np.concatenate(
        [
            data[rng.integers(0, len(data), size=(min(100, RESAMPLES - done), len(data)))].mean(1)
            for done in range(0, RESAMPLES, 100)
        ]
    )
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def read_qrels(path: Path, folder: Path | None = None) -> Qrels:
    """Parse a qrels file; `folder` defaults to `docs/` beside it, else its own folder."""
    if not path.is_file():
        raise ConfigError(f"no such qrels file: {path}")
    if folder is None:
        folder = path.parent / "docs" if (path.parent / "docs").is_dir() else path.parent
    root = path_key(os.path.abspath(folder))
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not lines or [c.strip().lower() for c in lines[0].split("\t")[:2]] != ["query", "relevant"]:
        raise ConfigError(f"{path}: the first line must be the header 'query<TAB>relevant'")
    relevant: dict[str, set[str]] = {}
    kinds: dict[str, str] = {}
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise ConfigError(f"{path}:{n}: expected 'query<TAB>relevant', got {line!r}")
        query = cols[0].strip()
        target = path_key(os.path.join(root, cols[1].strip()))
        relevant.setdefault(query, set()).add(os.path.normpath(target))
        kinds.setdefault(query, cols[2].strip() if len(cols) > 2 and cols[2].strip() else "all")
    if not relevant:
        raise ConfigError(f"{path}: no labelled queries")
    return Qrels(root, {q: frozenset(r) for q, r in relevant.items()}, kinds)


def by_format(relevant: frozenset[str]) -> dict[str, frozenset[str]]:
    """A query's relevant files grouped by their format (by extension; `other` if none)."""
    groups: dict[str, set[str]] = {}
    for path in relevant:
        groups.setdefault(format_of(path) or "other", set()).add(path)
    return {f: frozenset(paths) for f, paths in groups.items()}


def evaluate(
    searcher: Searcher,
    qrels: Qrels,
    modes: Sequence[str] = MODES,
    on_progress: Callable[[str, int, int], None] | None = None,
    *,
    rankers: Mapping[str, Ranker] | None = None,
    expand: bool = False,
) -> Evaluation:
    """Metrics per mode (or ranker: `rankers` rank the files under the qrels folder),
    overall (`all`) and per query kind; and per format of the relevant files, where a
    query counts once in each format it has relevant files of, judged on those alone."""
    filters = Filters(folders=(qrels.folder,))
    rankers = rankers or {}
    groups = {query: by_format(relevant) for query, relevant in qrels.relevant.items()}
    out: Breakdown = {}
    formats: Breakdown = {}
    for mode in modes:
        per_kind: dict[str, Metrics] = {"all": Metrics()}
        per_format: dict[str, Metrics] = {}
        for n, (query, relevant) in enumerate(qrels.relevant.items(), start=1):
            if mode in rankers:
                ranked = rankers[mode](query, DEPTH)
            else:
                search_mode = cast(Mode, mode)
                hits = searcher.search(
                    query, DEPTH, mode=search_mode, filters=filters, expand=expand
                )
                ranked = [path_key(h.path) for h in hits]
            per_kind["all"].add(ranked, relevant)
            kind = qrels.kinds[query]
            if kind != "all":
                per_kind.setdefault(kind, Metrics()).add(ranked, relevant)
            for fmt, of_format in groups[query].items():
                per_format.setdefault(fmt, Metrics()).add(ranked, of_format)
            if on_progress:
                on_progress(mode, n, len(qrels.relevant))
        out[mode] = {k: m.to_json() for k, m in per_kind.items()}
        formats[mode] = {f: per_format[f].to_json() for f in sorted(per_format)}
    return Evaluation(out, formats)
