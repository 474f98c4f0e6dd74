"""Pictures that hold text (screenshots, photos of pages) are read by OCR and found by
their words, as pictures: one hit, an OCR snippet, their image vector and tags kept.

The gate is checked on real photos (`evalsets/photos`: none may be read) and on
screenshots and page photos drawn by the benchmark's own functions. Tests that run
Tesseract skip where it is missing, unless SEMSEARCH_OCR_REQUIRED is set (CI).
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import needs_tesseract, run_index
from PIL import Image
from test_ocr import cjk_font, fake_tesseract

from bench.bench_picture_ocr import page_photo, screenshot
from indexer.ocr import OcrOptions, Word, hangul_ending, in_neighbour_box, read, splice
from indexer.picture_text import gate_view, read_picture, text_score, wants_ocr
from searchengine import Index
from searchengine.models.images import decode_upright

ROOT = Path(__file__).resolve().parent.parent
LINES = [
    "주간 회의록: 신제품 출시 일정 검토",
    "The invoice for the delivery truck is overdue",
    "다음 회의는 목요일 오후 두 시입니다",
    "Backup of the payroll server finished at 02:13",
]


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_the_gate_sees_text_in_screenshots_and_page_photos() -> None:
    font = cjk_font()
    for picture in (
        screenshot(LINES, font, size=15),
        screenshot(LINES, font, size=16, dark=True),
        page_photo(LINES, font, seed=3),
    ):
        assert text_score(picture).has_text, text_score(picture)


def test_the_gate_reads_no_real_photo() -> None:
    photos = sorted((ROOT / "evalsets/photos").glob("*.jpg"))
    assert len(photos) >= 25
    read = [p.name for p in photos if text_score(Image.open(p).convert("RGB")).has_text]
    assert read == []


def test_a_tall_screenshot_is_seen_at_a_size_its_text_keeps() -> None:
    tall = screenshot(LINES * 40, cjk_font(), size=15, width=1200)  # a scrolling capture
    upright = decode_upright(io.BytesIO(png(tall)), 1024)
    model_view = upright.copy()
    model_view.thumbnail((1024, 1024))
    assert not text_score(model_view).has_text  # 1024 px tall: the text is a grey smear
    view = gate_view(upright, model_view)
    assert view.width == 1024 and text_score(view).has_text


def test_words_read_better_replace_theirs_in_tesseracts_own_text() -> None:
    text = "패키지 업그레이드가 '553616ㅇ 안에\n\nLinux Kernel\n"
    words = [
        Word(t, 0, 0, 10, 10, c)
        for t, c in (("패키지", 95), ("업그레이드가", 93), ("'553616ㅇ", 31), ("안에", 96))
    ]
    words += [Word("Linux", 0, 20, 10, 10, 96), Word("Kernel", 20, 20, 10, 10, 80)]
    better = {2: Word("'stable'", 0, 0, 10, 10, 92)}
    assert splice(text, words, better) == "패키지 업그레이드가 'stable' 안에\n\nLinux Kernel\n"
    lost = [Word("Nest", 0, 0, 10, 10, 10)]  # not in the text: nothing changes
    assert splice(text, lost, {0: Word("Next", 0, 0, 10, 10, 99)}) == text


@needs_tesseract
def test_latin_words_inside_korean_lines_come_back_as_written() -> None:
    from bench.bench_ocr import scanned_page

    lines = [
        "보안 업데이트는 security.debian.org 에서 받습니다",
        "dpkg-divert 명령으로 /bin/login 파일을 대신합니다",
    ]
    text = read(scanned_page(lines, cjk_font()), OcrOptions(), "6").text
    for word in ("security.debian.org", "dpkg-divert", "/bin/login", "업데이트는", "명령으로"):
        assert word in text, text


def test_ocr_off_or_no_tesseract_reads_no_picture(tmp_path: Path) -> None:
    shot = screenshot(LINES, cjk_font())
    assert not wants_ocr(None, shot)
    assert not wants_ocr(OcrOptions(mode="off"), shot)
    assert not wants_ocr(OcrOptions(binary=str(tmp_path / "no-tesseract")), shot)
    photo = Image.open(ROOT / "evalsets/photos/coffee.jpg")
    spinning = OcrOptions(binary=fake_tesseract(tmp_path, "exit 1"))
    assert not wants_ocr(spinning, photo)  # auto: the gate says no, Tesseract never starts
    assert wants_ocr(replace(spinning, mode="all"), photo)


@needs_tesseract
def test_a_screenshot_is_read_and_a_photo_keeps_no_words() -> None:
    (passage,) = read_picture(png(screenshot(LINES, cjk_font(), size=16)), OcrOptions())
    assert passage.ocr and "invoice" in passage.text and "회의록" in passage.text
    photo = (ROOT / "evalsets/photos/chelsea_cat.jpg").read_bytes()
    assert read_picture(photo, OcrOptions(mode="all")) == []  # fur read as letters: not sure


@needs_tesseract
@pytest.mark.slow
def test_a_picture_is_found_by_its_words_once_with_its_tags_and_vector(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    font = cjk_font()
    (folder / "회의_캡처.png").write_bytes(png(screenshot(LINES, font, size=16)))
    page_photo(["The payroll server backup failed twice", "급여 서버 백업 실패"], font, 7).save(
        folder / "phone.jpg", quality=70
    )
    Image.open(ROOT / "evalsets/photos/coffee.jpg").save(folder / "coffee.jpg")
    report = run_index(folder, fake_settings, encoders)
    assert (report.images, report.skipped) == (3, [])
    assert report.chunks >= 2  # the two pictures' words; the coffee has none
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        hits = index.search("invoice delivery truck", k=10)
        names = [Path(h.path).name for h in hits]
        assert names.count("회의_캡처.png") == 1  # in both spaces' lists, shown once
        (shot,) = [h for h in hits if Path(h.path).name == "회의_캡처.png"]
        assert (shot.kind, shot.ocr) == ("image", True) and "invoice" in shot.snippet
        assert shot.to_json()["ocr"] is True
        lexical = index.search("회의록", k=5, mode="lexical")
        assert [Path(h.path).name for h in lexical] == ["회의_캡처.png"]
        payroll = index.search("payroll", k=5, mode="lexical")
        assert {Path(h.path).name for h in payroll} == {"회의_캡처.png", "phone.jpg"}
        looks = index.search("anything", k=10, spaces={"image"}, mode="dense")
        assert {Path(h.path).name for h in looks} == {"회의_캡처.png", "phone.jpg", "coffee.jpg"}
        assert index.verify().clean
    off = replace(fake_settings, index_dir=tmp_path / "off", ocr="off")
    report = run_index(folder, off, encoders)
    assert (report.images, report.chunks) == (3, 0)


def test_a_tesseract_that_spins_on_a_picture_costs_its_words_not_the_picture(
    tmp_path: Path, fake_settings, encoders
) -> None:
    spinning = fake_tesseract(tmp_path, "exec sleep 60")
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "shot.png").write_bytes(png(screenshot(LINES, cjk_font())))
    settings = replace(fake_settings, tesseract=spinning, ocr_timeout_s=1.0)
    report = run_index(folder, settings, encoders)
    assert (report.images, report.chunks, report.skipped) == (1, 0, [])


# Latin words with a Korean particle: each model alone misreads the half it does not know


MIXED_LINES = [
    "새 버전의 testing에 들어가기 전에 unstable에서 먼저 시험합니다.",
    "패키지 XYZ-3.7이 stable에 들어가려면 release팀의 승인이 필요합니다.",
    "apt를 실행하고 dpkg로 설치한 뒤 kernel을 다시 시작하세요.",
    "이 문서는 Debian의 FAQ를 옮긴 것입니다.",
]
MIXED_WORDS = re.findall(r"[A-Za-z][A-Za-z0-9.-]*[가-힣]+", " ".join(MIXED_LINES))


def test_a_korean_reading_that_ends_in_hangul_after_latin_is_a_mixed_word() -> None:
    def part(text: str, left: int, width: int = 20) -> Word:
        return Word(text, left, 0, width, 20, 90.0)

    x, ending = hangul_ending([part("1658008", 0, 70), part("에", 72)])
    assert (x, ending.text) == (72, "에")
    assert hangul_ending([part("165", 0), part("에", 22), part("서", 44)])[1].text == "에서"
    assert hangul_ending([part("버그가", 0)]) is None  # all Hangul: a Korean word
    assert hangul_ending([part("RC", 0)]) is None  # no Hangul ending
    assert hangul_ending([part("1", 0), part("에", 22)]) is None  # one mark: too little
    assert hangul_ending([part("가1", 0), part("에", 22)]) is None


def test_what_lies_in_the_next_words_box_is_that_words() -> None:
    words = [Word("×\\2", 615, 667, 85, 33, 32.0), Word("에", 670, 662, 25, 53, 93.0)]
    assert in_neighbour_box(words, 0, Word("에", 674, 665, 29, 40, 95.0))
    assert not in_neighbour_box(words, 0, Word("×\\2", 615, 667, 60, 33, 40.0))
    assert not in_neighbour_box(words, 0, Word("에", 674, 900, 29, 40, 95.0))  # another line


@needs_tesseract
def test_latin_words_with_korean_particles_are_read_whole() -> None:
    buf = io.BytesIO()
    screenshot(MIXED_LINES, cjk_font(), size=15).save(buf, "PNG")
    (passage,) = read_picture(buf.getvalue(), OcrOptions())
    found = [w for w in MIXED_WORDS if w in passage.text]
    # before the Latin half was read on its own: none of the 10 (`testingol]`, `kernelS`)
    assert len(found) >= 6, (found, passage.text)


@needs_tesseract
def test_a_picture_indexed_without_ocr_is_read_once_ocr_runs(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    lines = ["Quarterly budget of the okapi sanctuary", "오카피 보호구역 분기 예산"]
    screenshot(lines, cjk_font(), size=16).save(folder / "budget.png")
    without = replace(fake_settings, tesseract=str(tmp_path / "nowhere" / "tesseract"))
    first = run_index(folder, without, encoders)
    assert (first.added, first.skipped) == (1, [])  # a picture all the same
    again = run_index(folder, without, encoders)
    assert (again.unchanged, again.encoded) == (1, 0)  # the same limits: not read again
    off = run_index(folder, replace(fake_settings, ocr="off"), encoders)
    assert off.updated == 1  # other limits: read again (still without words)
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        assert index.search("okapi sanctuary", k=3, mode="lexical").hits == ()
    report = run_index(folder, fake_settings, encoders)  # Tesseract is there now
    assert (report.updated, report.skipped) == (1, [])
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("okapi sanctuary", k=3, mode="lexical")
        assert (Path(hit.path).name, hit.ocr) == ("budget.png", True)
        assert index.verify().clean
    last = run_index(folder, fake_settings, encoders)
    assert (last.unchanged, last.encoded) == (1, 0)  # read with OCR: never again
