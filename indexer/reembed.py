"""Switch a space to another model: re-embed everything, then swap in one transaction.

The new vectors go to a staging space ("text.next") and are committed batch by
batch, so a switch that is stopped or killed resumes where it was. Text is
re-embedded from the chunks the catalog stores; images are read again. Until
the swap, the space and its index file are untouched and searches go on with
the old model; the swap replaces the old vectors and model record in one
catalog transaction, then renames the new index file into place. A reader
sees the new generation on its next search.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from searchengine.catalog import SpaceInfo, staging_name
from searchengine.config import Settings
from searchengine.errors import ConfigError
from searchengine.lexical import tag_terms
from searchengine.models.encoders import ImageEncoding, labelled
from searchengine.models.spaces import (
    IMAGE,
    TEXT,
    Spaces,
    load_image_encoder,
    load_text_encoder,
)
from searchengine.models.text_encoder import TextEncoder
from searchengine.records import Chunk
from searchengine.store import Store
from searchengine.store.hnsw import fsync_dir

from .chunk import vector_texts, windows_of
from .pipeline import Progress
from .read_worker import ReadLimits, ReadRequest
from .reader import FileReader

REEMBED_BATCHES = 8  # encoder batches staged per commit while re-embedding

log = logging.getLogger(__name__)


@dataclass
class ReembedSummary:
    """What one `reembed` run did."""

    space: str
    model: str
    encoded: int = 0
    swapped: bool = False
    already: bool = False  # the space already uses that model
    interrupted: bool = False
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (path, why) not re-read
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "space": self.space,
            "model": self.model,
            "encoded": self.encoded,
            "swapped": self.swapped,
            "already": self.already,
            "interrupted": self.interrupted,
            "dropped": [{"path": p, "reason": r} for p, r in self.dropped],
            "seconds": round(self.seconds, 3),
        }


def reembed(
    store: Store,
    settings: Settings,
    space: str,
    model: str,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ReembedSummary:
    """Re-embed `space` ("text" or "image") with `model` and swap it in when all is done."""
    started = time.monotonic()
    stop = should_stop or (lambda: False)
    progress: Progress = on_progress or (lambda phase, done, total: None)
    catalog = store.catalog
    current = catalog.space(space)
    if current is None:
        raise ConfigError(f"this index has no {space} space yet: index a folder first")
    summary = ReembedSummary(space, model)
    staging = staging_name(space)
    encoder = (
        load_text_encoder(model, settings) if space == TEXT else load_image_encoder(model, settings)
    )
    pending = catalog.space(staging)
    if encoder.fingerprint == current.fingerprint:
        if pending is not None:
            catalog.drop_space(staging)
        summary.already = True
        return summary
    if pending is not None and pending.fingerprint != encoder.fingerprint:
        log.warning(
            "dropping an unfinished switch to %r: switching to %r now", pending.model, model
        )
        catalog.drop_space(staging)
        pending = None
    if pending is None:
        image = space == IMAGE and not isinstance(encoder, TextEncoder)
        query_fp = _shared_tower(store, settings, encoder) if image else None  # type: ignore[arg-type]
        precision = None if isinstance(encoder, TextEncoder) else "fp32"  # image towers: fp32
        catalog.ensure_space(
            staging, model, encoder.fingerprint, encoder.dim, query_fp, precision=precision
        )
    if isinstance(encoder, TextEncoder):
        _embed_chunks(store, encoder, space, staging, settings, summary, progress, stop)
        catalog.note_precision(staging, encoder.passage_precisions)
    else:
        _embed_images(store, encoder, space, staging, settings, summary, progress, stop)
    if not summary.interrupted:
        _swap(store, space, staging, settings)
        summary.swapped = True
    summary.seconds = time.monotonic() - started
    return summary


def _embed_chunks(
    store: Store,
    encoder: TextEncoder,
    space: str,
    staging: str,
    settings: Settings,
    summary: ReembedSummary,
    progress: Progress,
    stop: Callable[[], bool],
) -> None:
    after, tokens = 0, settings.vector_tokens
    while True:
        if stop():
            summary.interrupted = True
            return
        rows = store.catalog.chunks_to_embed(
            space, staging, after, batch=REEMBED_BATCHES * settings.text_batch
        )
        if not rows:
            return
        # each chunk's pieces as the new model's tokenizer splits it (Chunk.windows)
        chunks = [
            Chunk(text, 0, len(text), windows=windows_of(text, encoder.token_spans, tokens))
            for _, _, text in rows
        ]
        owners: list[tuple[int, int | None]] = [
            (file_id, chunk_id)
            for (chunk_id, file_id, _), c in zip(rows, chunks, strict=True)
            for _ in c.pieces()
        ]
        pieces = [p for c in chunks for p in c.piece_offsets()]
        vectors = encoder.encode(vector_texts(chunks), "passage")
        store.catalog.add_vectors(staging, encoder.fingerprint, owners, vectors, pieces)
        summary.encoded += len(pieces)
        progress("encode", summary.encoded, None)
        after = rows[-1][0]


def _embed_images(
    store: Store,
    encoder: ImageEncoding,
    space: str,
    staging: str,
    settings: Settings,
    summary: ReembedSummary,
    progress: Progress,
    stop: Callable[[], bool],
) -> None:
    files = store.catalog.files_to_embed(space, staging)
    batch: list[tuple[int, Image.Image]] = []

    def flush() -> None:
        if batch:
            vectors, tags, domains = labelled(encoder, [im for _, im in batch])
            owners = [(file_id, None) for file_id, _ in batch]
            store.catalog.add_vectors(staging, encoder.fingerprint, owners, vectors)
            # the new model's labels; searches show them before the switch, a harmless lead
            store.catalog.set_tags(
                {fid: (t, tag_terms(t)) for (fid, _), t in zip(batch, tags, strict=True)}
            )
            store.catalog.set_domains({fid: d for (fid, _), d in zip(batch, domains, strict=True)})
            summary.encoded += len(batch)
            progress("encode", summary.encoded, len(files))
            batch.clear()

    with FileReader(ReadLimits.from_settings(settings)) as reader:
        for f in files:
            if stop():
                summary.interrupted = True
                return
            reply = reader.read(ReadRequest(f.path, "image", f.size, f.mtime_ns, f.sha256))
            if reply.status != "image" or reply.image is None:
                summary.dropped.append((f.path, reply.reason))
                continue
            mode, size, pixels = reply.image
            batch.append((f.id, Image.frombytes(mode, size, pixels)))
            if len(batch) >= REEMBED_BATCHES * settings.image_batch:
                flush()
        flush()


def _swap(store: Store, space: str, staging: str, settings: Settings) -> SpaceInfo:
    catalog = store.catalog
    record = catalog.space(staging)
    assert record is not None
    idx = store.build(record)
    pending = store.index_path(staging)
    stamp = idx.save(pending, fsync=settings.fsync)
    # the swap itself: one transaction; the rename after it is finished on the
    # next open if this process dies in between (Store._finish_swap)
    new, lost, others = catalog.swap_space(space, staging, stamp)
    os.replace(pending, store.index_path(space))
    if settings.fsync:
        fsync_dir(store.index_dir)
    store.forget(space)
    for name, gone in others.items():
        other = catalog.space(name)
        if other is not None:
            store.apply(other, [], np.zeros((0, other.dim), np.float32), gone)
    for path in lost:
        log.info("dropped %s: it could not be read again; the next index run adds it", path)
    log.info("the %s space now uses %s (%d vectors)", space, new.model, stamp.live)
    return new


def _shared_tower(store: Store, settings: Settings, image: ImageEncoding) -> str | None:
    """The text model's fingerprint if the new CLIP's text tower gives its query vectors."""
    if store.catalog.space(TEXT) is None:
        return None
    # the index's own text model, whatever the settings ask for
    spaces = Spaces(store.catalog, replace(settings, text_model=None, image_model=None))
    return spaces.shared_tower(image)
