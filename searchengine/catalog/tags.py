"""The catalog's image labels: each image's confident tags and their words (FTS5), and
its domain (photo, drawing, text; `files.domain`, migration 0016).

A part of `Catalog`. `tag_terms` is an FTS5 table made by migration 0009 (on
PostgreSQL a table with a tsvector column; rowid: the image file's id);
`image_tags` keeps the labels themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, select, update

from searchengine.catalog.connection import CatalogConnection
from searchengine.catalog.rows import write_tags
from searchengine.catalog.schema import File
from searchengine.catalog.search import LexicalMatch, file_conditions, matches_cte
from searchengine.filters import Filters
from searchengine.records import Tag


class CatalogTags(CatalogConnection):
    """Reads and writes of image tags."""

    def tag_matches(self, match: str, filters: Filters, limit: int) -> list[LexicalMatch]:
        """The best `limit` images whose tags match an FTS5 expression, by BM25.

        `chunk_id` is -1: an image's words are its tags, not a chunk of text.
        """
        matched = matches_cte(self.engine, "tag_terms", "file_id", match)
        query = (
            select(matched.c.file_id, matched.c.score)
            .join(File, File.id == matched.c.file_id)
            .where(and_(*file_conditions(filters)))
            .order_by(matched.c.score.desc(), matched.c.file_id)
            .limit(limit)
        )
        with self.session() as s:
            rows = s.execute(query).all()
        return [LexicalMatch(int(f), -1, float(b)) for f, b in rows]

    def tags_of(self, file_ids: Sequence[int]) -> dict[int, tuple[Tag, ...]]:
        """Each image's tags, best first (files without tags are left out)."""
        out: dict[int, list[Tag]] = {}
        rows = self.id_rows(
            "SELECT file_id, en, ko, score FROM image_tags WHERE file_id IN ({ids}) "
            "ORDER BY file_id, rank",
            file_ids,
        )
        for fid, en, ko, score in rows:
            out.setdefault(int(fid), []).append(Tag(en, ko, float(score)))
        return {fid: tuple(tags) for fid, tags in out.items()}

    def set_tags(self, tags: dict[int, tuple[Sequence[Tag], str]]) -> None:
        """Replace the tags of these images (a model switch re-tags them): each image's
        tags and their analysed terms (`lexical.tag_terms`)."""
        with self.session() as s:
            for fid, (ts, terms) in tags.items():
                write_tags(s, fid, ts, terms)

    def set_domains(self, domains: dict[int, str | None]) -> None:
        """Replace the domains of these images (a model switch judges them anew)."""
        with self.session() as s:
            for fid, domain in domains.items():
                s.execute(update(File).where(File.id == fid).values(domain=domain))
