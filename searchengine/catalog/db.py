"""The catalog: the truth about files, chunks and vectors (SQLite, or PostgreSQL).

All SQL lives in this package, behind `Catalog`: here (writes, spaces), in
search.py (filters, the lexical index), tags.py (image tags), events.py (what
people did with hits), upkeep.py (checks, repair, model switches), writes.py (one
indexing commit) and connection.py (the engine), so moving the catalog to another
database touches this folder only. The schema is owned by Alembic and upgraded on
open.

A file is known by its path in Unicode NFC form (`path_key`), so the NFD names
macOS writes and the NFC names a user types are the same file; the name on
disk (`path`) is kept to open and show it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from searchengine.catalog.events import CatalogEvents
from searchengine.catalog.rows import (
    STAGING_SUFFIX,
    FileState,
    NewItem,
    SpaceInfo,
    drop_file,
    file_state,
    id_batches,
    is_staging,
    space_info,
    stack_vectors,
    staging_name,
    valid_vectors_of,
)
from searchengine.catalog.schema import File, Space, Vector
from searchengine.catalog.search import CatalogSearch
from searchengine.catalog.tags import CatalogTags
from searchengine.catalog.upkeep import CatalogUpkeep
from searchengine.catalog.writes import write_run
from searchengine.errors import ModelMismatchError
from searchengine.files import path_key
from searchengine.records import FileStamp, Vectors

__all__ = [
    "STAGING_SUFFIX",
    "Catalog",
    "FileState",
    "NewItem",
    "SpaceInfo",
    "is_staging",
    "path_key",
    "staging_name",
]


class Catalog(CatalogUpkeep, CatalogSearch, CatalogTags, CatalogEvents):
    """Files, chunks, vectors and per-space model records: one SQLite file, or a
    PostgreSQL database shared by many processes and machines (`url`).

    Its reads for queries, its tags and its upkeep are parts of their own (each a
    `CatalogConnection` too); this module has the writes and the spaces."""

    # spaces

    def space(self, name: str) -> SpaceInfo | None:
        with self.session() as s:
            row = s.get(Space, name)
            return space_info(row) if row else None

    def spaces(self, *, include_staging: bool = False) -> list[SpaceInfo]:
        with self.session() as s:
            rows = s.scalars(select(Space).order_by(Space.name))
            return [space_info(r) for r in rows if include_staging or not is_staging(r.name)]

    def ensure_space(
        self,
        name: str,
        model: str,
        fingerprint: str,
        dim: int,
        query_fingerprint: str | None = None,
        *,
        precision: str | None = None,
    ) -> SpaceInfo:
        """Record the model of a space, or return the record already there (also where
        another writer of a shared catalog records it between this one's read and its
        insert: the second insert fails on the key, and the record is read again)."""
        try:
            with self.session() as s:
                row = s.get(Space, name)
                if row is None:
                    row = Space(
                        name=name,
                        model=model,
                        fingerprint=fingerprint,
                        dim=dim,
                        metric="cosine",
                        index_generation=0,
                        index_count=0,
                        index_deleted=0,
                        index_bytes=0,
                        query_fingerprint=query_fingerprint,
                        precision=precision,
                    )
                    s.add(row)
                return space_info(row)
        except IntegrityError:
            with self.session() as s:
                row = s.get(Space, name)
                if row is None:
                    raise
                return space_info(row)

    def note_precision(self, name: str, used: Iterable[str]) -> SpaceInfo | None:
        """Add the precisions a run computed the space's vectors in ("fp32", "bf16") to
        those it records; the record as it is now."""
        with self.session() as s:
            row = s.get(Space, name)
            if row is None:
                return None
            before = {p for p in (row.precision or "").split("+") if p}
            merged = "+".join(sorted(before | set(used)))
            if merged and merged != row.precision:
                row.precision = merged
            return space_info(row)

    def record_index_save(self, name: str, generation: int, stamp: FileStamp) -> None:
        """Remember which generation of the space's index file is on disk, and what it holds."""
        with self.session() as s:
            s.execute(
                update(Space)
                .where(Space.name == name)
                .values(
                    index_generation=generation,
                    index_count=stamp.live,
                    index_deleted=stamp.deleted,
                    index_bytes=stamp.bytes,
                )
            )

    # files

    def files_under(self, root: str) -> dict[str, FileState]:
        """Every file the catalog holds below `root` (an absolute folder), by path key;
        not the items inside them (a mail's attachments), which come and go with theirs."""
        prefix = path_key(root.rstrip("/") + "/")
        with self.session() as s:
            rows = s.scalars(
                select(File).where(
                    File.path_key.startswith(prefix, autoescape=True), File.parent_id.is_(None)
                )
            )
            return {r.path_key: file_state(r) for r in rows}

    def file_by_path(self, path: str) -> FileState | None:
        """The file at `path`, whichever Unicode normal form the path is written in."""
        with self.session() as s:
            row = s.scalar(
                select(File).where(File.path_key == path_key(path), File.parent_id.is_(None))
            )
            return file_state(row) if row else None

    def update_files(self, changes: Iterable[tuple[int, str, int, int]]) -> None:
        """Renamed or touched files, as (id, path on disk, size, mtime_ns), in one transaction.

        A file keeps its chunks and vectors; the items inside it (a mail's attachments)
        move with it.
        """
        with self.session() as s:
            for file_id, path, size, mtime_ns in changes:
                old = s.scalar(select(File.path).where(File.id == file_id))
                s.execute(
                    update(File)
                    .where(File.id == file_id)
                    .values(path=path, path_key=path_key(path), size=size, mtime_ns=mtime_ns)
                )
                if old is None or old == path:
                    continue
                inside = s.execute(
                    select(File.id, File.path).where(File.parent_id == file_id)
                ).all()
                for child_id, child_path in inside:
                    moved = path + child_path[len(old) :]
                    s.execute(
                        update(File)
                        .where(File.id == child_id)
                        .values(path=moved, path_key=path_key(moved), mtime_ns=mtime_ns)
                    )

    def record_skip(
        self,
        path: str,
        kind: str,
        size: int,
        mtime_ns: int,
        reason: str,
        limits: str | None = None,
    ) -> dict[str, list[int]]:
        """Remember a file that could not be indexed, and under which reading limits.

        Returns the labels it held before.
        """
        dropped: dict[str, list[int]] = {}
        with self.session() as s:
            old = s.scalar(select(File).where(File.path_key == path_key(path)))
            for space, label in drop_file(s, old) if old else []:
                dropped.setdefault(space, []).append(label)
            s.add(
                File(
                    path=path,
                    path_key=path_key(path),
                    kind=kind,
                    size=size,
                    mtime_ns=mtime_ns,
                    sha256="",
                    indexed_at=time.time(),
                    skip_reason=reason,
                    skip_limits=limits,
                )
            )
        return dropped

    def remove_files(self, paths: Iterable[str]) -> dict[str, list[int]]:
        """Delete files with their chunks and vectors; returns the labels per space."""
        dropped: dict[str, list[int]] = {}
        with self.session() as s:
            for path in paths:
                row = s.scalar(select(File).where(File.path_key == path_key(path)))
                if row is None:
                    continue
                for space, label in drop_file(s, row):
                    dropped.setdefault(space, []).append(label)
        return dropped

    def write_items(
        self, items: Sequence[NewItem], fingerprints: dict[str, str]
    ) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Replace each item's file rows in one transaction.

        Returns (added labels, removed labels) per space, for the HNSW indexes.
        Vectors of a model other than the one the space was built with are refused. The
        lexical rows are the terms each item carries, analysed by the indexer.
        """
        added: dict[str, list[int]] = {}
        removed: dict[str, list[int]] = {}
        now = time.time()
        for item in items:
            if item.terms and len(item.terms) != len(item.chunks):
                raise ValueError(
                    f"{item.path}: {len(item.terms)} terms for {len(item.chunks)} chunks"
                )
            if item.term_spans and len(item.term_spans) != len(item.terms):
                raise ValueError(
                    f"{item.path}: {len(item.term_spans)} term spans for {len(item.terms)} terms"
                )
        with self.session() as s:
            for name in {space for item in items for space, _, _ in item.rows()}:
                _check_fingerprint(s, name, fingerprints[name])
            at = 0
            while at < len(items):  # runs of distinct paths: one file's rows at a time
                seen: set[str] = set()
                end = at
                while end < len(items) and path_key(items[end].path) not in seen:
                    seen.add(path_key(items[end].path))
                    end += 1
                write_run(s, items[at:end], fingerprints, now, added, removed)
                at = end
        return added, removed

    # vectors

    def live_labels(self, space: str) -> np.ndarray:
        """Labels of the space's vectors made by its model, sorted."""
        with self.session() as s:
            ids = s.scalars(
                select(Vector.id)
                .join(Space, Space.name == Vector.space)
                .where(*valid_vectors_of(space))
                .order_by(Vector.id)
            )
            return np.fromiter(ids, dtype=np.int64)

    def iter_vectors(self, space: str, batch: int = 10_000) -> Iterator[tuple[np.ndarray, Vectors]]:
        """All vectors of a space made by its model, in label order, a batch at a time.

        Each batch walks the primary key from the last label: `space || ''` keeps the
        planner off the (space, file_id) index, through which SQLite sorted the whole
        space for every batch (46 s for 1 M vectors, 10 000 a batch; 3 s walking the key:
        `python -m bench.bench_scale catalog`)."""
        last = 0
        conditions = [Vector.space.concat("") == space, *valid_vectors_of(space)[1:]]
        while True:
            with self.session() as s:
                rows = s.execute(
                    select(Vector.id, Vector.data)
                    .join(Space, Space.name == Vector.space)
                    .where(*conditions, Vector.id > last)
                    .order_by(Vector.id)
                    .limit(batch)
                ).all()
            if not rows:
                return
            labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield labels, stack_vectors(r[1] for r in rows)
            last = int(labels[-1])

    def vectors_for(self, space: str, labels: Sequence[int]) -> tuple[np.ndarray, Vectors]:
        """The vectors of those `labels` that the space holds (made by its model)."""
        found: list[int] = []
        blobs: list[bytes] = []
        wanted = [int(x) for x in labels]
        with self.session() as s:
            for part in id_batches(wanted):
                rows = s.execute(
                    select(Vector.id, Vector.data)
                    .join(Space, Space.name == Vector.space)
                    .where(*valid_vectors_of(space), Vector.id.in_(part))
                    .order_by(Vector.id)
                ).all()
                found.extend(r[0] for r in rows)
                blobs.extend(r[1] for r in rows)
        return np.asarray(found, dtype=np.int64), stack_vectors(blobs)

    def file_vectors(self, file_id: int, space: str) -> Vectors:
        with self.session() as s:
            rows = s.scalars(
                select(Vector.data).where(Vector.file_id == file_id, Vector.space == space)
            ).all()
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return stack_vectors(rows)


def _check_fingerprint(s: Session, space: str, fingerprint: str) -> None:
    row = s.get(Space, space)
    if row is not None and row.fingerprint != fingerprint:
        raise ModelMismatchError(
            f"the {space} index holds vectors of model {row.model!r} ({row.fingerprint}); "
            f"it refuses vectors of another model ({fingerprint}): "
            f"switch models by re-embedding the space"
        )
