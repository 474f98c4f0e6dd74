"""Hostile input: every bad file gets a clear skip reason and the run goes on."""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import time
import unicodedata
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import paths, run_index, search
from safety_helpers import slow_pdf

import indexer.reader
from indexer.changes import plan_changes, sha256_file
from indexer.extract import check_zip
from indexer.read_worker import ReadLimits, ReadRequest, read_file
from indexer.reader import FileReader
from indexer.walk import BAD_NAME, FoundFile, WalkProblem, walk
from searchengine import Encoders, Index, Settings
from searchengine.cli.main import main
from searchengine.config import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES
from searchengine.errors import ExtractionError, FileChangedError

ROOT = os.geteuid() == 0


def _reasons(summary) -> dict[str, str]:
    return {Path(p).name: r for p, r in summary.skipped}


def _skipped_in_catalog(settings: Settings, encoders: Encoders) -> set[str]:
    with Index.open(settings=settings, encoders=encoders) as index:
        return {Path(p).name for p, _ in index.status().skipped}


def _found(path: Path) -> FoundFile:
    st = path.stat()
    return FoundFile(str(path), "text", path.suffix, st.st_size, st.st_mtime_ns)


# files that change or vanish under the indexer


def _before_reading(monkeypatch, action) -> None:
    real = FileReader.read

    def read(self, req):  # type: ignore[no-untyped-def]
        action(Path(req.path))
        return real(self, req)

    monkeypatch.setattr(FileReader, "read", read)


def test_a_file_that_changes_while_being_read_is_retried_next_run(
    corpus, fake_settings, encoders, monkeypatch
):
    def grow(path: Path) -> None:
        if path.name == "car.txt":
            with open(path, "a") as fh:
                fh.write(" and a second engine")

    _before_reading(monkeypatch, grow)
    summary = run_index(corpus, fake_settings, encoders)
    assert "changed" in _reasons(summary)["car.txt"]
    assert summary.added == 5
    assert "car.txt" not in _skipped_in_catalog(fake_settings, encoders)  # not remembered as bad
    monkeypatch.undo()
    again = run_index(corpus, fake_settings, encoders)
    assert again.added == 1 and again.skipped == []


def test_a_file_that_disappears_is_skipped_and_the_run_goes_on(
    corpus, fake_settings, encoders, monkeypatch
):
    _before_reading(monkeypatch, lambda p: p.unlink() if p.name == "dog.md" else None)
    summary = run_index(corpus, fake_settings, encoders)
    assert _reasons(summary)["dog.md"] == "disappeared before it could be read"
    assert summary.added == 5 and "dog.md" not in _skipped_in_catalog(fake_settings, encoders)


def test_a_file_growing_while_it_is_hashed_is_not_trusted(tmp_path: Path) -> None:
    log = tmp_path / "app.txt"
    log.write_text("first line\n")
    found = _found(log)
    with open(log, "a") as fh:
        fh.write("second line\n")
    with pytest.raises(FileChangedError):
        sha256_file(found)
    plan = plan_changes([found], {})
    assert plan.added == [] and "changed while being read" in plan.unreadable[0][1]


# names


def test_symlink_loops_do_not_hang_or_duplicate(corpus: Path, fake_settings, encoders) -> None:
    os.symlink(corpus / "loop2.txt", corpus / "loop1.txt")
    os.symlink(corpus / "loop1.txt", corpus / "loop2.txt")
    os.symlink(corpus / "self.txt", corpus / "self.txt")
    os.symlink(corpus, corpus / "sub" / "back")  # a folder loop
    summary = run_index(corpus, fake_settings, encoders)
    reasons = _reasons(summary)
    for name in ("loop1.txt", "loop2.txt", "self.txt"):
        assert reasons[name] == "cannot stat: Too many levels of symbolic links"
    assert summary.added == 6  # the folder loop was not followed


