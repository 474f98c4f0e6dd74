"""The SQLite catalog: the truth about files, chunks and vectors.

All SQL lives here, behind `Catalog`, so moving the catalog to another database
touches this module only. The schema is owned by Alembic and upgraded on open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import CatalogError, CatalogTooNewError
from .records import Chunk as ChunkRecord
from .records import Vectors
from .schema import Chunk, File, Space, Vector

log = logging.getLogger(__name__)

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


@dataclass(frozen=True)
class FileState:
    """What the catalog knows of a file, for change detection."""

    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str
    kind: str
    skip_reason: str | None


@dataclass(frozen=True)
class SpaceInfo:
    name: str
    model: str
    fingerprint: str
    dim: int
    index_generation: int
    index_count: int
    query_fingerprint: str | None = None


@dataclass(frozen=True)
class NewItem:
    """A file's content ready to be written: chunks (text) or one vector (image)."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    sha256: str
    space: str
    chunks: Sequence[ChunkRecord]  # empty for images
    vectors: Vectors  # one row per chunk, or one row for an image


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def upgrade_to_head(engine: Engine) -> None:
    """Apply the Alembic migrations that this catalog lacks."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise CatalogTooNewError(
            f"the catalog is at schema {current!r}, newer than this semsearch knows "
            f"(head {head!r}); upgrade semsearch"
        )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("catalog schema upgraded from %s to %s", current, head)


class Catalog:
    """Files, chunks, vectors and per-space model records in one SQLite file."""

    def __init__(self, path: Path, *, create: bool = True):
        self.path = path
        if not path.exists() and not create:
            raise CatalogError(f"no index at {path.parent} (run `semsearch index FOLDER` first)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            upgrade_to_head(self.engine)
        except (DatabaseError, OperationalError) as exc:
            raise CatalogError(f"cannot read the catalog {path}: {exc.orig}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # spaces

    def space(self, name: str) -> SpaceInfo | None:
        with self.session() as s:
            row = s.get(Space, name)
            return _space_info(row) if row else None

    def spaces(self) -> list[SpaceInfo]:
        with self.session() as s:
            return [_space_info(r) for r in s.scalars(select(Space).order_by(Space.name))]

    def ensure_space(
        self,
        name: str,
        model: str,
        fingerprint: str,
        dim: int,
        query_fingerprint: str | None = None,
    ) -> SpaceInfo:
        """Record the model of a space, or return the record already there."""
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
                    query_fingerprint=query_fingerprint,
                )
                s.add(row)
            return _space_info(row)

    def record_index_save(self, name: str, generation: int, count: int) -> None:
        with self.session() as s:
            s.execute(
                update(Space)
                .where(Space.name == name)
                .values(index_generation=generation, index_count=count)
            )

    # files

    def files_under(self, root: str) -> dict[str, FileState]:
        """Every file the catalog holds below `root` (an absolute folder path)."""
        prefix = root.rstrip("/") + "/"
        with self.session() as s:
            rows = s.scalars(select(File).where(File.path.startswith(prefix, autoescape=True)))
            return {r.path: _file_state(r) for r in rows}

    def file_by_path(self, path: str) -> FileState | None:
        with self.session() as s:
            row = s.scalar(select(File).where(File.path == path))
            return _file_state(row) if row else None

    def touch_file(self, file_id: int, size: int, mtime_ns: int) -> None:
        """A file whose stat changed but whose content did not."""
        with self.session() as s:
            s.execute(update(File).where(File.id == file_id).values(size=size, mtime_ns=mtime_ns))

    def move_file(self, file_id: int, new_path: str, size: int, mtime_ns: int) -> None:
        """A renamed file keeps its chunks and vectors."""
        with self.session() as s:
            s.execute(
                update(File)
                .where(File.id == file_id)
                .values(path=new_path, size=size, mtime_ns=mtime_ns)
            )

    def record_skip(
        self, path: str, kind: str, size: int, mtime_ns: int, reason: str
    ) -> dict[str, list[int]]:
        """Remember a file that could not be indexed; returns labels it held before."""
        dropped: dict[str, list[int]] = {}
        with self.session() as s:
            old = s.scalar(select(File).where(File.path == path))
            for space, label in _drop_file_by_space(s, old) if old else []:
                dropped.setdefault(space, []).append(label)
            s.add(
                File(
                    path=path,
                    kind=kind,
                    size=size,
                    mtime_ns=mtime_ns,
                    sha256="",
                    indexed_at=time.time(),
                    skip_reason=reason,
                )
            )
        return dropped

    def remove_files(self, paths: Iterable[str]) -> dict[str, list[int]]:
        """Delete files with their chunks and vectors; returns the labels per space."""
        dropped: dict[str, list[int]] = {}
        with self.session() as s:
            for path in paths:
                row = s.scalar(select(File).where(File.path == path))
                if row is None:
                    continue
                for space, label in _drop_file_by_space(s, row):
                    dropped.setdefault(space, []).append(label)
        return dropped

    def write_items(
        self, items: Sequence[NewItem], fingerprints: dict[str, str]
    ) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Replace each item's file rows in one transaction.

        Returns (added labels, removed labels) per space, for the HNSW indexes.
        """
        added: dict[str, list[int]] = {}
        removed: dict[str, list[int]] = {}
        now = time.time()
        with self.session() as s:
            for item in items:
                old = s.scalar(select(File).where(File.path == item.path))
                if old is not None:
                    for space, label in _drop_file_by_space(s, old):
                        removed.setdefault(space, []).append(label)
                f = File(
                    path=item.path,
                    kind=item.kind,
                    size=item.size,
                    mtime_ns=item.mtime_ns,
                    sha256=item.sha256,
                    indexed_at=now,
                )
                s.add(f)
                s.flush()
                chunk_rows = [
                    Chunk(
                        file_id=f.id,
                        ordinal=c.ordinal,
                        page=c.page,
                        start=c.start,
                        end=c.end,
                        text=c.text,
                    )
                    for c in item.chunks
                ]
                s.add_all(chunk_rows)
                s.flush()
                fp = fingerprints[item.space]
                vec_rows = [
                    Vector(
                        space=item.space,
                        file_id=f.id,
                        chunk_id=chunk_rows[i].id if chunk_rows else None,
                        fingerprint=fp,
                        data=np.ascontiguousarray(item.vectors[i], dtype=np.float32).tobytes(),
                    )
                    for i in range(len(item.vectors))
                ]
                s.add_all(vec_rows)
                s.flush()
                added.setdefault(item.space, []).extend(v.id for v in vec_rows)
        return added, removed

    # vectors

    def live_labels(self, space: str) -> np.ndarray:
        with self.session() as s:
            ids = s.scalars(select(Vector.id).where(Vector.space == space).order_by(Vector.id))
            return np.fromiter(ids, dtype=np.int64)

    def iter_vectors(self, space: str, batch: int = 10_000) -> Iterator[tuple[np.ndarray, Vectors]]:
        """All vectors of a space, in label order, a batch at a time."""
        last = 0
        while True:
            with self.session() as s:
                rows = s.execute(
                    select(Vector.id, Vector.data)
                    .where(Vector.space == space, Vector.id > last)
                    .order_by(Vector.id)
                    .limit(batch)
                ).all()
            if not rows:
                return
            labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            data = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield labels, data.reshape(len(rows), -1)
            last = int(labels[-1])

    def file_vectors(self, file_id: int, space: str) -> Vectors:
        with self.session() as s:
            rows = s.scalars(
                select(Vector.data).where(Vector.file_id == file_id, Vector.space == space)
            ).all()
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(rows), -1)

    def describe_labels(self, labels: Sequence[int]) -> dict[int, dict[str, object]]:
        """File path and chunk (text, page, offsets) behind each label."""
        if not labels:
            return {}
        out: dict[int, dict[str, object]] = {}
        with self.session() as s:
            rows = s.execute(
                select(
                    Vector.id,
                    File.id,
                    File.path,
                    File.kind,
                    Chunk.text,
                    Chunk.page,
                    Chunk.start,
                    Chunk.end,
                )
                .join(File, File.id == Vector.file_id)
                .outerjoin(Chunk, Chunk.id == Vector.chunk_id)
                .where(Vector.id.in_(list(labels)))
            ).all()
        for label, file_id, path, kind, text, page, start, end in rows:
            out[int(label)] = {
                "file_id": file_id,
                "path": path,
                "kind": kind,
                "text": text,
                "page": page,
                "start": start,
                "end": end,
            }
        return out

    # status

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            files = s.scalar(
                select(func.count()).select_from(File).where(File.skip_reason.is_(None))
            )
            skipped = s.scalar(
                select(func.count()).select_from(File).where(File.skip_reason.is_not(None))
            )
            chunks = s.scalar(select(func.count()).select_from(Chunk))
            out = {
                "files": int(files or 0),
                "skipped": int(skipped or 0),
                "chunks": int(chunks or 0),
            }
            for space, n in s.execute(select(Vector.space, func.count()).group_by(Vector.space)):
                out[f"vectors_{space}"] = int(n)
            for kind, n in s.execute(
                select(File.kind, func.count())
                .where(File.skip_reason.is_(None))
                .group_by(File.kind)
            ):
                out[f"files_{kind}"] = int(n)
        return out

    def skipped(self) -> list[tuple[str, str]]:
        with self.session() as s:
            rows = s.execute(
                select(File.path, File.skip_reason)
                .where(File.skip_reason.is_not(None))
                .order_by(File.path)
            ).all()
        return [(p, r or "") for p, r in rows]


def _drop_file_by_space(s: Session, row: File) -> list[tuple[str, int]]:
    pairs = [
        (sp, int(i))
        for i, sp in s.execute(select(Vector.id, Vector.space).where(Vector.file_id == row.id))
    ]
    s.execute(delete(Vector).where(Vector.file_id == row.id))
    s.execute(delete(Chunk).where(Chunk.file_id == row.id))
    s.execute(delete(File).where(File.id == row.id))
    return pairs


def _space_info(row: Space) -> SpaceInfo:
    return SpaceInfo(
        row.name,
        row.model,
        row.fingerprint,
        row.dim,
        row.index_generation,
        row.index_count,
        row.query_fingerprint,
    )


def _file_state(row: File) -> FileState:
    return FileState(
        row.id, row.path, row.size, row.mtime_ns, row.sha256, row.kind, row.skip_reason
    )
