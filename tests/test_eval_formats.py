"""`evaluate` breaks its metrics down per format of the relevant files (no models, fast)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from searchengine.query.evaluate import evaluate, read_qrels
from searchengine.query.searcher import Searcher


def test_metrics_per_format_of_the_relevant_files(tmp_path: Path) -> None:
    qrels_path = tmp_path / "qrels.tsv"
    qrels_path.write_text(
        "query\trelevant\tkind\n"
        "first\ta.docx\tquestion\n"
        "second\tb.pdf\tquestion\n"
        "both\tc.docx\tquestion\n"
        "both\td.pdf\tquestion\n",
        encoding="utf-8",
    )
    qrels = read_qrels(qrels_path, tmp_path)
    key = {name: f"{qrels.folder}/{name}" for name in ("a.docx", "b.pdf", "c.docx", "d.pdf")}
    ranking = {
        "first": ["a.docx"],  # rank 1
        "second": ["a.docx", "b.pdf"],  # rank 2
        "both": ["x.txt", "x.txt", "d.pdf", "c.docx"],  # pdf at rank 3, docx at rank 4
    }

    def ranker(query: str, depth: int) -> list[str]:
        return [key.get(name, name) for name in ranking[query]][:depth]

    # a ranker stands in for the searcher, which is then never asked
    scores = evaluate(cast(Searcher, None), qrels, ["fixed"], rankers={"fixed": ranker})
    formats = scores.formats["fixed"]
    assert list(formats) == ["docx", "pdf"]
    assert formats["docx"]["queries"] == 2 and formats["pdf"]["queries"] == 2
    assert formats["docx"]["mrr@10"] == round((1 + 1 / 4) / 2, 4)
    assert formats["pdf"]["mrr@10"] == round((1 / 2 + 1 / 3) / 2, 4)
    # the per-kind figures are as before: "both" counts once, its best file at rank 3
    assert scores.modes["fixed"]["all"]["queries"] == 3
    assert scores.modes["fixed"]["all"]["mrr@10"] == round((1 + 1 / 2 + 1 / 3) / 3, 4)


def test_each_figure_carries_its_bootstrap_interval(tmp_path: Path) -> None:
    qrels_path = tmp_path / "qrels.tsv"
    lines = [f"q{i}\td{i}.txt\tquestion" for i in range(40)]
    qrels_path.write_text("query\trelevant\tkind\n" + "\n".join(lines) + "\n", encoding="utf-8")
    qrels = read_qrels(qrels_path, tmp_path)

    def ranker(query: str, depth: int) -> list[str]:  # every other query found first
        n = int(query[1:])
        return [f"{qrels.folder}/d{n}.txt" if n % 2 == 0 else "x"][:depth]

    scores = evaluate(cast(Searcher, None), qrels, ["half"], rankers={"half": ranker})
    figures = scores.modes["half"]["all"]
    ci = cast(dict[str, list[float]], figures["ci95"])
    assert figures["mrr@10"] == 0.5 and set(ci) == {
        "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"
    }  # fmt: skip
    low, high = ci["mrr@10"]
    # a proportion of 0.5 over 40 queries: the normal approximation's interval is
    # 0.5 +- 1.96 * sqrt(0.25 / 40) = 0.5 +- 0.155; the bootstrap's is close to it
    assert 0.30 < low < 0.40 and 0.60 < high < 0.70 and abs((low + high) / 2 - 0.5) < 0.03
    again = evaluate(cast(Searcher, None), qrels, ["half"], rankers={"half": ranker})
    assert again.modes == scores.modes  # seeded: a rerun prints the same interval
    everywhere = evaluate(
        cast(Searcher, None),
        qrels,
        ["all"],
        rankers={"all": lambda q, d: [f"{qrels.folder}/d{q[1:]}.txt"]},
    )
    assert everywhere.modes["all"]["all"]["ci95"]["mrr@10"] == [1.0, 1.0]  # type: ignore[index]