def test_nfc_and_nfd_names_are_the_same_file(tmp_path: Path, fake_settings, encoders) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    name = "자동차 보험.txt"
    nfd = folder / unicodedata.normalize("NFD", name)
    nfc = folder / unicodedata.normalize("NFC", name)
    assert str(nfd) != str(nfc)
    nfd.write_text("자동차 보험 비용 보고서", encoding="utf-8")  # as macOS names it
    (folder / "other.txt").write_text("the dog and the banana")
    assert run_index(folder, fake_settings, encoders).added == 2

    with Index.open(settings=fake_settings, encoders=encoders) as index:
        found = index.search("자동차 보험 비용 보고서", spaces={"text"})
        assert found[0].path == str(nfd)  # stored as it is named
        for typed in (nfc, nfd):  # typed either way
            hits = index.similar(typed, k=5)
            assert [Path(h.path).name for h in hits] == ["other.txt"]  # itself left out

    os.rename(nfd, nfc)  # the same name, now NFC: a rename, its vectors kept
    summary = run_index(folder, fake_settings, encoders)
    assert (summary.moved, summary.added, summary.removed, summary.encoded) == (1, 0, 0, 0)
    hits = search(fake_settings, "자동차 보험 비용 보고서", spaces={"text"}, encoders=encoders)
    assert hits[0].path == str(nfc)

    nfd.write_text("a second file, same name in the other form")  # Linux allows both
    summary = run_index(folder, fake_settings, encoders)
    assert "another Unicode form" in _reasons(summary)[nfd.name]
    assert summary.added == 0 and summary.updated == 0


