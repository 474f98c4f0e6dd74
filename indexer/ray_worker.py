"""What one Ray worker does with a batch of files: read, chunk and encode them.

`BatchWorker` is plain Python, with no Ray in it: `indexer.ray_index` makes it a
Ray actor, so that each worker loads its models once and keeps them for every
batch it is given. It writes nothing: it returns plain data (chunks, float32
vectors, tags, reasons) and the driver commits them, as the local run does.
Files are read as on a local run, in a `FileReader` subprocess under the same
limits, so a hostile file costs a skipped file, not a worker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from PIL import Image

from searchengine.catalog import as_stored
from searchengine.config import Settings
from searchengine.errors import ModelUnavailableError
from searchengine.lexical import analyse_chunks
from searchengine.models.encoders import (
    Encoders,
    ImageEncoding,
    TextEncoding,
    TextRole,
    labelled,
)
from searchengine.models.spaces import IMAGE, TEXT, load_image_encoder, load_text_encoder
from searchengine.records import Attached, Chunk, Tag, Vectors

from .chunk import vector_count, vector_texts
from .pipeline import chunk_for
from .read_worker import ReadLimits, ReadRequest
from .reader import FileReader


@dataclass(frozen=True)
class ModelFacts:
    """What the driver needs to know of a worker's model to record and check its space."""

    name: str
    fingerprint: str
    dim: int


@dataclass(frozen=True)
class Outcome:
    """What became of one file.

    status: "text" or "image" (encoded: `vectors` holds one row per chunk, or
    one for the image), "skip" (remembered in the catalog with `reason`) or
    "later" (not remembered: the next run tries it again).
    """

    status: str
    reason: str = ""
    chunks: tuple[Chunk, ...] = ()
    vectors: Vectors | None = None
    tags: tuple[Tag, ...] = ()
    fingerprint: str = ""  # of the model that made `vectors`
    terms: tuple[str, ...] = ()  # each chunk's lexical terms: workers analyse, as they encode
    text_vectors: Vectors | None = None  # a picture's words (OCR), one text row per chunk
    attached: tuple[AttachedOutcome, ...] = ()  # a mail's attachments, read and encoded
    domain: str | None = None  # a picture's: photo, drawing, text (models/domain.py)
    term_spans: tuple[bytes | None, ...] = ()  # where `terms` stand (lexical.term_spans)


@dataclass(frozen=True)
class AttachedOutcome:
    """A file inside the file read (a mail's attachment), encoded as an item of its own."""

    name: str  # its place inside the file (records.Attached)
    size: int
    sha256: str
    chunks: tuple[Chunk, ...]
    vectors: Vectors
    terms: tuple[str, ...]
    term_spans: tuple[bytes | None, ...] = ()


