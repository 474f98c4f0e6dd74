"""Builders shared by the crash-safety, concurrency and hostile-input tests."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

from conftest import TINY_WORDS
from helpers import draw_image, open_catalog

from searchengine import Encoders, Index
from searchengine.config import Settings
from searchengine.store import CATALOG_NAME

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORDS = [w for w in TINY_WORDS if w.isascii()]


class Zygote:
    """Client of tests/zygote.py: forks indexers and searchers that the test can kill."""

    def __init__(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )

    def _ask(self, msg: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the zygote died"
        return json.loads(line)

    def start(self, op: str, **job: object) -> int:
        return int(self._ask({"op": op, **job})["pid"])

    def wait(self, pid: int) -> int:
        return int(self._ask({"op": "wait", "pid": pid})["status"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def index_argv(settings: Settings, folder: Path, *extra: str) -> list[str]:
    return [
        "--index",
        str(settings.index_dir),
        "index",
        str(folder),
        "--text-model",
        str(settings.text_model),
        "--image-model",
        str(settings.image_model),
        "--json",
        *extra,
    ]


class Corpus:
    """A folder that changes between runs: adds, edits, renames and deletes.

    Every file's content is unique over the whole test (a counter is part of
    it), so a content hash names one version of one file.
    """

    def __init__(self, root: Path, seed: int = 0, images: bool = True):
        self.root = root
        self.rng = random.Random(seed)
        self.images = images
        self.counter = 0
        root.mkdir(parents=True, exist_ok=True)

    def _text(self, marker: str) -> str:
        self.counter += 1
        words = [self.rng.choice(WORDS) for _ in range(self.rng.randint(8, 40))]
        # the marker every few words: any snippet window shows whose text it is
        for at in range(len(words) - len(words) % 6, 0, -6):
            words.insert(at, marker)
        return f"{marker} {' '.join(words)} version {self.counter}."

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def add(self, n: int = 1) -> None:
        for _ in range(n):
            self.counter += 1
            sub = self.root / self.rng.choice(["", "a", "b/c"])
            sub.mkdir(parents=True, exist_ok=True)
            if self.images and self.rng.random() < 0.2:
                c = self.counter
                draw_image(sub / f"img{c}.png", (c * 37 % 256, c * 91 % 256, c * 53 % 256))
            else:
                name = f"doc{self.counter}"
                (sub / f"{name}.txt").write_text(self._text(name), encoding="utf-8")

    def edit(self, n: int = 1) -> None:
        for path in self._pick(n):
            if path.suffix == ".png":
                c = self.counter = self.counter + 1
                draw_image(path, (c * 17 % 256, c * 29 % 256, c * 71 % 256), "ellipse")
            else:
                path.write_text(self._text(path.stem), encoding="utf-8")

    def rename(self, n: int = 1) -> None:
        for path in self._pick(n):
            self.counter += 1
            target = self.root / self.rng.choice(["", "a", "moved"])
            target.mkdir(parents=True, exist_ok=True)
            # the stem stays: it is the marker the file's text carries
            path.rename(target / f"{path.stem}{path.suffix}")

    def delete(self, n: int = 1) -> None:
        for path in self._pick(n):
            path.unlink()

    def _pick(self, n: int) -> list[Path]:
        files = self.files()
        return self.rng.sample(files, min(n, len(files)))

    def churn(self) -> None:
        self.add(self.rng.randint(3, 6))
        self.edit(self.rng.randint(1, 3))
        self.rename(self.rng.randint(1, 2))
        self.delete(self.rng.randint(1, 2))


def committed_hashes(index_dir: Path) -> set[str]:
    """Content hashes of the files the catalog holds with their vectors."""
    if not os.environ.get("SEMSEARCH_CATALOG") and not (index_dir / CATALOG_NAME).exists():
        return set()
    catalog = open_catalog(index_dir)
    try:
        return {f.sha256 for f in catalog.iter_files() if not f.skip_reason}
    finally:
        catalog.close()


def rankings(
    settings: Settings,
    queries: list[str],
    kind: str,
    k: int = 500,
    encoders: Encoders | None = None,
) -> list[list]:
    """The full ranking of every query by meaning: [(path, cosine), ...] per query.

    Dense mode, because its scores are cosines: hybrid scores are z-scores
    against a sample of the index, and two equal indexes whose labels differ
    draw slightly different samples.
    """
    out = []
    with Index.open(settings=settings, encoders=encoders) as index:
        for q in queries:
            hits = index.search(q, k=k, spaces={kind}, mode="dense")  # type: ignore[arg-type]
            out.append([(h.path, h.score) for h in hits])
    return out


def assert_same_rankings(a: list[list], b: list[list], tol: float = 1e-4) -> None:
    """Equal rankings, where two items whose scores tie within `tol` may swap places."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert sorted(p for p, _ in ra) == sorted(p for p, _ in rb)
        for (pa, sa), (pb, sb) in zip(ra, rb, strict=True):
            assert abs(sa - sb) < tol, (pa, sa, pb, sb)
            if pa != pb:
                other = dict(rb)[pa]
                assert abs(other - sa) < tol, f"{pa} ranks differently: {sa} vs {other}"


def slow_pdf(n_ops: int) -> bytes:
    """A valid one-page PDF whose compressed content stream takes pypdf ages to parse."""
    content = b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj " * n_ops + b"ET"
    packed = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def fresh_settings(settings: Settings, name: str) -> Settings:
    return replace(settings, index_dir=settings.index_dir.parent / name)
