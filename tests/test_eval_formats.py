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
