"""The catalog's search-time SQL: filters as conditions, and the lexical index.

A part of `Catalog`, like upkeep.py and tags.py. `chunk_terms` is an FTS5 table
made by migration 0008 (on PostgreSQL a table with a tsvector column); it has
no SQLAlchemy model, so it is named here with lightweight `table()`/`column()`
constructs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    CompoundSelect,
    Engine,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.exc import DatabaseError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import CTE, ColumnClause

from searchengine.catalog.connection import CatalogConnection, driver_sql
from searchengine.catalog.postgres import tsquery_text
from searchengine.catalog.rows import (
    IN_BATCH,
    STORED_BYTES,
    STORED_DTYPE,
    id_batches,
    stack_vectors,
    valid_vectors_of,
)
from searchengine.catalog.schema import Chunk, File, Space, Vector
from searchengine.catalog.terms import insert_terms, is_postgres
from searchengine.filters import Filters
from searchengine.records import SPACES


@dataclass(frozen=True)
class LexicalMatch:
    """A file's best chunk for a lexical query; `score` is BM25, higher is better."""

    file_id: int
    chunk_id: int
    score: float


@dataclass(frozen=True)
class FileFacts:
    """What a hit shows of its file beside the chunk."""

    path: str
    kind: str
    within: str | None  # the path of the file that holds it (a mail's attachment)
    domain: str | None  # an image's domain (photo, drawing, text), where judged


@dataclass(frozen=True)
class ChunkInfo:
    """What a hit shows of the chunk (or image) behind it."""

    file_id: int
    path: str
    kind: str
    text: str | None
    page: int | None
    start: int | None
    end: int | None
    ocr: bool = False  # the chunk's text was read by OCR
    terms: str | None = None  # its lexical row's terms, where it keeps their spans
    term_spans: bytes | None = None  # where they stand in `text` (lexical.term_spans)


_MAX_NS = 2**63 - 1  # SQLite's INTEGER; a date past 2262 is "never" anyway


def _ns(seconds: float) -> int:
    return max(-_MAX_NS, min(_MAX_NS, int(seconds * 1e9)))


def file_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """Where-conditions on `File` for the filters (empty when none are set)."""
    out: list[ColumnElement[bool]] = [File.skip_reason.is_(None)]
    if filters.folders:
        out.append(
            or_(
                *(
                    or_(
                        File.path_key == root,
                        func.substr(File.path_key, 1, len(root) + 1) == root.rstrip("/") + "/",
                    )
                    for root in filters.folders
                )
            )
        )
    if filters.globs:
        out.append(or_(*(glob_condition(File.path_key, g) for g in filters.glob_patterns())))
    if filters.formats:
        alternatives: list[ColumnElement[bool]] = [
            File.kind == k for k in filters.formats if k in SPACES
        ]
        # lower(): extensions are matched case-blind, as the walker reads them
        alternatives += [func.lower(File.path_key).like(f"%{e}") for e in filters.extensions()]
        out.append(or_(*alternatives))
    if filters.modified_after is not None:
        out.append(File.mtime_ns >= _ns(filters.modified_after))
    if filters.modified_before is not None:
        out.append(File.mtime_ns < _ns(filters.modified_before))
    if filters.domains:
        out.append(File.domain.in_(filters.domains))
    return out


class Glob(ColumnElement[bool]):
    """SQLite's GLOB (case-sensitive `*`, `?`, `[...]`); a regex match on PostgreSQL."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, column: SQLColumnExpression[str], pattern: str):
        self.column = column
        self.pattern = pattern


@compiles(Glob)
def _glob_sqlite(element: Glob, compiler: Any, **kw: Any) -> str:
    pattern = compiler.process(literal(element.pattern), **kw)
    return f"{compiler.process(element.column, **kw)} GLOB {pattern}"


@compiles(Glob, "postgresql")
def _glob_postgres(element: Glob, compiler: Any, **kw: Any) -> str:
    pattern = compiler.process(literal(glob_regex(element.pattern)), **kw)
    return f"{compiler.process(element.column, **kw)} ~ {pattern}"


def glob_regex(pattern: str) -> str:
    """A GLOB pattern as an anchored regular expression."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            end = pattern.find("]", start + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                inner = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + inner + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out) + "$"


