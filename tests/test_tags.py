"""Image tags: stored with the image, found by their words, shown on the hit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchengine import Index
from searchengine.models.tags import MAX_CATEGORY_TAGS, MAX_TAGS, Tagger, categories, class_names


def names(results) -> list[str]:
    return [Path(h.path).name for h in results]


def test_image_hits_carry_their_tags(index: Index) -> None:
    hits = {Path(h.path).name: h for h in index.search("red", k=10, spaces={"image"})}
    assert [t.en for t in hits["red.png"].tags] == ["red"]
    assert hits["red.png"].to_json()["tags"][0]["ko"] == "빨간색"
    text_hit = index.search("puppy", k=1, spaces={"text"})[0]
    assert "tags" not in text_hit.to_json()  # documents' JSON is unchanged


@pytest.mark.parametrize("words", ["red", "빨간색", "빨간색을"])
def test_lexical_mode_finds_images_by_their_tags(index: Index, words: str) -> None:
    results = index.search(words, k=5, mode="lexical", spaces={"image"})
    assert names(results) == ["red.png"] and not results.notes
    assert "bm25" in results[0].extra  # ranked by its words (tiny BM25 with two images)


def test_hybrid_mode_ranks_a_tagged_image_first(index: Index) -> None:
    assert names(index.search("파란색", k=1, spaces={"image"})) == ["blue.jpg"]


def test_no_tag_matching_says_so(index: Index) -> None:
    results = index.search("banana", k=5, mode="lexical", spaces={"image"})
    assert len(results) == 0 and "no image is tagged" in results.notes[0]


def test_tags_follow_the_file(index: Index, corpus: Path) -> None:
    (corpus / "red.png").rename(corpus / "renamed.png")
    index.add(corpus)
    assert names(index.search("빨간색", k=5, mode="lexical", spaces={"image"})) == ["renamed.png"]
    (corpus / "renamed.png").unlink()
    index.add(corpus)
    assert len(index.search("빨간색", k=5, mode="lexical", spaces={"image"})) == 0
    assert index.verify().clean


def test_class_names_are_complete_and_bilingual() -> None:
    rows = class_names()
    assert len(rows) == 1000
    assert rows[967] == ("espresso", "에스프레소")
    assert all(en and any("가" <= ch <= "힣" for ch in ko) for en, ko in rows)


def test_tagger_keeps_confident_labels_only() -> None:
    weight = np.zeros((1000, 2), np.float32)
    weight[967, 0] = 12.0  # espresso, when the first feature fires
    weight[281, 1] = 3.0  # tabby, weakly, on the second
    tagger = Tagger(weight, np.zeros(1000, np.float32), threshold=0.5)
    confident, unsure = tagger.tags(np.array([[1.0, 0.0], [0.0, 1.0]]))
    # the class, then its everyday categories, narrowest first (coffee: espresso alone)
    assert [t.ko for t in confident] == ["에스프레소", "커피", "음료"] and confident[0].score > 0.9
    assert unsure == ()  # 3.0 over 1,000 classes is far from sure
    everything = Tagger(weight, np.zeros(1000), 0.0).tags(np.ones((1, 2)))[0]
    assert len(everything) == MAX_TAGS + MAX_CATEGORY_TAGS


def test_a_category_sums_the_probabilities_of_its_classes() -> None:
    """Five cat breeds at 0.2 each: no breed is sure, but it is surely a cat."""
    breeds = [281, 282, 283, 284, 285]  # tabby, tiger cat, Persian, Siamese, Egyptian Mau
    weight = np.zeros((1000, 1), np.float32)
    weight[breeds, 0] = 20.0
    (tags,) = Tagger(weight, np.zeros(1000, np.float32), threshold=0.5).tags(np.ones((1, 1)))
    assert [t.ko for t in tags] == ["고양이", "고양잇과 동물", "포유류", "동물"]
    assert tags[0].en == "domestic cat" and tags[0].score == pytest.approx(1.0, abs=1e-6)


def test_categories_are_bilingual_and_cover_their_classes() -> None:
    cats = {c.en: c for c in categories()}
    assert len(cats) >= 90
    assert sorted(cats["domestic cat"].classes.tolist()) == [281, 282, 283, 284, 285]
    assert cats["coffee"].classes.tolist() == [967] and cats["coffee"].ko == "커피"
    assert len(cats["dog"].classes) == 118 and "강아지" in cats["dog"].ko.split("·")
    # every category is narrower than 동물 or is 동물; the narrowest come first
    sizes = [len(c.classes) for c in categories()]
    assert sizes == sorted(sizes) and max(sizes) == len(cats["animal"].classes)
    assert all(any("가" <= ch <= "힣" for ch in c.ko) for c in categories())
