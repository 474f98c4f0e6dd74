"""A mail's attached files are items of their own, under the mail: a hit on an attachment's
words is the attachment ('mail.eml/2/notes.docx', within the mail), with its own kind, and
it comes and goes with its mail.

Documents attached (PDF, Word, a mail forwarded as an attachment) are read by their
own readers; a picture attached is read by OCR where the gate sees text; a file that
cannot be read is left out and the mail is indexed all the same.
"""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest
from helpers import minimal_pdf, needs_tesseract, run_index
from test_formats import write_msg
from test_ocr import cjk_font

from bench.bench_picture_ocr import screenshot
from indexer.extract import MAX_MAIL_DEPTH, extract_document, extract_text_bytes
from indexer.ocr import OcrOptions
from searchengine import Index
from searchengine.filters import Filters


def word_file(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def mail(body: str, attached: dict[str, tuple[bytes, str] | EmailMessage]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "분기 자료 송부"
    message["From"] = "김철수 <cs.kim@example.kr>"
    message.set_content(body, charset="utf-8")
    for name, item in attached.items():
        if isinstance(item, EmailMessage):  # forwarded as an attachment: message/rfc822
            message.add_attachment(item, filename=name)
            continue
        data, kind = item
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def test_attached_documents_are_items_of_their_own_named_by_their_place() -> None:
    raw = mail(
        "자료를 첨부합니다.",
        {
            "보고서.pdf": (minimal_pdf(["pangolin census 2026"]), "application/pdf"),
            "notes.docx": (word_file("the wombat budget"), "application/octet-stream"),
            "unknown.bin": (b"\x00\x01", "application/octet-stream"),
            "broken.docx": (b"PK\x03\x04 not a zip", "application/octet-stream"),
        },
    ).as_bytes()
    (body,), attached = extract_document(raw, ".eml")
    assert body.page is None and "자료를 첨부합니다" in body.text
    assert "pangolin" not in body.text  # the mail's own text is its own
    # numbered in the mail's order; the unknown and the broken one are left out
    assert [a.name for a in attached] == ["1/보고서.pdf", "2/notes.docx"]
    assert "pangolin census" in attached[0].passages[0].text
    assert attached[0].passages[0].page == 1  # the attached PDF's own page
    assert "wombat budget" in attached[1].passages[0].text
    assert extract_text_bytes(raw, ".eml") == [body]


def test_a_forwarded_mail_and_its_attachments_are_items_but_not_without_end() -> None:
    inner = mail("the original about the capybara", {"plan.docx": (word_file("okapi"), "a/b")})
    raw = mail("FYI", {"original.eml": inner}).as_bytes()
    _, attached = extract_document(raw, ".eml")
    assert [a.name for a in attached] == ["1/original.eml", "1/original.eml/1/plan.docx"]
    assert "capybara" in attached[0].passages[0].text
    assert "okapi" not in attached[0].passages[0].text
    nested = inner
    for _ in range(MAX_MAIL_DEPTH + 1):
        nested = mail("fwd", {"fwd.eml": nested})
    _, attached = extract_document(nested.as_bytes(), ".eml")
    text = "\n".join(p.text for a in attached for p in a.passages)
    assert "capybara" not in text and "fwd" in text  # too deep: not opened, no error
    assert len(attached) == MAX_MAIL_DEPTH


def test_an_attachment_name_is_one_path_segment() -> None:
    raw = mail("x", {"../../etc/passwd.txt": (b"the tapir note", "text/plain")}).as_bytes()
    _, (a,) = extract_document(raw, ".eml")
    assert a.name == "1/passwd.txt"


def test_outlook_attachments_are_read_too(tmp_path: Path) -> None:
    path = write_msg(tmp_path / "memo.msg", attached={"예산.docx": word_file("the okapi plan")})
    (body,), (attachment,) = extract_document(path.read_bytes(), ".msg")
    assert "meerkat" in body.text
    assert attachment.name == "1/예산.docx"
    assert "okapi plan" in attachment.passages[0].text


def _mail_folder(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "mail"
    folder.mkdir()
    raw = mail(
        "quarterly figures attached",
        {
            "census.pdf": (minimal_pdf(["pangolin census 2026"]), "application/pdf"),
            "notes.docx": (word_file("the wombat budget"), "application/octet-stream"),
        },
    )
    path = folder / "quarter.eml"
    path.write_bytes(raw.as_bytes())
    return folder, path


def test_an_attachment_is_found_as_its_own_item_within_its_mail(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder, path = _mail_folder(tmp_path)
    report = run_index(folder, fake_settings, encoders)
    assert (report.added, report.attached, report.skipped) == (1, 2, [])
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("pangolin census", k=3, mode="lexical")
        assert hit.path == f"{path}/1/census.pdf" and hit.within == str(path)
        assert hit.place == "page 1" and hit.to_json()["within"] == str(path)
        item = index.item(hit.file_id)
        assert item is not None and item.within == str(path) and item.on_disk == str(path)
        (mail_hit,) = index.search("quarterly figures", k=3, mode="lexical")
        assert mail_hit.path == str(path) and mail_hit.within is None
        # an attachment has its own kind: a Word file attached is found as one
        (word,) = index.search("wombat", k=3, mode="lexical", filters=Filters(formats=("docx",)))
        assert word.path == f"{path}/2/notes.docx"
        only_word = Filters(formats=("docx",))
        assert index.search("quarterly", k=3, mode="lexical", filters=only_word).hits == ()
        assert index.verify().clean  # its path is not on disk, and that is no problem
        counts = index.status().counts
        assert (counts["files"], counts["attached"]) == (3, 2)


def test_attachments_go_with_their_mail(tmp_path: Path, fake_settings, encoders) -> None:
    folder, path = _mail_folder(tmp_path)
    run_index(folder, fake_settings, encoders)
    # the mail changes: its attachments are read again, the one gone is gone
    notes = {"notes.docx": (word_file("the wombat budget"), "application/octet-stream")}
    path.write_bytes(mail("only notes now", notes).as_bytes())
    report = run_index(folder, fake_settings, encoders)
    assert (report.updated, report.attached) == (1, 1)
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        assert index.search("pangolin", k=3, mode="lexical").hits == ()
        (hit,) = index.search("wombat", k=3, mode="lexical")
        assert hit.path == f"{path}/1/notes.docx"
        assert index.verify().clean
    # the mail is renamed: its attachments move with it, nothing is encoded
    renamed = folder / "q2.eml"
    path.rename(renamed)
    report = run_index(folder, fake_settings, encoders)
    assert (report.moved, report.encoded) == (1, 0)
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("wombat", k=3, mode="lexical")
        assert (hit.path, hit.within) == (f"{renamed}/1/notes.docx", str(renamed))
        assert index.verify().clean
    # the mail is deleted: its attachments go with it, and no vector is left behind
    renamed.unlink()
    report = run_index(folder, fake_settings, encoders)
    assert report.removed == 1
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        assert index.search("wombat", k=3, mode="lexical").hits == ()
        assert index.verify().clean


def test_a_mail_that_becomes_unreadable_drops_its_attachments(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder, path = _mail_folder(tmp_path)
    run_index(folder, fake_settings, encoders)
    path.write_bytes(b"")  # now an empty file: skipped, with its reason
    report = run_index(folder, fake_settings, encoders)
    assert [Path(p).name for p, _ in report.skipped] == ["quarter.eml"]
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        assert index.search("pangolin wombat", k=5, mode="lexical").hits == ()
        assert index.verify().clean


@needs_tesseract
@pytest.mark.sqlite_only  # OCR, not the catalog: once is enough
def test_an_attached_screenshot_is_read_by_ocr_and_a_hit_says_where(
    tmp_path: Path, fake_settings, encoders
) -> None:
    buf = io.BytesIO()
    lines = ["Server room temperature alarm at 03:12", "서버실 온도 경보 발생"]
    screenshot(lines, cjk_font(), size=16).save(buf, "PNG")
    folder = tmp_path / "mail"
    folder.mkdir()
    raw = mail("see the picture", {"alarm.png": (buf.getvalue(), "image/png")})
    (folder / "alarm.eml").write_bytes(raw.as_bytes())
    (body,), (shot,) = extract_document(raw.as_bytes(), ".eml", ocr=OcrOptions())
    assert shot.passages[0].ocr and not body.ocr and "temperature" in shot.passages[0].text
    assert extract_document(raw.as_bytes(), ".eml", ocr=OcrOptions(mode="off")) == ([body], [])
    report = run_index(folder, fake_settings, encoders)
    assert (report.added, report.attached, report.skipped) == (1, 1, [])
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("temperature alarm", k=3, mode="lexical")
        assert (Path(hit.path).name, hit.within, hit.ocr) == (
            "alarm.png",
            str(folder / "alarm.eml"),
            True,
        )


def test_the_page_opens_the_mail_of_an_attachment_and_draws_no_thumbnail(
    tmp_path: Path, fake_settings, encoders
) -> None:
    from fastapi.testclient import TestClient

    from searchengine.server.app import create_app, fastapi_app

    folder, path = _mail_folder(tmp_path)
    run_index(folder, fake_settings, encoders)
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        app = create_app(index)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            body = client.get("/api/search", params={"q": "pangolin", "mode": "lexical"}).json()
            (hit,) = body["hits"]
            assert hit["within"] == str(path) and hit["thumb_url"] is None  # a PDF, but inside
            item = client.get(f"/api/items/{hit['id']}").json()
            assert item["within"] == str(path) and item["thumb_url"] is None
            assert client.get(f"/api/thumbs/{hit['id']}").status_code == 404
            opened = client.get(hit["file_url"])  # the file it is in: the mail
            assert opened.status_code == 200 and opened.content == path.read_bytes()
        fastapi_app(app).state.map_worker.join(300)
