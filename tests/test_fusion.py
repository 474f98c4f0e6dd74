"""Fusion of dense and lexical scores, the good-match cut-off, and the rank merge."""

from __future__ import annotations

import numpy as np
import pytest

from searchengine.lexical import analyse_query, looks_exact
from searchengine.models.text_encoder import BATCH_ON_TORCH
from searchengine.query.fusion import (
    GOOD_MATCH,
    REFERENCE_CALL,
    Background,
    Scored,
    fuse_hybrid,
    good_match_z,
    merge_by_rank,
    reference_background,
)


def test_zscore_is_against_the_querys_own_background() -> None:
    rng = np.random.default_rng(0)
    sample = rng.normal(size=(500, 16)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    query = sample[:1] * 0.5 + sample[1:2] * 0.5
    query /= np.linalg.norm(query)
    sims = sample @ query[0]
    z = Background(sample).zscore(query, np.array([sims.mean(), sims.mean() + 2 * sims.std()]))
    assert z == pytest.approx([0.0, 2.0], abs=1e-4)
    # a compressed scale (e5's 0.75-0.95) gives the same z as a wide one
    squeezed = Background(sample).zscore(query, sims[:5])
    assert np.allclose(squeezed, (sims[:5] - sims.mean()) / sims.std(), atol=1e-4)


def test_the_cut_off_moves_with_the_size_of_the_search() -> None:
    cutoff = GOOD_MATCH["semsearch-clip"]
    z, calibrated = good_match_z("semsearch-clip", cutoff.vectors)
    assert calibrated and z == pytest.approx(cutoff.z)
    small, _ = good_match_z("semsearch-clip", 100)
    large, _ = good_match_z("semsearch-clip", 1_000_000)
    assert small < z < large
    assert small == pytest.approx(2.7, abs=0.1)  # measured optimum at 100 images: 2.75
    _, calibrated = good_match_z("some/other-model", 1000)
    assert not calibrated
    text = GOOD_MATCH["e5-small"]
    assert good_match_z("e5-small", 8)[0] == pytest.approx(text.z)  # never lower for text
    assert good_match_z("e5-small", 100_000)[0] > text.z


def test_hybrid_adds_normalised_bm25_to_the_dense_z() -> None:
    items = [
        Scored(1, dense_z=4.0, lexical=0.0),
        Scored(2, dense_z=3.5, lexical=10.0),
        Scored(3, dense_z=3.0, lexical=5.0),
    ]
    assert [s.file_id for s in fuse_hybrid(items, 0.0)] == [1, 2, 3]
    ranked = fuse_hybrid(items, 1.0)
    assert [s.file_id for s in ranked] == [2, 1, 3]  # 4.5, 4.0, 3.5
    assert ranked[0].fused == pytest.approx(4.5)
    # BM25 is divided by the query's best, so its scale does not matter
    scaled = [Scored(s.file_id, dense_z=s.dense_z, lexical=s.lexical * 37) for s in items]
    assert [s.file_id for s in fuse_hybrid(scaled, 1.0)] == [2, 1, 3]
    # ties go to the lower file id, so pages are stable
    tied = [Scored(9, dense_z=1.0), Scored(4, dense_z=1.0)]
    assert [s.file_id for s in fuse_hybrid(tied, 1.0)] == [4, 9]


@pytest.mark.parametrize(
    ("query", "exact"),
    [
        ("dpkg-divert", True),
        ("/etc/apt/sources.list", True),
        ("__slots__", True),
        ("0.19999999999999996", True),
        ("libpaper1", True),
        ("패키지를 보류하려면 어떻게 하나요?", False),
        ("How do I make a Python script executable on Unix?", False),
        ("what is sid", False),
    ],
)
def test_exact_queries_are_told_apart(query: str, exact: bool) -> None:
    assert looks_exact(query) is exact


def test_spaces_merge_by_rank_not_by_score() -> None:
    text, images = ["t1", "t2", "t3"], ["i1"]
    assert merge_by_rank([text, images]) == ["t1", "i1", "t2", "t3"]
    assert merge_by_rank([[], images]) == ["i1"]


def test_reference_vectors_are_encoded_once_per_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        rng = np.random.default_rng(len(texts))
        v = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    first = reference_background("model-a", encode, tmp_path)
    once = len(calls)
    again = reference_background("model-a", encode, tmp_path)
    assert sum(calls) >= 100 and len(calls) == once  # the shipped passages, Korean and English
    # a few at a time: a call as big as an indexing batch would load the text model's torch
    assert max(calls) <= REFERENCE_CALL < BATCH_ON_TORCH
    assert np.array_equal(first.sample, again.sample) and len(first.sample) == sum(calls)
    reference_background("model-b", encode, tmp_path)
    assert len(calls) == 2 * once  # another model, other vectors
    (tmp_path / "backgrounds" / "model-a.npy").write_bytes(b"not numpy")
    reference_background("model-a", encode, tmp_path)
    assert len(calls) == 3 * once  # a damaged cache is encoded again, not trusted


def test_image_tags_weigh_more_than_words_in_text() -> None:
    from searchengine.query.fusion import LEXICAL_WEIGHT, TAG_WEIGHT, lexical_weight

    coffee, code = analyse_query("커피"), analyse_query("0x80070005")
    assert not coffee.exact and code.exact  # the record says it once for every stage
    assert (
        lexical_weight(coffee.exact)
        == LEXICAL_WEIGHT
        < lexical_weight(coffee.exact, tags=True)
        == TAG_WEIGHT
    )
    assert lexical_weight(code.exact, tags=True) >= lexical_weight(code.exact)
