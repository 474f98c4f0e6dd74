"""A mail's attached files are read as parts of the mail: a hit on an attachment's words
is the mail, at 'attachment N', whose passage starts with the file's name.

Documents attached (PDF, Word, a mail forwarded as an attachment) are read by their
own readers; a picture attached is read by OCR where the gate sees text; a file that
cannot be read is left out and the mail is indexed all the same.
"""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import docx
from helpers import minimal_pdf, needs_tesseract, run_index
from test_formats import write_msg
from test_ocr import cjk_font

from bench.bench_picture_ocr import screenshot
from indexer.extract import MAX_MAIL_DEPTH, extract_text_bytes
from indexer.ocr import OcrOptions
from searchengine import Index


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


def test_attached_documents_are_passages_of_the_mail_each_at_its_number() -> None:
    raw = mail(
        "자료를 첨부합니다.",
        {
            "보고서.pdf": (minimal_pdf(["pangolin census 2026"]), "application/pdf"),
            "notes.docx": (word_file("the wombat budget"), "application/octet-stream"),
            "unknown.bin": (b"\x00\x01", "application/octet-stream"),
            "broken.docx": (b"PK\x03\x04 not a zip", "application/octet-stream"),
        },
    ).as_bytes()
    body, *attached = extract_text_bytes(raw, ".eml")
    assert body.page is None and "자료를 첨부합니다" in body.text
    assert [(p.page, p.text.split("\n")[0]) for p in attached] == [
        (1, "Attachment: 보고서.pdf"),
        (2, "Attachment: notes.docx"),
    ]  # the unknown and the broken one are left out; the mail is read all the same
    assert "pangolin census" in attached[0].text and "wombat budget" in attached[1].text


def test_a_forwarded_mail_is_read_inside_its_mail_but_not_without_end() -> None:
    inner = mail("the original about the capybara", {})
    raw = mail("FYI", {"original.eml": inner}).as_bytes()
    _, forwarded = extract_text_bytes(raw, ".eml")
    assert forwarded.page == 1 and "capybara" in forwarded.text
    nested = inner
    for _ in range(MAX_MAIL_DEPTH + 1):
        nested = mail("fwd", {"fwd.eml": nested})
    text = "\n".join(p.text for p in extract_text_bytes(nested.as_bytes(), ".eml"))
    assert "capybara" not in text and "fwd" in text  # too deep: not opened, no error


def test_outlook_attachments_are_read_too(tmp_path: Path) -> None:
    path = write_msg(tmp_path / "memo.msg", attached={"예산.docx": word_file("the okapi plan")})
    body, attachment = extract_text_bytes(path.read_bytes(), ".msg")
    assert "meerkat" in body.text
    assert attachment.page == 1 and attachment.text.startswith("Attachment: 예산.docx")
    assert "okapi plan" in attachment.text


@needs_tesseract
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
    body, shot = extract_text_bytes(raw.as_bytes(), ".eml", ocr=OcrOptions())
    assert shot.ocr and not body.ocr and "temperature" in shot.text
    assert extract_text_bytes(raw.as_bytes(), ".eml", ocr=OcrOptions(mode="off")) == [body]
    report = run_index(folder, fake_settings, encoders)
    assert (report.added, report.skipped) == (1, [])
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        (hit,) = index.search("temperature alarm", k=3, mode="lexical")
        assert (Path(hit.path).name, hit.place, hit.ocr) == ("alarm.eml", "attachment 1", True)
