"""Search features on a real index: lexical mode, filters, paging, snippets, JSON.

The search logic runs on the deterministic fake encoders; the CLI tests, which
load models by name, on a tiny real BERT and CLIP.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import FakeImageEncoder, FakeTextEncoder
from helpers import draw_image, open_catalog, run_index
from sqlalchemy import select, update

from searchengine import Encoders, Filters, Index, Results, Settings, make_filters
from searchengine.catalog.schema import Chunk
from searchengine.cli.main import main
from searchengine.query import searcher

WORDS = "car engine road dog puppy park banana fruit kitchen tax bank rain train station".split()


def _many(root: Path, n: int = 240) -> Path:
    """n small documents in two folders, plus three pictures; a few Korean ones."""
    rng = np.random.default_rng(7)
    for i in range(n):
        folder = root / ("rare" if i < 2 else "bulk")
        folder.mkdir(parents=True, exist_ok=True)
        words = " ".join(rng.choice(WORDS, 12))
        (folder / f"doc{i:03d}.txt").write_text(f"note {i}: {words}", encoding="utf-8")
    (root / "bulk" / "korean.txt").write_text(
        "주말에 새 자동차를 샀습니다. 자동차의 엔진 소리가 조용합니다.", encoding="utf-8"
    )
    (root / "bulk" / "invoice.md").write_text(
        "# invoice\n\nReference INV-2024-0042 is due. The bank sends a reminder.", encoding="utf-8"
    )
    for i, color in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200)]):
        draw_image(root / "pics" / f"p{i}.png", color)
    return root


def _fakes() -> Encoders:
    return Encoders(text=FakeTextEncoder(), image=FakeImageEncoder())


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _many(tmp_path_factory.mktemp("quality") / "many")


@pytest.fixture(scope="module")
def fake_shared(many: Path) -> Settings:
    """One index of `_many` by the fake encoders, built once: the tests below only read it."""
    settings = Settings(
        index_dir=many.parent / "fake-index", model_cache=many.parent / "models", text_batch=32
    )
    run_index(many, settings, _fakes())
    return settings


@pytest.fixture
def index(fake_shared: Settings) -> Iterator[Index]:
    with Index.open(settings=fake_shared, encoders=_fakes()) as idx:
        yield idx


@pytest.fixture(scope="module")
def real_shared(many: Path, tiny_bert_dir: Path, tiny_clip_dir: Path) -> Settings:
    """One index of `_many` by the tiny real models, for the CLI, which loads them by name."""
    settings = Settings(
        index_dir=many.parent / "index",
        model_cache=many.parent / "models",
        text_model=str(tiny_bert_dir),
        image_model=str(tiny_clip_dir),
        text_batch=32,
        image_batch=4,
    )
    run_index(many, settings)
    return settings


def _names(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [Path(h.path).name for h in hits]


def _search(settings: Settings, encoders: Encoders, query: str, **how: Any) -> Results:
    """One search in a fresh `Index`."""
    with Index.open(settings=settings, encoders=encoders) as index:
        return index.search(query, **how)


def test_lexical_mode_matches_korean_inflected_forms(index: Index) -> None:
    for query in ("자동차", "자동차가", "자동차는 얼마"):
        hits = index.search(query, k=5, mode="lexical")
        assert _names(hits)[:1] == ["korean.txt"], query
    # the highlight covers the noun inside `자동차를`, not its particle
    hit = index.search("자동차가", k=1, mode="lexical")[0]
    spans = [hit.snippet[a:b] for a, b in hit.highlights]
    assert spans and set(spans) == {"자동차"}


def test_lexical_beats_noise_on_an_identifier(index: Index) -> None:
    hits = index.search("INV-2024-0042", k=3, mode="lexical")
    assert _names(hits) == ["invoice.md"]  # nothing else has those tokens


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("graph", [False, True])
def test_narrow_filter_returns_k_when_they_exist(
    many: Path, fake_shared: Settings, mode: str, graph: bool
) -> None:
    settings = fake_shared
    if graph:  # force hnswlib's filtered graph walk instead of the exact scan
        settings = replace(settings, exact_scan_max=0, exact_scan_share=0.0)
    with Index.open(settings=settings, encoders=_fakes()) as index:
        # 2 of 245 files (0.8%): both come back, and nothing else
        rare = make_filters(folders=[str(many / "rare")])
        hits = index.search("note car", k=2, mode=mode, filters=rare)  # type: ignore[arg-type]
        assert sorted(_names(hits)) == ["doc000.txt", "doc001.txt"]
        hits = index.search("note car", k=10, mode=mode, filters=rare)  # type: ignore[arg-type]
        assert len(hits) == 2
        # a broad glob: k hits, all matching
        wide = make_filters(globs=["doc1*.txt"])
        hits = index.search("note car", k=10, mode=mode, filters=wide)  # type: ignore[arg-type]
        assert len(hits) == 10 and all(n.startswith("doc1") for n in _names(hits))


def test_kind_and_date_filters(tmp_path: Path, fake_settings: Settings, encoders: Encoders) -> None:
    many = _many(tmp_path / "many")
    old = 1_600_000_000  # 2020-09
    os.utime(many / "bulk" / "invoice.md", (old, old))
    os.utime(many / "pics" / "p1.png", (old, old))
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(many)
        hits = index.search("note", k=10, filters=make_filters(formats=["md"]))
        assert _names(hits) == ["invoice.md"]
        hits = index.search("red", k=10, filters=make_filters(formats=["image"]))
        assert sorted(_names(hits)) == ["p0.png", "p1.png", "p2.png"]
        hits = index.search("note", k=10, filters=make_filters(before="2021-01-01"))
        assert sorted(_names(hits)) == ["invoice.md", "p1.png"]
        hits = index.search("note", k=300, filters=make_filters(after="2021-01-01"))
        assert "invoice.md" not in _names(hits) and len(hits) == 243


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_paging_is_stable(index: Index, mode: str) -> None:
    whole = index.search("car engine road", k=30, mode=mode)  # type: ignore[arg-type]
    pages = [
        index.search("car engine road", k=7, offset=o, mode=mode)  # type: ignore[arg-type]
        for o in range(0, 30, 7)
    ]
    joined = [h.path for page in pages for h in page][:30]
    assert joined == [h.path for h in whole]
    assert len(set(joined)) == len(joined) == 30
    again = index.search("car engine road", k=7, offset=7, mode=mode)  # type: ignore[arg-type]
    assert [h.path for h in again] == [h.path for h in pages[1]]


def test_one_hit_per_file_with_its_offsets(
    tmp_path: Path, fake_settings: Settings, encoders: Encoders
) -> None:
    root = tmp_path / "long"
    root.mkdir()
    body = " ".join(["filler words about nothing"] * 60)
    text = f"{body} the kitchen banana is here. {body} banana again {body}"
    (root / "long.txt").write_text(text, encoding="utf-8")
    run_index(root, replace(fake_settings, chunk_tokens=64), encoders)
    hits = _search(fake_settings, encoders, "banana", k=5, mode="lexical")
    assert len(hits) == 1
    hit = hits[0]
    assert "banana" in hit.snippet
    a, b = hit.highlights[0]
    assert hit.snippet[a:b].lower() == "banana"
    assert hit.start is not None and hit.end is not None
    assert "banana" in text[hit.start : hit.end]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_carries_highlights_pages_and_paging(
    many: Path, real_shared: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = real_shared
    base = ["--index", str(settings.index_dir), "search", "--text-model", settings.text_model]
    code, out, _ = _cli(capsys, *base, "자동차를", "--mode", "lexical", "--json", "-k", "3")
    assert code == 0
    doc = json.loads(out)
    assert doc["mode"] == "lexical" and doc["offset"] == 0
    top = doc["hits"][0]
    assert top["path"].endswith("korean.txt")
    assert [top["snippet"][a:b] for a, b in top["highlights"]] == ["자동차", "자동차"]
    assert {"start", "end", "page", "good_match", "bm25"} <= set(top)
    code, out, _ = _cli(capsys, *base, "note", "--json", "-k", "2", "--offset", "2")
    assert code == 0 and json.loads(out)["offset"] == 2 and len(json.loads(out)["hits"]) == 2
    code, out, err = _cli(capsys, *base, "note", "--kind", "spreadsheet")
    assert code != 0 and "unknown format" in err and "Traceback" not in err
    code, out, err = _cli(capsys, *base, "note", "--after", "last tuesday")
    assert code != 0 and "--after" in err
    code, out, err = _cli(capsys, *base, "note", "--offset", "-1")
    assert code == 2


def test_cli_eval_reports_every_mode(
    many: Path, real_shared: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = real_shared
    qrels = tmp_path / "q.tsv"
    qrels.write_text(
        "query\trelevant\tkind\n"
        "자동차\tbulk/korean.txt\tquestion\n"
        "INV-2024-0042\tbulk/invoice.md\texact\n"
        "note 0: nothing\trare/doc000.txt\tquestion\n"
        "note 0: nothing\trare/doc001.txt\tquestion\n",
        encoding="utf-8",
    )
    base = ["--index", str(settings.index_dir), "eval", str(qrels), "--folder", str(many)]
    code, out, err = _cli(capsys, *base, "--json")
    assert code == 0, err
    report = json.loads(out)["modes"]
    assert set(report) == {"hybrid", "dense", "lexical"}
    lex = report["lexical"]
    assert lex["all"]["queries"] == 3 and lex["exact"]["recall@1"] == 1.0
    for m in report.values():
        assert 0.0 <= m["all"]["ndcg@10"] <= 1.0
    code, out, _ = _cli(capsys, *base, "--mode", "lexical")
    assert code == 0 and "lexical" in out and "recall@1" in out
    assert "±" in out and "95% bootstrap interval" in out  # each figure with its noise
    (tmp_path / "bad.tsv").write_text("q\tr\nx\ty\n", encoding="utf-8")
    code, _, err = _cli(
        capsys, "--index", str(settings.index_dir), "eval", str(tmp_path / "bad.tsv")
    )
    assert code != 0 and "header" in err


@pytest.mark.sqlite_only("an old SQLite catalog, downgraded by hand")
def test_an_older_catalog_gets_its_lexical_index_on_open(
    tmp_path: Path,
    fake_settings: Settings,
    encoders: Encoders,
) -> None:
    import sqlite3

    root = tmp_path / "docs"
    root.mkdir()
    (root / "car.txt").write_text("새 자동차를 샀습니다.", encoding="utf-8")
    run_index(root, fake_settings, encoders)
    with sqlite3.connect(fake_settings.index_dir / "catalog.sqlite") as conn:
        # the catalog as migration 0007 left it
        conn.execute("DROP TRIGGER tag_terms_follow_delete")
        conn.execute("DROP TABLE tag_terms")
        conn.execute("DROP TABLE image_tags")
        conn.execute("DROP TRIGGER chunk_terms_follow_delete")
        conn.execute("DROP TABLE chunk_terms")
        conn.execute("ALTER TABLE chunks DROP COLUMN ocr")  # migration 0012's
        conn.execute("DROP INDEX ix_files_parent_id")  # migration 0013's
        conn.execute("ALTER TABLE files DROP COLUMN parent_id")
        conn.execute('ALTER TABLE spaces DROP COLUMN "precision"')  # migration 0014's
        conn.execute("DROP TABLE events")  # migration 0015's (its indexes go with it)
        conn.execute("ALTER TABLE files DROP COLUMN domain")  # migration 0016's
        conn.execute("ALTER TABLE vectors DROP COLUMN piece_end")  # migration 0017's
        conn.execute("ALTER TABLE vectors DROP COLUMN piece_start")
        conn.execute("ALTER TABLE chunks DROP COLUMN term_spans")  # migration 0018's
        conn.execute("UPDATE alembic_version SET version_num = '0007_add_skip_limits'")
    # opening upgrades it and analyses the existing chunks
    hits = _search(fake_settings, encoders, "자동차", k=3, mode="lexical")
    assert _names(hits) == ["car.txt"]


KOREAN_FILES = {
    "car.txt": "# 자동차 구입 가이드\n\n처음 자동차를 살 때는 차량 가격만 보고 결정하기 쉽지만, "
    "실제로 드는 비용은 훨씬 많습니다.",
    "buy.txt": "어제 자동차를 샀다. 살 때는 몰랐다.",
    "song.txt": "사려면 노래를 불러 보세요. 부르는 사람.",
}


def test_an_older_catalog_without_kept_term_spans_shows_the_same_snippets(
    tmp_path: Path, fake_settings: Settings, encoders: Encoders
) -> None:
    """A catalog written before migration 0018 keeps no term spans (chunks.term_spans):
    its snippets analyse the text at query time, as before, and show what the kept
    spans show (tests/test_snippets.py compares the two on the eval sets' text)."""
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in KOREAN_FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    queries = ["자동차", "사다", "자동차를 사려면 비용", "노래 부르다"]

    def shown() -> list[tuple]:
        with Index.open(settings=fake_settings, encoders=encoders) as index:
            return [
                (h.path, h.snippet, h.highlights, h.start, h.end)
                for q in queries
                for mode in ("lexical", "hybrid")
                for h in index.search(q, k=3, mode=mode)  # type: ignore[arg-type]
            ]

    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(root)
    catalog = open_catalog(fake_settings.index_dir)
    try:
        with catalog.session() as s:
            assert None not in s.scalars(select(Chunk.term_spans)).all()
        kept = shown()
        with catalog.session() as s:
            s.execute(update(Chunk).values(term_spans=None))
        assert shown() == kept
    finally:
        catalog.close()
    assert any(highlights for _, _, highlights, _, _ in kept)


def test_every_pooled_file_is_scored_on_both_signals(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file in the dense pool gets its BM25 even when more than a pool's worth of files
    match the words better (here: most of the 240 notes hold `car` or `dog`)."""
    monkeypatch.setattr(searcher, "POOL", 5)  # each signal brings 5 files to the pool
    query = "car dog"
    lexical = {h.path: h.score for h in index.search(query, k=245, mode="lexical")}
    assert len(lexical) > 100  # far more word matches than the lexical pool takes
    dense = [h.path for h in index.search(query, k=5, mode="dense")]
    assert set(dense) - set(sorted(lexical, key=lambda p: -lexical[p])[:5])
    hybrid = index.search(query, k=5, mode="hybrid")
    assert {h.path for h in hybrid} & set(dense)  # dense-pooled files among the hits
    for hit in hybrid:  # (these words are in most notes: their BM25 rounds to 0.0)
        assert ("bm25" in hit.extra) == (hit.path in lexical), hit.path


def test_one_lexical_statement_scores_the_top_and_the_named_files_as_apart(
    fake_shared: Settings, many: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lexical_pool` (the lexical top and the dense pool's files, in one statement) gives
    what the two reads it replaced give: the same files, chunks and scores, under filters,
    past one batch of named files, and with no stale statement when the filters change."""
    from searchengine.catalog import search as catalog_search
    from searchengine.lexical import analyse_query

    monkeypatch.setattr(catalog_search, "IN_BATCH", 7)  # named files past one batch
    catalog = open_catalog(fake_shared.index_dir)
    try:
        every = catalog.filtered_files(Filters())
        named = every[::3]  # 80 files: some among the top, most not
        some = make_filters(globs=["doc1*"])  # 110 of the 240 notes
        for query in ("car dog", "자동차", "bank INV", "banana kitchen rain", "note"):
            expr = analyse_query(query).expression
            assert expr is not None
            for filters in (Filters(), some, Filters()):
                top, extra = catalog.lexical_pool(expr, filters, 10, named)
                # the oracle: every file scored alone, then ranked
                each = catalog.lexical_matches(expr, filters, 0, every)
                best = sorted(each, key=lambda m: (-m.score, m.file_id))[:10]
                assert top == best
                shown = {m.file_id for m in top}
                alone = catalog.lexical_matches(expr, filters, 0, named)
                assert sorted(extra, key=lambda m: m.file_id) == sorted(
                    (m for m in alone if m.file_id not in shown), key=lambda m: m.file_id
                )
                assert shown.isdisjoint(m.file_id for m in extra)
                if query in ("car dog", "note"):  # most notes match: both parts are full
                    assert len(top) == 10 and len(extra) > 2 * 7
                if filters == some:
                    paths = catalog.file_facts([m.file_id for m in top + extra])
                    assert all(Path(f.path).name.startswith("doc1") for f in paths.values())
    finally:
        catalog.close()


@pytest.mark.sqlite_only("FTS5's idf, read from the catalog file")
def test_the_bm25_worth_is_the_idf_fts5_scores_with(fake_shared: Settings, many: Path) -> None:
    """bench/tune_fusion.py's query worth (a fusion it measures) is the sum of the query's
    terms' idf as FTS5's bm25() has it: BM25 / worth is then at most k1 + 1 = 2.2 a term."""
    import sqlite3

    from bench.tune_fusion import query_worth
    from searchengine.catalog import Catalog
    from searchengine.lexical import analyse_query

    texts = [p.read_text(encoding="utf-8") for p in many.rglob("*") if p.suffix in {".txt", ".md"}]
    db = sqlite3.connect(fake_shared.index_dir / "catalog.sqlite")
    try:
        n_chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        idf = {}
        for word in ("자동차", "bank", "INV"):
            expr = analyse_query(word).expression
            assert expr is not None
            holding = sum(1 for t in texts if word in t)  # one chunk a file here
            idf[word] = max(float(np.log((n_chunks - holding + 0.5) / (holding + 0.5))), 1e-6)
            assert query_worth(db, expr) == pytest.approx(idf[word]), word
        assert idf["자동차"] > 5 > idf["bank"]  # one file holds it; nearly all hold `bank`
        every = analyse_query("bank INV 자동차").expression
        assert every is not None
        assert query_worth(db, every) == pytest.approx(sum(idf.values()))
    finally:
        db.close()
    catalog = Catalog(fake_shared.index_dir / "catalog.sqlite", create=False)
    try:
        for m in catalog.lexical_matches('"자동차"', Filters(), 5):
            assert 0 < m.score / idf["자동차"] < 2.2
    finally:
        catalog.close()