class BatchWorker:
    """Reads, chunks and encodes batches of files with models it loads once."""

    def __init__(
        self,
        settings: Settings,
        text_model: str,
        image_model: str,
        encoders: Encoders | None = None,
        threads: int = 1,
    ):
        _limit_threads(threads)
        # the text engine stays the settings' own: "auto" encodes a call of many passages
        # on torch and a few on ONNX Runtime, so the vectors are those of a local run
        self.settings = replace(settings, encode_threads=settings.encode_threads or threads)
        self.text_model = text_model
        self.image_model = image_model
        self.given = encoders or Encoders()
        self._text: TextEncoding | None = None
        self._image: ImageEncoding | None = None
        self._image_problem: str | None = None
        self.reader = FileReader(ReadLimits.from_settings(settings))

    def pid(self) -> int:
        """This worker's process id (tests kill it)."""
        return os.getpid()

    def facts(self, space: str) -> ModelFacts:
        """The model of `space` as this worker loads it; raises ModelUnavailableError."""
        enc: TextEncoding | ImageEncoding = self.text() if space == TEXT else self.image()
        return ModelFacts(enc.name, enc.fingerprint, enc.dim)

    def encode(self, texts: Sequence[str], role: TextRole) -> Vectors:
        """Texts by the text model (the reference passages, the shared-tower probes)."""
        return self.text().encode(texts, role)

    def encode_image_texts(self, texts: Sequence[str]) -> Vectors:
        """Texts by the image model's text tower."""
        return self.image().encode_texts(texts)

    def text(self) -> TextEncoding:
        if self._text is None:
            enc = self.given.text or load_text_encoder(self.text_model, self.settings)
            enc.fingerprint  # noqa: B018  (loads it: a model that cannot load fails here)
            self._text = enc
        return self._text

    def image(self) -> ImageEncoding:
        if self._image is None:
            enc = self.given.image or load_image_encoder(self.image_model, self.settings)
            enc.fingerprint  # noqa: B018
            self._image = enc
        return self._image

    def process(self, requests: Sequence[ReadRequest]) -> list[Outcome]:
        """One outcome per request, in order; the texts and the images each encoded
        in one call, so the encoder fills its own batches."""
        out: list[Outcome | None] = [None] * len(requests)
        texts: list[tuple[int, list[Chunk]]] = []
        inside: list[tuple[int, Attached, list[Chunk]]] = []  # (request, attachment, chunks)
        images: list[tuple[int, Image.Image, list[Chunk]]] = []
        for i, req in enumerate(requests):
            if req.kind == IMAGE and self._no_image_model():
                out[i] = Outcome("later", self._image_problem or "")
                continue
            reply = self.reader.read(req)
            if reply.status == "changed":
                out[i] = Outcome("later", reply.reason)
            elif reply.status == "skip":
                out[i] = Outcome("skip", reply.reason)
            elif reply.status == "text":
                chunks = chunk_for(self.text(), reply.passages, self.settings)
                if chunks:
                    texts.append((i, chunks))
                    for a in reply.attached:
                        if more := chunk_for(self.text(), a.passages, self.settings):
                            inside.append((i, a, more))
                else:
                    out[i] = Outcome("skip", "no text in it")
            else:
                assert reply.image is not None
                mode, size, pixels = reply.image
                words = chunk_for(self.text(), reply.passages, self.settings)
                images.append((i, Image.frombytes(mode, size, pixels), words))
        # a picture's words are encoded with the documents' text, in one call
        worded = texts + [(i, words) for i, _, words in images if words]
        of_chunks: dict[int, Vectors] = {}
        if worded:
            enc = self.text()
            flat = vector_texts(c for _, chunks in worded for c in chunks)
            flat += vector_texts(c for _, _, chunks in inside for c in chunks)
            vectors = as_stored(enc.encode(flat, "passage"))
            at = 0
            for i, chunks in worded:
                n = vector_count(chunks)
                of_chunks[i] = vectors[at : at + n]
                at += n
            attached: dict[int, list[AttachedOutcome]] = {}
            for i, a, chunks in inside:
                n = vector_count(chunks)
                rows = vectors[at : at + n]
                at += n
                terms, spans = analyse_chunks(chunks)
                attached.setdefault(i, []).append(
                    AttachedOutcome(a.name, a.size, a.sha256, tuple(chunks), rows, terms, spans)
                )
            for i, chunks in texts:
                terms, spans = analyse_chunks(chunks)
                out[i] = Outcome(
                    "text",
                    "",
                    tuple(chunks),
                    of_chunks[i],
                    (),
                    enc.fingerprint,
                    terms,
                    attached=tuple(attached.get(i, ())),
                    term_spans=spans,
                )
        if images:
            ienc = self.image()
            vectors, tags, domains = labelled(ienc, [im for _, im, _ in images])
            vectors = as_stored(vectors)
            for n, (i, _, words) in enumerate(images):
                terms, spans = analyse_chunks(words)
                out[i] = Outcome(
                    "image",
                    "",
                    tuple(words),
                    vectors[n : n + 1],
                    tuple(tags[n]),
                    ienc.fingerprint,
                    terms,
                    of_chunks.get(i),
                    domain=domains[n],
                    term_spans=spans,
                )
        return [o if o is not None else Outcome("later", "not processed") for o in out]

    def close(self) -> None:
        self.reader.close()

    def _no_image_model(self) -> bool:
        if self._image is None and self._image_problem is None:
            try:
                self.image()
            except ModelUnavailableError as exc:
                self._image_problem = f"no image model available ({exc})"
        return self._image_problem is not None


def _limit_threads(threads: int) -> None:
    """The worker's share of the machine: Ray gives it `threads` CPUs, not all of them."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(max(1, threads))