def glob_condition(column: SQLColumnExpression[str], pattern: str) -> ColumnElement[bool]:
    return Glob(column, pattern)


def matches_cte(
    engine: Engine,
    name: str,
    id_label: str,
    match: str | BindParameter[str],
    rows: Select[Any] | None = None,
) -> CTE:
    """(`id_label`, score: higher is better) of the rows of a lexical table matching an
    FTS5 expression: BM25 on SQLite, ts_rank normalised by length on PostgreSQL; of the
    rows whose ids `rows` selects, if given (scored as among all: the same idf).

    `match` is the expression, or a parameter bound at execution to `match_value` of it.

    Restricting the match itself, not its result: FTS5 then looks each row up in the
    term lists instead of scoring every matching row first (the chunks of 50 files in a
    million: a median 38-42 against 205 ms, docs/scaling.md)."""
    return _matched(engine.dialect.name == "postgresql", name, id_label, match, rows)


def match_value(engine: Engine, match: str) -> str:
    """The value a `matches_cte` built on a bound parameter is given for an FTS5
    expression: the expression itself, or on PostgreSQL the same terms as a tsquery."""
    return tsquery_text(match) if engine.dialect.name == "postgresql" else match


def _matched(
    postgres: bool,
    name: str,
    id_label: str,
    match: str | BindParameter[str],
    rows: Select[Any] | None,
) -> CTE:
    if postgres:
        terms = table(name, literal_column("rowid"), literal_column("tsv"))  # type: ignore[arg-type]
        value = literal(tsquery_text(match)) if isinstance(match, str) else match
        query = cast(value, TSQUERY)
        tsv: ColumnClause[Any] = literal_column(f"{name}.tsv")
        return (
            select(
                literal_column(f"{name}.rowid").label(id_label),
                func.ts_rank(tsv, query, 1).label("score"),
            )
            .select_from(terms)
            .where(tsv.op("@@")(query), *_among(literal_column(f"{name}.rowid"), rows))
            .cte("matched")
        )
    fts = table(name, literal_column("rowid"))  # type: ignore[arg-type]
    fts_name: ColumnClause[Any] = literal_column(name)
    return (
        select(
            literal_column(f"{name}.rowid").label(id_label),
            # SQLite's bm25() is negative, lower is better
            (-func.bm25(fts_name)).label("score"),
        )
        .select_from(fts)
        .where(fts_name.op("MATCH")(match), *_among(literal_column(f"{name}.rowid"), rows))
        .cte("matched")
    )


@lru_cache(maxsize=64)
def _pool_statement(postgres: bool, filters: Filters) -> CompoundSelect:
    """`CatalogSearch.lexical_pool`'s statement (built once per filters: its
    construction cost more than SQLite's answer on a small catalog). Its rows are
    (part, file id, chunk id, score): part 0 the best `:limit` files, part 1 those of
    `:files` that match."""
    matched = _matched(postgres, "chunk_terms", "chunk_id", bindparam("match"), None)
    ranked = _best_chunks(matched, filters).cte("ranked")
    best = select(ranked.c.file_id, ranked.c.chunk_id, ranked.c.score).where(ranked.c.rn == 1)
    top = (
        best.order_by(ranked.c.score.desc(), ranked.c.file_id)
        .limit(bindparam("limit"))
        .subquery("top")
    )
    named = best.where(ranked.c.file_id.in_(bindparam("files", expanding=True))).subquery("named")
    return union_all(
        select(literal(0).label("part"), top.c.file_id, top.c.chunk_id, top.c.score),
        select(literal(1).label("part"), named.c.file_id, named.c.chunk_id, named.c.score),
    )


