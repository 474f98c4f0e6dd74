"""Small builders shared by tests."""

from __future__ import annotations

from pathlib import Path

from indexer.pipeline import IndexSummary, index_folder
from searchengine.config import Settings
from searchengine.query import Searcher
from searchengine.records import Hit
from searchengine.spaces import Spaces
from searchengine.store import Store


def run_index(folder: Path, settings: Settings, spaces_out: list | None = None) -> IndexSummary:
    with Store(settings.index_dir, writer=True) as store:
        spaces = Spaces(store.catalog, settings)
        summary = index_folder(folder, store, spaces, settings)
        if spaces_out is not None:
            spaces_out.append(spaces)
        return summary


def search(settings: Settings, query: str, k: int = 10, kinds=None) -> list[Hit]:
    with Store(settings.index_dir) as store:
        return Searcher(store, Spaces(store.catalog, settings)).search(query, k, kinds)


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