def test_names_with_spaces_quotes_and_newlines(tmp_path: Path, settings, capsys) -> None:
    folder = tmp_path / "odd names"
    folder.mkdir()
    names = ['it\'s "quoted".txt', "two\nlines.txt", "  spaced  out .md", "tab\there.txt"]
    for n, name in enumerate(names):
        (folder / name).write_text(f"the {['car', 'dog', 'banana', 'bread'][n]} note {n}")
    assert run_index(folder, settings).added == 4
    base = ["--index", str(settings.index_dir)]
    assert main([*base, "search", "the car note", "--json", "-k", "4"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert {h["path"] for h in hits} == {str(folder / n) for n in names}  # real names in JSON
    for name in names:
        assert main([*base, "similar", str(folder / name), "--json"]) == 0
        assert str(folder / name) not in json.loads(capsys.readouterr().out)["hits"]
    assert main([*base, "search", "the dog note 1", "-k", "4"]) == 0
    out = capsys.readouterr().out
    assert "two\\nlines.txt" in out and "tab\\there.txt" in out  # escaped, one line each
    assert len(out.strip().splitlines()) == 8


def test_a_name_that_is_not_utf8_is_skipped(corpus: Path, settings, capsys) -> None:
    bad = os.fsencode(str(corpus)) + b"/caf\xe9.txt"
    with open(bad, "wb") as fh:
        fh.write(b"the car")
    summary = run_index(corpus, settings)
    assert summary.added == 6
    ((path, reason),) = [(p, r) for p, r in summary.skipped if "caf" in p]
    assert reason == BAD_NAME and path.endswith("caf\\xe9.txt")
    code = main(["--index", str(settings.index_dir), "index", str(corpus), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["skipped"] == 1


# permissions


@pytest.mark.skipif(ROOT, reason="root reads everything; see the simulated test below")
def test_permission_denied_for_real(corpus: Path, fake_settings, encoders) -> None:
    (corpus / "secret.txt").write_text("the car keys")
    (corpus / "secret.txt").chmod(0)
    (corpus / "locked").mkdir()
    (corpus / "locked" / "inside.txt").write_text("x")
    (corpus / "locked").chmod(0)
    try:
        summary = run_index(corpus, fake_settings, encoders)
    finally:
        (corpus / "secret.txt").chmod(0o644)
        (corpus / "locked").chmod(0o755)
    reasons = _reasons(summary)
    assert "Permission denied" in reasons["secret.txt"]
    assert reasons["locked"] == "cannot list folder: Permission denied"
    assert summary.added == 6


def test_permission_denied_simulated(corpus: Path, monkeypatch) -> None:
    secret = corpus / "car.txt"
    st = secret.stat()
    req = ReadRequest(str(secret), "text", st.st_size, st.st_mtime_ns, "x")
    limits = ReadLimits(10**9, 0, 10**9, 100, 10**8, 256, 0)

    def denied(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("indexer.read_worker.open", denied, raising=False)
    assert read_file(req, limits).reason == "permission denied"
    monkeypatch.undo()

    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = [x for x in walk(corpus) if isinstance(x, WalkProblem)]
    assert [(Path(p.path).name, p.reason) for p in problems] == [
        ("sub", "cannot list folder: Permission denied")
    ]


# bombs


def _docx_with(member_bytes: int) -> bytes:
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        with dst.open("word/media/padding.bin", "w") as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(member_bytes >> 20):
                fh.write(chunk)
    return out.getvalue()


def test_zip_bombs_in_docx_are_refused_before_unpacking(
    corpus: Path, fake_settings, encoders
) -> None:
    (corpus / "size_bomb.docx").write_bytes(_docx_with(24 << 20))
    (corpus / "ratio_bomb.docx").write_bytes(_docx_with(4 << 20))  # 4 MB packed 130 to 1
    settings = replace(fake_settings, max_unpacked_bytes=16 << 20, max_unpack_ratio=100)
    summary = run_index(corpus, settings, encoders)
    reasons = _reasons(summary)
    assert "past the 16,777,216-byte limit (a zip bomb?)" in reasons["size_bomb.docx"]
    assert "to 1, past the 100 to 1 limit (a zip bomb?)" in reasons["ratio_bomb.docx"]
    assert summary.added == 6
    with pytest.raises(ExtractionError, match="zip bomb"):  # the default limits
        check_zip(_docx_with(24 << 20), DEFAULT_MAX_UNPACKED_BYTES, DEFAULT_MAX_UNPACK_RATIO)
    check_zip(_docx_with(0), 1 << 20, 50)  # an ordinary .docx passes


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_decompression_bombs_in_images_are_refused(corpus: Path, fake_settings, encoders) -> None:
    (corpus / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    from PIL import Image

    Image.new("RGB", (100, 100), "green").save(corpus / "just_over.png")  # 10,000 pixels
    summary = run_index(corpus, replace(fake_settings, max_image_pixels=8_000), encoders)
    reasons = _reasons(summary)
    assert reasons["bomb.png"].startswith("image too large to decode safely")
    # Pillow only warns between one and two times its limit: refused all the same
    assert reasons["just_over.png"].startswith("image too large to decode safely")
    assert summary.added == 6


# time limits


def test_a_pdf_that_keeps_the_parser_busy_is_cut_off(corpus: Path, fake_settings, encoders) -> None:
    (corpus / "slow.pdf").write_bytes(slow_pdf(1_000_000))  # about 10 s of pypdf
    started = time.monotonic()
    summary = run_index(corpus, replace(fake_settings, file_timeout_s=1.0), encoders)
    assert time.monotonic() - started < 30
    assert _reasons(summary)["slow.pdf"] == (
        "took longer than 1 s to read (the --file-timeout limit)"
    )
    assert summary.added == 6
    # remembered: an unchanged slow file is not read again
    started = time.monotonic()
    again = run_index(corpus, replace(fake_settings, file_timeout_s=1.0), encoders)
    assert "slow.pdf" in _reasons(again) and time.monotonic() - started < 15


def test_a_reader_stuck_past_its_own_timer_is_killed_and_replaced(tmp_path, monkeypatch):
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(slow_pdf(1_000_000))
    fine = tmp_path / "fine.txt"
    fine.write_text("the car")
    monkeypatch.setattr(indexer.reader, "GRACE_S", -2.5)  # the parent gives up first
    limits = ReadLimits(10**9, 3.0, 10**9, 100, 10**8, 256, 0)
    with FileReader(limits) as reader:
        started = time.monotonic()
        reply = reader.read(_request(slow))
        assert reply.status == "skip" and "took longer than 3 s" in reply.reason
        assert time.monotonic() - started < 2.5
        assert reader.read(_request(fine)).status == "text"  # a new worker took over


def test_a_reader_that_dies_costs_one_file(tmp_path) -> None:
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(slow_pdf(1_000_000))
    fine = tmp_path / "fine.txt"
    fine.write_text("the dog")
    limits = ReadLimits(10**9, 60.0, 10**9, 100, 10**8, 256, 0)
    with FileReader(limits) as reader:
        assert reader.read(_request(fine)).status == "text"
        proc = reader._proc
        threading.Timer(0.5, proc.kill).start()
        reply = reader.read(_request(slow))
        assert reply.reason == "the file reader died on it (signal 9)"
        assert reader.read(_request(fine)).status == "text"


def _request(path: Path) -> ReadRequest:
    import hashlib

    st = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return ReadRequest(str(path), "text", st.st_size, st.st_mtime_ns, digest)


# size


def test_files_past_the_size_limit_are_skipped_without_being_read(corpus, settings, capsys):
    (corpus / "huge.txt").write_text("the car " * 2000)
    summary = run_index(corpus, replace(settings, max_file_bytes=1000))
    assert _reasons(summary)["huge.txt"] == "larger than the 1,000-byte limit"
    found = [_found(corpus / "huge.txt")]

    def never(f):  # type: ignore[no-untyped-def]
        raise AssertionError("a file past the limit was read")

    assert plan_changes(found, {}, never, max_bytes=1000).too_large == found
    code = main(["--index", str(settings.index_dir), "index", str(corpus), "--max-file-mb", "1"])
    assert code == 0
    assert "huge.txt" in paths(search(settings, "the car the car the car", spaces={"text"}))
    capsys.readouterr()