def _best_chunks(matched: CTE, filters: Filters) -> Select[Any]:
    """The matched chunks of the files that pass `filters`, each numbered within its
    file from its best (`rn` 1: the file's best chunk; ties by chunk id)."""
    return (
        select(
            Chunk.file_id.label("file_id"),
            matched.c.chunk_id,
            matched.c.score,
            func.row_number()
            .over(
                partition_by=Chunk.file_id,
                order_by=(matched.c.score.desc(), matched.c.chunk_id),
            )
            .label("rn"),
        )
        .join(Chunk, Chunk.id == matched.c.chunk_id)
        .join(File, File.id == Chunk.file_id)
        .where(and_(*file_conditions(filters)))
    )


def _among(rowid: ColumnClause[Any], rows: Select[Any] | None) -> list[ColumnElement[bool]]:
    return [] if rows is None else [rowid.in_(rows.scalar_subquery())]


class CatalogSearch(CatalogConnection):
    """Reads that answer queries."""

    def label_owners(
        self, space: str, *, after: int = 0, vectors: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """The space's vectors with labels above `after`, in label order: (labels, file ids,
        chunk ids or -1, and with `vectors` their float16 data as one matrix)."""
        # plain SQL and flat arrays: at 100k vectors, ORM rows cost most of a one-shot search
        sql = (
            "SELECT v.id, v.file_id, coalesce(v.chunk_id, -1){data} FROM vectors v "
            "JOIN spaces s ON s.name = v.space "
            "WHERE v.space = ? AND v.fingerprint = s.fingerprint "
            "AND length(v.data) = s.dim * ? AND v.id > ? ORDER BY v.id"
        ).format(data=", v.data" if vectors else "")
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                driver_sql(self.engine, sql), (space, STORED_BYTES, after)
            ).all()
        table = np.fromiter(
            (x for r in rows for x in r[:3]), dtype=np.int64, count=3 * len(rows)
        ).reshape(-1, 3)
        data = None
        if vectors:
            data = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype=STORED_DTYPE)
            data = data.reshape(len(rows), -1) if rows else data.reshape(0, 0)
        return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(), data

    def vector_count(self, space: str) -> int:
        """How many vectors the space's index may hold (cheap: an index count)."""
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Vector)
                    .join(Space, Space.name == Vector.space)
                    .where(*valid_vectors_of(space))
                )
                or 0
            )

    def filtered_files(self, filters: Filters) -> list[int]:
        """Ids of the files that pass the filters (the files table alone)."""
        with self.session() as s:
            return [int(i) for i in s.scalars(select(File.id).where(*file_conditions(filters)))]

    def lexical_matches(
        self, match: str, filters: Filters, limit: int, files: Sequence[int] | None = None
    ) -> list[LexicalMatch]:
        """The best `limit` files for an FTS5 MATCH expression (on PostgreSQL, the same
        terms as a tsquery), each with its best chunk; of `files` alone, if given.

        Ties are broken by file id, so paging through results is stable.
        """
        if files is not None:  # scores are the table's own (idf over all chunks)
            return self._named_matches(match, filters, [int(f) for f in files])
        return self.lexical_pool(match, filters, limit, ())[0]

    def lexical_pool(
        self, match: str, filters: Filters, limit: int, also: Sequence[int]
    ) -> tuple[list[LexicalMatch], list[LexicalMatch]]:
        """The best `limit` files for `match`, as `lexical_matches`; and those of the files
        `also` names that match and are not among them, scored as among all.

        One statement answers both, so the table is matched and scored once: a hybrid
        search asks the BM25 of its dense pool's files beside the lexical top, and a
        second statement would count each term's rows again (FTS5's idf) and cost more
        than the first on a small catalog.
        """
        wanted = sorted({int(f) for f in also})
        first, rest = wanted[:IN_BATCH], wanted[IN_BATCH:]
        statement = _pool_statement(self.engine.dialect.name == "postgresql", filters)
        params = {"match": match_value(self.engine, match), "limit": limit, "files": first}
        with self.engine.connect() as conn:
            rows = conn.execute(statement, params).all()
        top = sorted(
            (LexicalMatch(int(f), int(c), float(b)) for part, f, c, b in rows if part == 0),
            key=lambda m: (-m.score, m.file_id),
        )
        seen = {m.file_id for m in top}
        named = [
            LexicalMatch(int(f), int(c), float(b))
            for part, f, c, b in rows
            if part == 1 and int(f) not in seen
        ]
        if rest:  # a deep page's pool: the rest by their chunks alone (cheap at any size)
            named += [m for m in self._named_matches(match, filters, rest) if m.file_id not in seen]
        return top, named

    def _named_matches(self, match: str, filters: Filters, files: list[int]) -> list[LexicalMatch]:
        """`lexical_matches` of `files` alone: their chunks restrict the match itself."""
        out: list[LexicalMatch] = []
        for part in id_batches(files):
            among = select(Chunk.id).where(Chunk.file_id.in_(part))
            matched = matches_cte(self.engine, "chunk_terms", "chunk_id", match, among)
            ranked = _best_chunks(matched, filters).subquery()
            query = (
                select(ranked.c.file_id, ranked.c.chunk_id, ranked.c.score)
                .where(ranked.c.rn == 1)
                .order_by(ranked.c.score.desc(), ranked.c.file_id)
            )
            with self.session() as s:
                rows = s.execute(query).all()
            out += [LexicalMatch(int(f), int(c), float(b)) for f, c, b in rows]
        return out

    def chunk_info(self, chunk_ids: Sequence[int]) -> dict[int, ChunkInfo]:
        """The file and text behind each chunk id."""
        out: dict[int, ChunkInfo] = {}
        rows = self.id_rows(
            "SELECT c.id, f.id, f.path, f.kind, c.text, c.page, c.start, "
            'c."end", c.ocr, c.term_spans, t.terms '
            "FROM chunks c JOIN files f ON f.id = c.file_id "
            "LEFT JOIN chunk_terms t ON t.rowid = c.id AND c.term_spans IS NOT NULL "
            "WHERE c.id IN ({ids})",
            chunk_ids,
        )
        for cid, fid, path, kind, text, page, start, end, ocr, spans, terms in rows:
            kept = spans is not None and terms is not None
            out[int(cid)] = ChunkInfo(
                fid,
                path,
                kind,
                text,
                page,
                start,
                end,
                bool(ocr),
                terms if kept else None,
                bytes(spans) if kept else None,  # a memoryview on PostgreSQL
            )
        return out

    def modified(self, file_ids: Sequence[int]) -> dict[int, int]:
        """Each file's modification time (ns)."""
        rows = self.id_rows("SELECT id, mtime_ns FROM files WHERE id IN ({ids})", file_ids)
        return {int(fid): int(mtime) for fid, mtime in rows}

    def file_facts(self, file_ids: Sequence[int]) -> dict[int, FileFacts]:
        """What a hit shows of each file beside its chunk: path, kind, the file that
        holds it (a mail's attachments) and its domain (images)."""
        rows = self.id_rows(
            "SELECT f.id, f.path, f.kind, h.path, f.domain FROM files f "
            "LEFT JOIN files h ON h.id = f.parent_id WHERE f.id IN ({ids})",
            file_ids,
        )
        return {int(r[0]): FileFacts(r[1], r[2], r[3], r[4]) for r in rows}

    def chunk_vectors(
        self, space: str, file_ids: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every vector the space holds for these files: (file ids, chunk ids or -1,
        vectors, labels), in label order."""
        fids: list[int] = []
        cids: list[int] = []
        blobs: list[bytes] = []
        labels: list[int] = []
        wanted = [int(x) for x in file_ids]
        with self.session() as s:
            for part in id_batches(wanted):
                rows = s.execute(
                    select(Vector.file_id, Vector.chunk_id, Vector.data, Vector.id)
                    .join(Space, Space.name == Vector.space)
                    .where(*valid_vectors_of(space), Vector.file_id.in_(part))
                    .order_by(Vector.id)
                ).all()
                for fid, cid, data, label in rows:
                    fids.append(int(fid))
                    cids.append(-1 if cid is None else int(cid))
                    blobs.append(data)
                    labels.append(int(label))
        return (
            np.asarray(fids, dtype=np.int64),
            np.asarray(cids, dtype=np.int64),
            stack_vectors(blobs),
            np.asarray(labels, dtype=np.int64),
        )

    def pieces(self, labels: Sequence[int]) -> dict[int, tuple[int, int]]:
        """The piece of its chunk each of these vectors reads (offsets into the chunk's
        text), for those that read a piece and not the whole chunk."""
        rows = self.id_rows(
            "SELECT id, piece_start, piece_end FROM vectors WHERE id IN ({ids}) "
            "AND piece_start IS NOT NULL AND piece_end IS NOT NULL",
            labels,
        )
        return {int(label): (int(start), int(end)) for label, start, end in rows}

    # upkeep of the lexical index

    def lexical_problems(self) -> tuple[str | None, int, int]:
        """(FTS5's own integrity complaint, chunks it lacks, rows whose chunk is gone)."""
        with self.session() as s:
            damage = None
            try:
                if not is_postgres(s):  # a plain table there, kept whole by the server
                    s.execute(
                        sql_text("INSERT INTO chunk_terms(chunk_terms) VALUES ('integrity-check')")
                    )
            except DatabaseError as exc:
                damage = str(exc.orig)
            missing = s.scalar(
                sql_text(
                    "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunk_terms)"
                )
            )
            stray = s.scalar(
                sql_text(
                    "SELECT count(*) FROM chunk_terms WHERE rowid NOT IN (SELECT id FROM chunks)"
                )
            )
        return damage, int(missing or 0), int(stray or 0)

    def lexical_pending(self) -> bool:
        """Whether chunks wait for their lexical rows: the newest chunk has none, as
        migration 0008 leaves a catalog's chunks (it analyses nothing). Two index look-ups,
        so every open can ask; `mend_lexical` is the answer."""
        with self.session() as s:
            newest = s.scalar(sql_text("SELECT max(id) FROM chunks"))
            if newest is None:
                return False
            found = s.scalar(
                sql_text("SELECT rowid FROM chunk_terms WHERE rowid = :id"), {"id": newest}
            )
        return found is None

    def mend_lexical(self, analyse: Callable[[str], str], *, from_scratch: bool) -> int:
        """Give every chunk its lexical row and drop rows without a chunk; returns rows written."""
        written = 0
        with self.session() as s:
            if from_scratch:
                s.execute(sql_text("DELETE FROM chunk_terms"))
            else:
                s.execute(
                    sql_text("DELETE FROM chunk_terms WHERE rowid NOT IN (SELECT id FROM chunks)")
                )
            last = 0
            while True:
                rows = s.execute(
                    sql_text(
                        "SELECT id, text FROM chunks WHERE id > :last AND id NOT IN "
                        "(SELECT rowid FROM chunk_terms) ORDER BY id LIMIT 500"
                    ),
                    {"last": last},
                ).all()
                if not rows:
                    return written
                insert_terms(s, "chunk_terms", [(r[0], analyse(r[1])) for r in rows])
                # the spans kept were of the row written at indexing: a snippet of these
                # chunks analyses their text again rather than trust them
                s.execute(
                    update(Chunk).where(Chunk.id.in_([r[0] for r in rows])).values(term_spans=None)
                )
                written += len(rows)
                last = rows[-1][0]
