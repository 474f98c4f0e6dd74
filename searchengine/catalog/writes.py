"""Writing an indexing run's files into the catalog: few statements for many rows.

Part of `Catalog.write_items` (db.py), which owns the transaction and the
fingerprint check. The lexical rows are the terms the items carry: the indexer
analysed the text, the catalog stores what it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from searchengine.catalog.rows import NewItem, drop_file, vector_blob, write_tags
from searchengine.catalog.schema import Chunk, File, Vector
from searchengine.catalog.terms import insert_terms
from searchengine.files import path_key


def write_run(
    s: Session,
    items: Sequence[NewItem],
    fingerprints: dict[str, str],
    now: float,
    added: dict[str, list[int]],
    removed: dict[str, list[int]],
) -> None:
    """Write files with distinct paths: a few multi-row INSERT ... RETURNING statements
    instead of one ORM object per row (a bulk insert of 100k vectors was 1.6x bare
    hnswlib's build, most of it here; bench/bench_storage.py)."""
    for item in items:
        old = s.scalar(select(File).where(File.path_key == path_key(item.path)))
        if old is not None:
            for space, label in drop_file(s, old):
                removed.setdefault(space, []).append(label)
    s.flush()
    file_ids = s.scalars(
        insert(File).returning(File.id, sort_by_parameter_order=True),
        [
            {
                "path": item.path,
                "path_key": path_key(item.path),
                "kind": item.kind,
                "size": item.size,
                "mtime_ns": item.mtime_ns,
                "sha256": item.sha256,
                "indexed_at": now,
                "skip_limits": item.read_short,
                "domain": item.domain,
            }
            for item in items
        ],
    ).all()
    chunk_params = [
        {
            "file_id": fid,
            "ordinal": c.ordinal,
            "page": c.page,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "ocr": c.ocr,
            "term_spans": spans,
        }
        for item, fid in zip(items, file_ids, strict=True)
        for c, spans in zip(item.chunks, _spans(item), strict=True)
    ]
    chunk_ids: list[int] = []
    if chunk_params:
        chunk_ids = list(
            s.scalars(
                insert(Chunk).returning(Chunk.id, sort_by_parameter_order=True), chunk_params
            ).all()
        )
        insert_terms(
            s,
            "chunk_terms",
            list(zip(chunk_ids, (t for item in items for t in _terms(item)), strict=True)),
        )
    _link_parents(s, items, file_ids)
    vector_params, spaces = [], []
    next_chunk = 0
    for item, fid in zip(items, file_ids, strict=True):
        if item.tags:
            write_tags(s, fid, item.tags, item.tag_terms)
        owned = chunk_ids[next_chunk : next_chunk + len(item.chunks)]
        next_chunk += len(item.chunks)
        # a chunk longer than a vector's share has a vector per piece (Chunk.windows)
        owners = [
            (owned[i], piece) for i, c in enumerate(item.chunks) for piece in c.piece_offsets()
        ]
        for space, vectors, of_chunks in item.rows():
            if of_chunks and len(vectors) != len(owners):
                raise ValueError(f"{item.path}: {len(vectors)} vectors for {len(owners)} pieces")
            for i in range(len(vectors)):
                chunk_id, piece = owners[i] if of_chunks else (None, None)
                vector_params.append(
                    {
                        "space": space,
                        "file_id": fid,
                        "chunk_id": chunk_id,
                        "fingerprint": fingerprints[space],
                        "data": vector_blob(vectors[i]),
                        "piece_start": piece[0] if piece else None,
                        "piece_end": piece[1] if piece else None,
                    }
                )
                spaces.append(space)
    if vector_params:
        labels = s.scalars(
            insert(Vector).returning(Vector.id, sort_by_parameter_order=True), vector_params
        ).all()
        for space, label in zip(spaces, labels, strict=True):
            added.setdefault(space, []).append(int(label))


def _link_parents(s: Session, items: Sequence[NewItem], file_ids: Sequence[int]) -> None:
    """Point each item held inside a file (a mail's attachment) at that file's row,
    written before it in this run or already in the catalog."""
    ids = {path_key(item.path): fid for item, fid in zip(items, file_ids, strict=True)}
    for item, fid in zip(items, file_ids, strict=True):
        if item.parent is None:
            continue
        key = path_key(item.parent)
        parent = ids.get(key)
        if parent is None:
            parent = s.scalar(select(File.id).where(File.path_key == key))
        if parent is None:
            raise ValueError(f"{item.path}: the file that holds it ({item.parent}) is not written")
        s.execute(update(File).where(File.id == fid).values(parent_id=parent))


def _spans(item: NewItem) -> Sequence[bytes | None]:
    """Where each chunk's terms stand (None where the item keeps none)."""
    return item.term_spans or [None] * len(item.chunks)


def _terms(item: NewItem) -> Sequence[str]:
    """The item's lexical terms, one string per chunk ("" where it carries none)."""
    return item.terms or [""] * len(item.chunks)
