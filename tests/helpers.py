"""Small builders shared by tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from indexer.ocr import OcrOptions, unavailable
from searchengine import Encoders, Index, IndexReport, Settings
from searchengine.catalog import Catalog
from searchengine.records import Hit
from searchengine.store import CATALOG_NAME

OCR_REQUIRED = bool(os.environ.get("SEMSEARCH_OCR_REQUIRED"))
NO_TESSERACT = unavailable(OcrOptions())
# CI sets SEMSEARCH_OCR_REQUIRED=1, so a missing Tesseract fails there instead of skipping
needs_tesseract = pytest.mark.skipif(
    NO_TESSERACT is not None and not OCR_REQUIRED,
    reason=f"{NO_TESSERACT}: `make tesseract` installs it (apt-get)",
)


def run_index(folder: Path, settings: Settings, encoders: Encoders | None = None) -> IndexReport:
    """Index `folder` once, as `semsearch index` does, in a fresh `Index`."""
    with Index.open(settings=settings, encoders=encoders) as index:
        return index.add(folder)


def search(
    settings: Settings, query: str, k: int = 10, spaces=None, encoders: Encoders | None = None
) -> list[Hit]:
    """One search in a fresh `Index`, as `semsearch search` does."""
    with Index.open(settings=settings, encoders=encoders) as index:
        return list(index.search(query, k=k, spaces=spaces))


def paths(hits: list[Hit]) -> list[str]:
    return [Path(h.path).name for h in hits]


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one line of Helvetica text per page, written by hand."""
    objects: list[bytes] = []
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def draw_image(path: Path, color: tuple[int, int, int], shape: str = "box") -> Path:
    """A small real picture: a coloured shape on white."""
    im = Image.new("RGB", (96, 72), "white")
    d = ImageDraw.Draw(im)
    if shape == "box":
        d.rectangle((10, 10, 80, 60), fill=color)
    else:
        d.ellipse((10, 10, 80, 60), fill=color)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def make_corpus(root: Path) -> Path:
    """Six small files: four documents (one Korean) and two pictures, two in a subfolder."""
    (root / "sub").mkdir(parents=True)
    (root / "car.txt").write_text(
        "buy a car: the price of the engine and the road tax. drive the car to the station.",
        encoding="utf-8",
    )
    (root / "dog.md").write_text(
        "# dogs\n\nwalk the puppy in the park. the dog will bark at the rain.", encoding="utf-8"
    )
    (root / "sub" / "banana.html").write_text(
        "<html><head><title>x</title><script>var hidden='engine';</script></head>"
        "<body><h1>banana</h1><p>a sweet yellow fruit for the kitchen recipe</p></body></html>",
        encoding="utf-8",
    )
    (root / "korean.txt").write_text("자동차 구입 비용 보고서", encoding="utf-8")
    draw_image(root / "red.png", (220, 20, 20))
    draw_image(root / "sub" / "blue.jpg", (20, 20, 220), "ellipse")
    return root


def semsearch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "searchengine", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def open_catalog(index_dir: Path, *, create: bool = False) -> Catalog:
    """The catalog of an index folder as a test's index sees it: the folder's SQLite file,
    or, in the PostgreSQL pass of the matrix, the test's database ($SEMSEARCH_CATALOG)."""
    from searchengine.store.shared import catalog_url

    url = catalog_url(None, index_dir)
    if url:
        return Catalog(url=url)
    return Catalog(index_dir / CATALOG_NAME, create=create)
