"""Scanned PDFs (pages with no text layer) are read by Tesseract and found by their words.

The scans are made here: Korean and English lines drawn with a CJK font, tilted,
blurred and saved as a low-quality JPEG, then wrapped as a PDF by Pillow (an
image per page, no text layer). The tests that run Tesseract skip where it is
missing, unless SEMSEARCH_OCR_REQUIRED is set (CI: `make test` installs it),
where that is a failure. A missing or spinning Tesseract is played by a script.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import OCR_REQUIRED, minimal_pdf, needs_tesseract, run_index
from PIL import Image

from bench.bench_ocr import cjk_font as find_cjk_font
from bench.bench_ocr import scanned_page
from indexer.extract import extract_text_bytes
from indexer.ocr import OcrOptions, read_text, status_line, unavailable
from searchengine import Index
from searchengine.errors import ExtractionError

ENGLISH = ["Insurance claim for the blue sedan", "The meeting moved to Thursday"]
KOREAN = ["자동차 보험 청구서 제출 안내", "고양이 사료 가격이 올랐습니다"]


def cjk_font() -> str:
    """A font with Hangul (fonts-noto-cjk, which `make browser` installs)."""
    font = find_cjk_font()
    if font is None:
        if OCR_REQUIRED:
            pytest.fail("no font with Hangul: `make browser` installs fonts-noto-cjk")
        pytest.skip("no font with Hangul to draw the scans (fonts-noto-cjk: `make browser`)")
    return font


def scanned_pdf(path: Path, pages: list[list[str]], font: str | None) -> Path:
    """A PDF of page images with no text layer, as a scanner writes it."""
    images = [scanned_page(lines, font) for lines in pages]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return path


def fake_tesseract(tmp_path: Path, then: str) -> str:
    """A `tesseract` that lists kor and eng and then does `then` (a shell command)."""
    script = tmp_path / "bin" / "tesseract"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  --list-langs) printf 'List of available languages (2):\\neng\\nkor\\n' ;;\n"
        "  --version) echo 'tesseract 5.3.0' ;;\n"
        # asked for files (OUTBASE txt tsv): what `then` prints is the text, and no words
        """  *) if [ "$2" != stdout ]; then printf 'level\\n' > "$2.tsv"; exec > "$2.txt"; fi\n"""
        f"     {then} ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return str(script)


@needs_tesseract
def test_scanned_pages_are_read_each_with_its_page_and_the_ocr_mark(tmp_path: Path) -> None:
    data = scanned_pdf(tmp_path / "scan.pdf", [ENGLISH, KOREAN], cjk_font()).read_bytes()
    passages = extract_text_bytes(data, ".pdf", ocr=OcrOptions())
    assert [(p.page, p.ocr) for p in passages] == [(1, True), (2, True)]
    assert "Thursday" in passages[0].text and "sedan" in passages[0].text
    assert "고양이" in passages[1].text and "자동차" in passages[1].text
    with pytest.raises(ExtractionError, match="no text layer.*--ocr off"):
        extract_text_bytes(data, ".pdf", ocr=OcrOptions(mode="off"))
    with pytest.raises(ExtractionError, match="no text layer.*--ocr off"):
        extract_text_bytes(data, ".pdf")  # a caller that asks for no OCR gets none


@needs_tesseract
def test_ocr_all_also_reads_a_scan_with_a_little_text_layer(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=scanned_pdf(tmp_path / "scan.pdf", [ENGLISH], None))
    stamp = PdfReader(io.BytesIO(minimal_pdf(["Box 7"])))  # a stamped header: a few words
    writer.pages[0].merge_page(stamp.pages[0])
    buf = io.BytesIO()
    writer.write(buf)
    data = buf.getvalue()
    (auto,) = extract_text_bytes(data, ".pdf", ocr=OcrOptions())
    assert (auto.text.strip(), auto.ocr) == ("Box 7", False)  # it has a text layer
    (read,) = extract_text_bytes(data, ".pdf", ocr=OcrOptions(mode="all"))
    assert read.ocr and read.page == 1 and "Thursday" in read.text


@needs_tesseract
@pytest.mark.slow
def test_a_scanned_pdf_is_found_by_its_words_and_shows_page_and_ocr(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder = tmp_path / "docs"
    scanned_pdf(folder / "claim.pdf", [ENGLISH, KOREAN], cjk_font())
    (folder / "note.txt").write_text("고양이 한 마리가 자동차 위에서 잔다")
    report = run_index(folder, fake_settings, encoders)
    assert not report.skipped
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("Thursday", k=5, mode="lexical")
        assert (Path(hit.path).name, hit.page, hit.place, hit.ocr) == (
            "claim.pdf",
            1,
            "page 1",
            True,
        )
        assert hit.to_json()["ocr"] is True and "Thursday" in hit.snippet
        hits = {Path(h.path).name: h for h in index.search("사료", k=5, mode="lexical")}
        assert set(hits) == {"claim.pdf"} and hits["claim.pdf"].page == 2
        both = {Path(h.path).name: h.to_json() for h in index.search("고양이", k=5, mode="lexical")}
        assert both["claim.pdf"]["ocr"] is True and both["claim.pdf"]["page"] == 2
        assert "ocr" not in both["note.txt"]  # text read the ordinary way carries no mark


def test_without_tesseract_a_scan_is_skipped_saying_why_and_the_run_goes_on(
    tmp_path: Path, fake_settings, encoders, monkeypatch, capsys
) -> None:
    folder = tmp_path / "docs"
    scanned_pdf(folder / "scan.pdf", [ENGLISH], None)
    (folder / "note.txt").write_text("the meeting moved to Thursday")
    missing = str(tmp_path / "nowhere" / "tesseract")
    settings = replace(fake_settings, tesseract=missing)
    report = run_index(folder, settings, encoders)
    ((path, reason),) = report.skipped
    assert Path(path).name == "scan.pdf"
    assert (
        "no text layer" in reason and "OCR is unavailable" in reason and "tesseract-ocr" in reason
    )
    assert report.added == 1  # the note
    line = status_line(OcrOptions(binary=missing))
    assert line.startswith("ocr:") and "unavailable" in line and "\n" not in line
    assert status_line(OcrOptions(mode="off")) == "ocr:     off"


def test_a_scan_skipped_without_tesseract_is_read_once_it_is_there(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder = tmp_path / "docs"
    scanned_pdf(folder / "scan.pdf", [ENGLISH], None)
    without = replace(fake_settings, tesseract=str(tmp_path / "nowhere" / "tesseract"))
    assert len(run_index(folder, without, encoders).skipped) == 1
    assert len(run_index(folder, without, encoders).skipped) == 1  # remembered, not retried
    reading = fake_tesseract(tmp_path, "echo 'the pangolin report'")
    report = run_index(folder, replace(fake_settings, tesseract=reading), encoders)
    assert not report.skipped and report.added + report.updated == 1
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("pangolin", k=3, mode="lexical")
        assert (Path(hit.path).name, hit.page, hit.ocr) == ("scan.pdf", 1, True)


def test_status_and_models_say_in_one_line_whether_ocr_runs(
    tmp_path: Path, fake_settings, encoders, capsys, monkeypatch
) -> None:
    from searchengine.cli.main import main

    monkeypatch.setenv("SEMSEARCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("ocr:")] == [status_line(OcrOptions())]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("the meeting moved to Thursday")
    run_index(tmp_path / "docs", fake_settings, encoders)
    assert main(["--index", str(fake_settings.index_dir), "status"]) == 0
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("ocr:")] == [status_line(OcrOptions())]
    # and --json says it as data, the same in both commands
    assert main(["--index", str(fake_settings.index_dir), "--json", "status"]) == 0
    said = json.loads(capsys.readouterr().out)["ocr"]
    assert main(["--json", "models"]) == 0
    assert json.loads(capsys.readouterr().out)["ocr"] == said
    assert said["mode"] == "auto" and said["available"] is (said["reason"] is None)
    assert said["available"] is (said["tesseract"] is not None)


def test_a_tesseract_that_spins_is_cut_off_and_the_run_goes_on(
    tmp_path: Path, fake_settings, encoders
) -> None:
    pid_file = tmp_path / "tesseract.pid"
    spinning = fake_tesseract(tmp_path, f"echo $$ > {pid_file}; exec sleep 60")
    folder = tmp_path / "docs"
    scanned_pdf(folder / "scan.pdf", [ENGLISH], None)
    (folder / "note.txt").write_text("the meeting moved to Thursday")
    settings = replace(fake_settings, tesseract=spinning, ocr_timeout_s=1.0)
    report = run_index(folder, settings, encoders)
    ((path, reason),) = report.skipped
    assert Path(path).name == "scan.pdf"
    assert reason == "OCR took longer than 1 s on one page (the OCR time limit)"
    assert report.added == 1
    with Index.open(settings=settings, encoders=encoders) as index:
        assert index.verify().clean
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left sleeping


def test_the_file_time_limit_also_ends_a_tesseract_without_its_own(
    tmp_path: Path, fake_settings, encoders
) -> None:
    pid_file = tmp_path / "tesseract.pid"
    spinning = fake_tesseract(tmp_path, f"echo $$ > {pid_file}; exec sleep 60")
    folder = tmp_path / "docs"
    scanned_pdf(folder / "scan.pdf", [ENGLISH], None)
    settings = replace(fake_settings, tesseract=spinning, ocr_timeout_s=0.0, file_timeout_s=2.0)
    report = run_index(folder, settings, encoders)
    ((_, reason),) = report.skipped
    assert "took longer than 2 s to read" in reason
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_long_scan_is_read_page_by_page_past_the_file_time_limit(
    tmp_path: Path, fake_settings, encoders
) -> None:
    # each page takes 0.7 s, the eight together 5.6 s: over the file's 2 s limit, which
    # starts again with every page read (a page that hangs is still cut off: above)
    slow = fake_tesseract(tmp_path, "sleep 0.7; echo 'the archived okapi ledger'")
    folder = tmp_path / "docs"
    scanned_pdf(folder / "archive.pdf", [ENGLISH] * 8, None)
    settings = replace(fake_settings, tesseract=slow, ocr_timeout_s=0.0, file_timeout_s=2.0)
    report = run_index(folder, settings, encoders)
    assert (report.added, report.skipped) == (1, [])
    with Index.open(settings=settings, encoders=encoders) as index:
        hits = index.search("okapi ledger", k=10, mode="lexical")
        assert {h.page for h in hits} <= set(range(1, 9)) and hits[0].ocr


def test_a_failing_tesseract_is_a_reason(tmp_path: Path) -> None:
    broken = fake_tesseract(tmp_path, "echo 'Error: cannot read input' >&2; exit 1")
    with pytest.raises(ExtractionError, match=r"OCR failed \(Error: cannot read input\)"):
        read_text(Image.new("L", (50, 20), 255), OcrOptions(binary=broken))


def test_ocr_off_or_another_mode_changes_the_reading_signature(tmp_path: Path) -> None:
    # installing Tesseract or turning OCR on retries the scans skipped without it
    missing = OcrOptions(binary=str(tmp_path / "none"))
    assert missing.signature() == "ocr=unavailable"
    assert OcrOptions(mode="off").signature() == "ocr=off"
    fake = fake_tesseract(tmp_path, "true")
    assert OcrOptions(binary=fake).signature() == "ocr=auto:kor+eng"
    assert unavailable(OcrOptions(binary=fake, languages="kor+fra")) == (
        "OCR is unavailable: Tesseract has no fra model (tesseract-ocr-fra)"
    )


def test_index_takes_the_ocr_options(capsys) -> None:
    from searchengine.cli.main import main

    with pytest.raises(SystemExit):
        main(["index", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--ocr {auto,all,off}" in out and "--ocr-languages LANGS" in out


def test_index_says_in_one_line_when_ocr_cannot_run_and_goes_on(
    tmp_path: Path, capsys, monkeypatch, tiny_bert_dir: Path
) -> None:
    from searchengine.cli.main import main

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text("the pangolin report")
    monkeypatch.setenv("SEMSEARCH_HOME", str(tmp_path / "home"))
    argv = ["--index", str(tmp_path / "index"), "index", str(folder), "--no-word-vectors"]
    argv += ["--ocr-languages", "xyz", "--text-model", str(tiny_bert_dir)]
    code = main(argv)
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "OCR is unavailable" in line]
    assert len(said) == 1 and "xyz" in said[0] and "pictures indexed without" in said[0], err
    assert code == 0
