"""The indexing run: walk, detect changes, extract, chunk, encode in batches, store.

Each flush of encoded files commits one catalog transaction, then mirrors it
into the HNSW indexes, so a run killed at any moment loses at most the files
it had not yet committed: the next run finds the committed ones unchanged and
encodes only the rest. `should_stop` (the CLI wires Ctrl-C to it) is checked
between files and before each flush: the run then commits nothing more, saves
the indexes and returns with `interrupted` set.

A flush hands its batch to one background thread for encoding and goes back to
reading and chunking the next files; the batch is written at the next flush (or
at the end), once the model is done with it, while the model encodes the batch
after (the text model itself loads there as the first files are read). The model
releases the GIL, so reading, chunking and writing overlap with it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from searchengine.catalog import FileState, NewItem, as_stored
from searchengine.config import Settings
from searchengine.errors import ConfigError, ExtractionError, ModelUnavailableError
from searchengine.files import extension, path_key
from searchengine.lexical import analyse_chunks, tag_terms
from searchengine.models.encoders import TextEncoding, labelled
from searchengine.models.spaces import IMAGE, TEXT, Spaces
from searchengine.records import Attached, Chunk, Passage, Progress, Tag
from searchengine.store import Store

from .changes import StopRequested, plan_changes
from .chunk import chunk_passages, vector_count, vector_texts
from .read_worker import ReadLimits, ReadRequest
from .reader import FileReader
from .walk import FoundFile, WalkProblem, walk, walk_paths

log = logging.getLogger(__name__)

# on_progress(phase, done, total) (records.Progress): phase is scan, extract, encode or write

FLUSH_BATCHES = 8  # encoder batches pending before a flush (sorted by length within it)


@dataclass
class IndexReport:
    """What one run did."""

    root: str
    added: int = 0
    updated: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    encoded: int = 0  # vectors computed by a model in this run
    chunks: int = 0
    images: int = 0
    attached: int = 0  # items inside the files written (a mail's attachments)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # stopped on request; running again finishes the job
    word_vectors: str = ""  # "training": started in the background as the run returned

    @property
    def committed(self) -> int:
        """Files whose new content this run wrote to the catalog."""
        return self.added + self.updated

    def to_json(self) -> dict[str, object]:
        return {
            "root": self.root,
            "added": self.added,
            "updated": self.updated,
            "moved": self.moved,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "encoded": self.encoded,
            "chunks": self.chunks,
            "images": self.images,
            "attached": self.attached,
            "skip_reasons": [{"path": p, "reason": r} for p, r in self.skipped],
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "word_vectors": self.word_vectors or None,
        }


Work = tuple[FoundFile, str, bool]  # a file to read, its content hash, whether it replaces one


@dataclass
class PendingItem:
    """A file read and chunked (or decoded), waiting for its vectors and its commit."""

    found: FoundFile
    sha256: str
    is_update: bool
    chunks: list = field(default_factory=list)  # list[records.Chunk]
    image: Image.Image | None = None  # a picture (its chunks, if any: its words, read by OCR)
    vectors: np.ndarray | None = None  # encoded already (by a Ray worker, indexer.ray_index)
    text_vectors: np.ndarray | None = None  # a picture's chunks, encoded already (Ray)
    tags: tuple[Tag, ...] = ()
    terms: tuple[str, ...] | None = None  # the chunks' lexical terms, if analysed already
    parent: str | None = None  # the path of the file that holds it (a mail's attachment)
    domain: str | None = None  # a picture's domain, judged already (by a Ray worker)
    term_spans: tuple[bytes | None, ...] = ()  # where `terms` stand (lexical.term_spans)


@dataclass
class _Encoded:
    """A batch made ready to write: its catalog items, and what they hold."""

    items: list[NewItem] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    text_vectors: int = 0  # a vector per piece of each chunk (Chunk.pieces)
    images: int = 0


class IndexRun:
    """One indexing run over a folder.

    Another way of reading and encoding (indexer.ray_index) subclasses it and
    overrides `process` (read and encode a list of work), `encode_texts` and
    `encode_images`, handing each file back through `pend`, `skip` or
    `skip_for_now`, and committing with `flush`; the rest (changes, writes, the
    report) stays here.
    """

    encodes = True  # the Ray run's driver encodes nothing: its workers load the models

    def __init__(
        self,
        root: Path,
        store: Store,
        spaces: Spaces,
        settings: Settings,
        on_progress: Progress | None,
        should_stop: Callable[[], bool] | None,
        paths: Sequence[Path] | None = None,
    ):
        self.root = root
        self.paths = _outermost(paths) if paths is not None else None
        self.store = store
        store.claim_folder(root)  # a shared catalog: no other writer indexes it meanwhile
        self.catalog = store.catalog
        self.spaces = spaces
        self.settings = settings
        self.progress: Progress = on_progress or (lambda phase, done, total: None)
        self.summary = IndexReport(str(root))
        self.pending: list[PendingItem] = []
        self.pending_units = 0
        self.encode_total = 0
        self.encode_done = 0
        self.written = 0
        self.to_write = 0
        self.image_problem: str | None = None
        self.should_stop = should_stop or (lambda: False)
        limits = ReadLimits.from_settings(settings)
        self.limits = limits.signature()
        # pictures read without OCR remember these limits: a run with OCR reads them again
        self.read_short = None if limits.reads_words else self.limits
        self.reader = FileReader(limits)
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="semsearch-encode")
        self._inflight: tuple[list[PendingItem], Future[_Encoded]] | None = None

    def run(self) -> IndexReport:
        started = time.monotonic()
        try:
            self._run()
        except StopRequested:
            self.summary.interrupted = True
        finally:
            self._inflight = None  # not written: the next run encodes it again
            self._encoder.shutdown(wait=True)  # the model is done before the indexes save
            self.reader.close()
        self.store.save()
        self.store.vacuum_if_needed()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _run(self) -> None:
        found: list[FoundFile] = []
        hidden, exclude = self.settings.include_hidden, self.settings.exclude
        if self.paths is None:
            items = walk(self.root, include_hidden=hidden, exclude=exclude)
            known = self.catalog.files_under(str(self.root))
        else:  # only where a watcher saw changes: the catalog's files there, and the disk's
            items = walk_paths(self.root, self.paths, include_hidden=hidden, exclude=exclude)
            known = self._known_at(self.paths)
        for item in items:
            if self.should_stop():
                raise StopRequested
            if isinstance(item, WalkProblem):
                self.summary.skipped.append((item.path, item.reason))
                continue
            found.append(item)
            self.progress("scan", len(found), None)
        plan = plan_changes(
            found,
            known,
            max_bytes=self.settings.max_file_bytes,
            skip_limits=self.limits,
            should_stop=self.should_stop,
        )
        self.summary.unchanged = plan.unchanged + len(plan.touched)
        if (plan.removed or plan.updated or plan.added or plan.too_large) and not self.store.shared:
            # Load the indexes before the catalog changes under them, so opening one does not
            # take this run's own commits for a lag (shared catalogs: searchers catch theirs up).
            for space in self.catalog.spaces():
                self.store.hnsw_index(space)

        self._apply_removals(self.catalog.remove_files(old.path for old in plan.removed))
        self.summary.removed = len(plan.removed)
        # renames and touches keep their vectors; one transaction for all of them
        self.catalog.update_files(
            (old.id, f.path, f.size, f.mtime_ns) for f, old in plan.moved + plan.touched
        )
        self.summary.moved = len(plan.moved)
        for old in plan.still_skipped + [old for _, old in plan.moved if old.skip_reason]:
            self.summary.skipped.append((old.path, old.skip_reason or "skipped"))
        for f, reason in plan.unreadable:
            self.summary.skipped.append((f.path, reason))
        for f in plan.too_large:
            self.skip(f, f"larger than the {self.settings.max_file_bytes:,}-byte limit")

        work: list[Work] = [(f, d, False) for f, d in plan.added]
        work += [(f, d, True) for f, d, _ in plan.updated]
        # pictures last: the text model's batch engine is freed before the image model
        # loads, so an indexing run never holds both (measured: +0.5 GB at the peak when
        # the first pictures came early in a folder of documents)
        work.sort(key=lambda w: w[0].kind == IMAGE)
        self.to_write = len(work)
        if self.encodes and (texts := sum(f.kind != IMAGE for f, _, _ in work)):
            self._encoder.submit(self.spaces.prepare_text, texts)  # each file: 1+ passages
        if work:
            # start the clocks of the later phases now, so their rates are true
            self.progress("extract", 0, len(work))
            self.progress("encode", 0, 0)
            self.progress("write", 0, len(work))
        self.process(work)
        self._write_inflight()

    def _known_at(self, paths: Sequence[Path]) -> dict[str, FileState]:
        """What the catalog holds at these places: files, and everything below folders."""
        known: dict[str, FileState] = {}
        for path in paths:
            if path == self.root:
                return self.catalog.files_under(str(self.root))
            known.update(self.catalog.files_under(str(path)))
            state = self.catalog.file_by_path(str(path))
            if state is not None:
                known[path_key(state.path)] = state
        return known

    def process(self, work: list[Work]) -> None:
        """Read, chunk and encode each file, committing every few encoder batches."""
        texts = True
        for n, (f, digest, is_update) in enumerate(work, start=1):
            if self.should_stop():
                raise StopRequested
            if texts and f.kind == IMAGE:  # the pictures, which come last
                texts = False
                self._texts_done()
            self._extract(f, digest, is_update)
            self.progress("extract", n, len(work))
            if self.pending_units >= FLUSH_BATCHES * self.settings.text_batch:
                self.flush()
        self.flush()

    def _texts_done(self) -> None:
        """Encode and commit the texts read so far, then let the text model free its
        batch engine: what comes next are pictures (and their words, few at a time)."""
        self.flush()
        self._write_inflight()
        self.spaces.texts_done()

    def _extract(self, f: FoundFile, digest: str, is_update: bool) -> None:
        item = PendingItem(f, digest, is_update)
        inside: list[tuple[Attached, list]] = []  # a mail's attachments, chunked
        if f.kind == IMAGE:
            if self.image_problem is None:
                try:
                    self.spaces.image()
                except ModelUnavailableError as exc:
                    self.image_problem = f"no image model available ({exc})"
            if self.image_problem is not None:
                # not remembered in the catalog: the next run tries again
                self.summary.skipped.append((f.path, self.image_problem))
                return
        reply = self.reader.read(ReadRequest(f.path, f.kind, f.size, f.mtime_ns, digest))
        if reply.status == "changed":
            self.skip_for_now(f, reply.reason)
            return
        try:
            if reply.status == "skip":
                raise ExtractionError(reply.reason)
            if reply.status == "text":
                item.chunks = self._chunk(reply.passages)
                if not item.chunks:
                    raise ExtractionError("no text in it")
                units = vector_count(item.chunks)
                inside = [(a, self._chunk(a.passages)) for a in reply.attached]
            else:
                assert reply.image is not None
                mode, size, pixels = reply.image
                item.image = Image.frombytes(mode, size, pixels)
                item.chunks = self._chunk(reply.passages) if reply.passages else []
                units = 1 + vector_count(item.chunks)
        except ExtractionError as exc:
            self.skip(f, str(exc))
            return
        self.pend(item, units)
        for a, chunks in inside:
            if chunks:
                self.pend(attached_item(f, a, chunks), vector_count(chunks))

    def pend(self, item: PendingItem, units: int) -> None:
        """Queue an item for encoding; the items inside a file (a mail's attachments) are
        queued right after it, so they are written in the same batch, after it."""
        self.pending.append(item)
        self.pending_units += units
        self.encode_total += units
        self.progress("encode", self.encode_done, self.encode_total)

    def _chunk(self, passages: list[Passage]) -> list:
        return chunk_for(self.spaces.text(), passages, self.settings)

    def skip_for_now(self, f: FoundFile, reason: str) -> None:
        # not remembered: the next run sees the new state and tries again
        log.info("skipping %s: %s", f.path, reason)
        self.summary.skipped.append((f.path, reason))

    def skip(self, f: FoundFile, reason: str) -> None:
        log.info("skipping %s: %s", f.path, reason)
        self.summary.skipped.append((f.path, reason))
        dropped = self.catalog.record_skip(f.path, f.kind, f.size, f.mtime_ns, reason, self.limits)
        self._apply_removals(dropped)

    def _apply_removals(self, dropped: dict[str, list[int]]) -> None:
        for name, labels in dropped.items():
            space = self.catalog.space(name)
            if space is not None:
                self.store.apply(space, [], np.zeros((0, space.dim), np.float32), labels)

    def flush(self) -> None:
        """Start encoding what is pending, and write the batch encoded before it."""
        if not self.pending:
            return
        if self.should_stop():
            raise StopRequested  # what is pending was not committed: the next run redoes it
        batch = self.pending
        self.pending, self.pending_units = [], 0
        before = self._encoded_inflight()  # the model is free once the batch before is done
        self._inflight = (batch, self._encoder.submit(self._encode, batch))
        if before is not None:
            self._write(*before)  # while the model encodes this one

    def _write_inflight(self) -> None:
        """Wait for the batch being encoded, then commit it."""
        before = self._encoded_inflight()
        if before is not None:
            self._write(*before)

    def _encoded_inflight(self) -> tuple[list[PendingItem], _Encoded] | None:
        """The batch being encoded, once it is (an encoding error is raised here: nothing
        of that batch is written); StopRequested if a stop was asked for meanwhile."""
        if self._inflight is None:
            return None
        batch, future = self._inflight
        encoded = future.result()
        self._inflight = None
        if self.should_stop():
            raise StopRequested
        return batch, encoded

    def _encode(self, batch: list[PendingItem]) -> _Encoded:
        """The batch's catalog items, vectors in place (on the encoding thread)."""
        worded = [p for p in batch if p.chunks]  # documents, and pictures with words
        images = [p for p in batch if p.found.kind == IMAGE]
        out = _Encoded()
        of_chunks: dict[int, np.ndarray] = {}
        if worded:
            vectors, out.fingerprints[TEXT] = self.encode_texts(worded)
            vectors = as_stored(vectors)
            at = 0
            for p in worded:
                n = vector_count(p.chunks)
                of_chunks[id(p)] = vectors[at : at + n]
                at += n
                out.chunks += len(p.chunks)
            out.text_vectors = at
        image_rows: dict[int, tuple[np.ndarray, Sequence[Tag], str | None]] = {}
        if images:
            vectors, tags, domains, out.fingerprints[IMAGE] = self.encode_images(images)
            vectors = as_stored(vectors)
            for i, p in enumerate(images):
                image_rows[id(p)] = (vectors[i : i + 1], tags[i], domains[i])
            out.images = len(images)
        for p in batch:  # in the batch's order
            if id(p) in image_rows:
                row, labels, domain = image_rows[id(p)]
                item = self._item(p, IMAGE, row, labels, of_chunks.get(id(p)))
                out.items.append(replace(item, domain=domain))
            else:
                out.items.append(self._item(p, TEXT, of_chunks[id(p)]))
        return out

    def _write(self, batch: list[PendingItem], encoded: _Encoded) -> None:
        items, fingerprints = encoded.items, encoded.fingerprints
        self._encoded(encoded.text_vectors + encoded.images)
        self.summary.chunks += encoded.chunks
        self.summary.images += encoded.images
        records = {name: self.spaces.record(name) for name in fingerprints}
        for space in records.values():
            if not self.store.shared:
                # checked against the catalog before this write changes it
                self.store.hnsw_index(space)
        added, removed = self.catalog.write_items(items, fingerprints)
        for name, space in records.items():
            stacked = np.concatenate([v for it in items for v in it.vectors_in(name)])
            self.store.apply(space, added.get(name, []), stacked, removed.get(name, []))
        for name, labels in removed.items():
            if name not in records:
                self._apply_removals({name: labels})
        files = [p for p in batch if p.parent is None]
        self.summary.attached += len(batch) - len(files)
        for p in files:
            if p.is_update:
                self.summary.updated += 1
            else:
                self.summary.added += 1
        self.written += len(files)
        self.progress("write", self.written, self.to_write)
        self.store.save_if_due(self.settings.index_save_seconds)

    def encode_texts(self, texts: list[PendingItem]) -> tuple[np.ndarray, str]:
        """The vectors of the texts' chunks (each piece of each), in order, and the model's
        fingerprint."""
        enc = self.spaces.text()
        pieces = vector_texts(c for p in texts for c in p.chunks)
        return enc.encode(pieces, "passage"), enc.fingerprint

    def encode_images(
        self, images: list[PendingItem]
    ) -> tuple[np.ndarray, Sequence[Sequence[Tag]], Sequence[str | None], str]:
        """The images' vectors, tags and domains, in order, and the model's fingerprint."""
        ienc = self.spaces.image()
        vectors, tags, domains = labelled(ienc, [p.image for p in images if p.image is not None])
        return vectors, tags, domains, ienc.fingerprint

    def _item(
        self,
        p: PendingItem,
        space: str,
        vectors: np.ndarray,
        tags: Sequence[Tag] = (),
        text_vectors: np.ndarray | None = None,
    ) -> NewItem:
        f = p.found
        # the indexer analyses, the catalog stores: on the encoding thread, so the write
        # transaction holds the lock briefly
        if p.terms is None:
            terms, spans = analyse_chunks(p.chunks)
        else:
            terms, spans = p.terms, p.term_spans
        return NewItem(
            f.path,
            f.kind,
            f.size,
            f.mtime_ns,
            p.sha256,
            space,
            p.chunks,
            vectors,
            tags,
            terms=terms,
            term_spans=spans,
            tag_terms=tag_terms(tags) if tags else "",
            text_vectors=text_vectors,
            text_space=TEXT,
            parent=p.parent,
            read_short=self.read_short if f.kind == IMAGE else None,
        )

    def _encoded(self, n: int) -> None:
        self.summary.encoded += n
        self.encode_done += n
        self.progress("encode", self.encode_done, self.encode_total)


def attached_item(holder: FoundFile, a: Attached, chunks: list) -> PendingItem:
    """A file inside `holder` (a mail's attachment) as an item of its own: its path is
    the holder's, '/', its place in it; it takes the holder's time."""
    path = f"{holder.path}/{a.name}"
    found = FoundFile(path, TEXT, extension(a.name), a.size, holder.mtime_ns)
    return PendingItem(found, a.sha256, False, chunks, parent=holder.path)


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """The paths, less those below another one of them (a folder walked covers them)."""
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return sorted(kept)


def chunk_for(enc: TextEncoding, passages: list[Passage], settings: Settings) -> list[Chunk]:
    """A document's chunks as `enc` reads them, sized by the settings."""
    budget = settings.chunk_tokens or (enc.max_tokens - enc.prefix_tokens("passage"))
    return chunk_passages(
        passages, enc.token_spans, budget, settings.chunk_overlap_tokens, settings.vector_tokens
    )


def folder_root(root: Path) -> Path:
    """The folder to index, absolute; a ConfigError if it is not a folder."""
    if not (root := root.expanduser()).exists():
        raise ConfigError(f"no such folder: {root}")
    if not root.is_dir():
        raise ConfigError(f"not a folder: {root}")
    return root.resolve()


def index_folder(
    root: Path,
    store: Store,
    spaces: Spaces,
    settings: Settings,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    paths: Sequence[Path] | None = None,
) -> IndexReport:
    """Bring the index up to date with `root`: only what changed is read and encoded.

    `should_stop` is asked between files and batches; when it says yes the run
    stops at that boundary and returns a summary with `interrupted` set. `paths`
    (absolute, below `root`) limits the run to those files and folders: the places
    a watcher saw change; a rename is seen whole when both its names are among them.
    """
    root = folder_root(root)
    return IndexRun(root, store, spaces, settings, on_progress, should_stop, paths).run()
