"""A page's hits: each scored file made into the `Hit` a front end shows."""

from __future__ import annotations

from searchengine.catalog.search import ChunkInfo
from searchengine.errors import ConfigError
from searchengine.files import place_of
from searchengine.lexical import AnalysedQuery, stored_terms
from searchengine.models.spaces import IMAGE, TEXT
from searchengine.query import snippets
from searchengine.query.fusion import Scored
from searchengine.records import Hit, Kind, Tag


def check_page(k: int, offset: int) -> None:
    if k < 1:
        raise ConfigError("k, the number of results, must be at least 1")
    if offset < 0:
        raise ConfigError("the offset must be 0 or more")


def make_hit(
    info: ChunkInfo,
    query: AnalysedQuery,
    s: Scored,
    tags: tuple[Tag, ...] = (),
    piece: tuple[int, int] | None = None,
) -> Hit:
    """The hit for `info`; `piece`: the part of its chunk that matched by meaning."""
    kind: Kind = "image" if info.kind == "image" else "text"
    space = IMAGE if kind == "image" else TEXT
    extra: dict[str, object] = {}
    if s.cosine is not None:
        extra["cosine"] = round(s.cosine, 6)
        extra["z"] = round(s.dense_z or 0.0, 3)
    if s.lexical:
        extra["bm25"] = round(s.lexical, 4)
    if s.good is not None and not s.calibrated:
        extra["good_match_uncalibrated"] = True
    if info.text is None:
        return Hit(
            info.path,
            kind,
            s.fused,
            space,
            file_id=info.file_id,
            good=s.good,
            tags=tags,
            extra=extra,
        )
    indexed = None
    if info.terms is not None and info.term_spans is not None:
        indexed = stored_terms(info.terms, info.term_spans, info.text, frozenset(query.words))
    snip = snippets.snippet(info.text, query, focus=piece, indexed=indexed)
    base = info.start or 0
    return Hit(
        path=info.path,
        kind=kind,
        score=s.fused,
        space=space,
        snippet=snip.text,
        page=info.page,
        place=place_of(info.path, info.page),
        start=base + snip.start,
        end=base + snip.end,
        file_id=info.file_id,
        highlights=snip.highlights,
        good=s.good,
        tags=tags,
        ocr=info.ocr,
        extra=extra,
    )
