"""Answer a query: dense and lexical rankings per space, one hit per file, spaces merged by rank.

Each space ranks a pool of candidate files (at least `POOL`); every file in
the pool is scored exactly (its best chunk by cosine, its best chunk by BM25),
so a file's place does not depend on how deep the pool went and pages cut
from it (`offset`) neither repeat nor skip hits.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from searchengine import lexical
from searchengine.catalog import SpaceInfo
from searchengine.catalog.search import ChunkInfo
from searchengine.errors import ConfigError, ModelUnavailableError
from searchengine.files import IMAGE_FORMATS
from searchengine.filters import Filters
from searchengine.lexical import AnalysedQuery
from searchengine.models.images import load_image
from searchengine.models.spaces import IMAGE, TEXT, Spaces
from searchengine.query.fusion import (
    BACKGROUND_SIZE,
    IMAGE_TO_DOCUMENTS,
    Background,
    Scored,
    fuse_hybrid,
    good_match_z,
    lexical_weight,
    merge_by_rank,
    reference_background,
)
from searchengine.query.hits import check_page, make_hit
from searchengine.query.labels import LabelMaps
from searchengine.query.threads import blas_limited
from searchengine.records import MODES, SORTS, Hit, Mode, Results, Sort, Space, Vectors
from searchengine.store import Store
from searchengine.vocab.expand import expand_matches

log = logging.getLogger(__name__)

POOL = 50  # candidate files per space; deeper pages widen it
NO_WORDS = lexical.analyse_query("")  # a search by vector alone: no words to match or show
OVERFETCH = 5  # chunks fetched per wanted file, so grouping by file still fills the pool


def _pictures_only(filters: Filters) -> Filters:
    """`filters`, narrowed to pictures (of the formats asked for, if any)."""
    return filters if filters.formats else replace(filters, formats=(IMAGE,))


class Searcher:
    """Searches one index folder; safe to share between threads.

    Each call returns its own `Results`, whose notes explain spaces that could
    not be searched for that query alone.
    """

    def __init__(self, store: Store, spaces: Spaces):
        self.store = store
        self.catalog = store.catalog
        self.spaces = spaces
        self._records = {s.name: s for s in self.catalog.spaces()}
        self._backgrounds: dict[str, tuple[int, Background]] = {}
        self._refreshing = threading.Lock()
        self._labels = LabelMaps(self.catalog)
        self._stamp: int | None = None  # the catalog's change stamp at the last refresh

    def _refresh(self) -> None:
        # A long-lived searcher outlives a model switch (`semsearch reembed`):
        # queries must then be encoded by the new model.
        with self._refreshing:
            stamp = self.catalog.change_stamp()
            if stamp == self._stamp:
                return  # nothing was committed since the last search
            self._stamp = stamp
            records = {s.name: s for s in self.catalog.spaces()}
            if any(
                self._records.get(name) is None or self._records[name].fingerprint != r.fingerprint
                for name, r in records.items()
            ):
                log.info("the index was switched to other models; loading them")
                # the switch was explicit: follow the catalog, not the models asked for
                # at start (encoders given to the index stay; their check will say so)
                settings = replace(self.spaces.settings, text_model=None, image_model=None)
                old = self.spaces
                self.spaces = Spaces(self.catalog, settings, old.on_status, old.given, old.loaded())
                self._backgrounds = {}
            self._records = records

    # queries

    @blas_limited
    def search(
        self,
        query: str,
        k: int = 10,
        spaces: set[Space] | None = None,
        *,
        offset: int = 0,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        sort: Sort = "relevance",
        expand: bool = False,
    ) -> Results:
        """Documents and images matching `query`: by meaning, by its words, or both.

        `sort="date"` lists the good matches (every result if none is good), newest first;
        `expand` adds the collection's related words to the lexical query (vocab/expand.py).
        """
        if not query.strip():
            raise ConfigError("the query is empty")
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        check_page(k, offset)
        filters = filters or Filters()
        self._refresh()
        need = max(POOL, offset + k)
        lists: list[list[Scored]] = []
        notes: list[str] = []
        text_vec: Vectors | None = None

        def text_query_vector() -> Vectors:
            nonlocal text_vec
            if text_vec is None:
                text_vec = self.spaces.text().encode([query], "query")
            return text_vec

        analysed = lexical.analyse_query(query)  # once: every stage below reads it
        by_words = False  # pictures were ranked by their words
        if self._wanted(TEXT, spaces) or self._pictures_by_words(spaces, filters):
            vec = None if mode == "lexical" else text_query_vector()
            if self._wanted(TEXT, spaces):
                ranked = self._rank(TEXT, analysed, vec, need, mode, filters, expand)
            else:  # pictures asked for: those whose words match, or mean the query
                ranked = self._rank(TEXT, analysed, vec, need, mode, _pictures_only(filters))
                ranked = [s for s in ranked if s.good or s.lexical > 0]
            by_words = bool(ranked)
            lists.append(ranked)
        if self._wanted(IMAGE, spaces):
            # images have words too: their tags, in the lexical index
            vec = None if mode == "lexical" else self._image_query(query, text_query_vector, notes)
            if vec is not None or mode != "dense":
                images = self._rank(IMAGE, analysed, vec, need, mode, filters)
                if self._wanted(TEXT, spaces):  # beside the documents, by words if it has them
                    images = self._by_look(images)
                if images or spaces is None:
                    lists.append(images)
                elif mode == "lexical" and not by_words:  # asked for images alone
                    notes.append("no image is tagged with these words: search images in dense mode")
        if sort not in SORTS:
            raise ConfigError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}", "sort")
        hits = self._page(lists, analysed, offset, k, by_date=sort == "date")
        return Results(query, mode, tuple(hits), offset, k, tuple(notes))

    @blas_limited
    def search_image(
        self,
        path: Path,
        k: int = 10,
        spaces: set[Space] | None = None,
        *,
        offset: int = 0,
        filters: Filters | None = None,
    ) -> Results:
        """Indexed images that look like the image at `path`, and documents about it."""
        if not path.is_file():
            raise ConfigError(f"no such image: {path}")
        check_page(k, offset)
        filters = filters or Filters()
        self._refresh()
        query = os.path.abspath(path)
        if IMAGE not in self._records:
            return Results(query, "image", (), offset, k, ("this index holds no images",))
        image = load_image(path, self.spaces.settings.max_image_side)
        vec, tags = self.spaces.image().encode_and_tag([image])
        need = max(POOL, offset + k)
        lists, words = [], NO_WORDS
        if self._wanted(IMAGE, spaces):
            lists.append(self._rank_vectors(self._records[IMAGE], vec, need, filters))
        if self._wanted(TEXT, spaces):
            words = lexical.analyse_query(" ".join(t.words for t in tags[0]))
            lists.append(self._documents_about(vec, words, need, filters))
        return Results(query, "image", tuple(self._page(lists, words, offset, k)), offset, k)

    def _documents_about(
        self, vec: Vectors, words: AnalysedQuery, need: int, filters: Filters
    ) -> list[Scored]:
        """Documents about what a picture shows: through its tags, or its vector where
        the image tower lives in the text model's space (`Settings.image_to_documents`;
        by default the way measured for the image model, else none)."""
        via = self.spaces.settings.image_to_documents
        if via == "auto":
            via = IMAGE_TO_DOCUMENTS.get(self._records[IMAGE].model, "off")
        if via in ("vector", "both") and self.spaces.image_query_from_text():
            both = via == "both" and bool(words.text)  # the vector's meaning + the tags' words
            about = words if both else NO_WORDS
            return self._rank(TEXT, about, vec, need, "hybrid" if both else "dense", filters)
        if via in ("vector", "tags") and words.text:
            text_vec = self.spaces.text().encode([words.text], "query")
            return self._rank(TEXT, words, text_vec, need, "hybrid", filters)
        return []

    @blas_limited
    def similar(
        self, path: Path, k: int = 10, *, offset: int = 0, filters: Filters | None = None
    ) -> Results:
        """Items like an already indexed file, the file itself left out."""
        absolute = os.path.abspath(path.expanduser())
        check_page(k, offset)
        self._refresh()
        state = self.catalog.file_by_path(absolute)  # NFC or NFD, either finds it
        if state is None or state.skip_reason:
            raise ConfigError(f"not in the index: {absolute}")
        space = self._records.get(IMAGE if state.kind == "image" else TEXT)
        if space is None:
            return Results(absolute, "similar", (), offset, k)
        vectors = self.catalog.file_vectors(state.id, space.name)
        query = vectors.mean(axis=0, keepdims=True)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        need = max(POOL, offset + k) + 1
        ranked = self._rank_vectors(space, query, need, filters or Filters())
        hits = self._page([[s for s in ranked if s.file_id != state.id]], NO_WORDS, offset, k)
        return Results(absolute, "similar", tuple(hits), offset, k)

    # one space

    def _wanted(self, space: str, spaces: set[Space] | None) -> bool:
        if space not in self._records:
            return False
        return spaces is None or space in spaces

    def _by_look(self, images: list[Scored]) -> list[Scored]:
        """The image ranking of a text query without the pictures that have words (a
        screenshot, a photo of a page), unless they look like a good match: their words
        rank them in the text ranking, and their look says little about a text query
        (screenshots all look alike to an image model)."""
        if TEXT not in self._records or not images:
            return images
        _, wordless = self._labels.get(TEXT).rows_of_files([s.file_id for s in images])
        return [s for s in images if s.file_id in wordless or s.good]

    def _pictures_by_words(self, spaces: set[Space] | None, filters: Filters) -> bool:
        """Pictures alone are asked for: their words (OCR) rank them too, where the text
        index holds any and the formats asked for are pictures."""
        if not self._wanted(IMAGE, spaces) or TEXT not in self._records:
            return False
        return all(f == IMAGE or f in IMAGE_FORMATS for f in filters.formats)

    def _image_query(
        self, query: str, text_vector: Callable[[], Vectors], notes: list[str]
    ) -> Vectors | None:
        if self.spaces.image_query_from_text():
            # the CLIP's text tower is the text model: no second model to load
            return text_vector()
        try:
            return self.spaces.image().encode_texts([query])
        except ModelUnavailableError as exc:
            notes.append(f"images not searched: {exc}")
            return None

    def _rank(
        self,
        name: str,
        query: AnalysedQuery,
        vec: Vectors | None,
        need: int,
        mode: Mode,
        filters: Filters,
        expand: bool = False,
    ) -> list[Scored]:
        """A space's pool for `query`, best first, each file scored on every signal.

        Words are matched in the text of chunks for documents, in the tags of images.
        """
        space = self._records[name]
        pool: dict[int, Scored] = {}
        searched = 0
        if vec is not None:
            files, searched = self._dense_files(space, vec, need, filters)
            pool.update((fid, Scored(fid)) for fid in files)
        expr = query.expression if mode != "dense" else None
        if expr is not None:
            if name == TEXT:
                # the dense pool's files beyond the lexical top `need` get their BM25 too
                matches, named = self.catalog.lexical_pool(expr, filters, need, list(pool))
                if expand:
                    matches = expand_matches(
                        self.catalog, self.store.index_dir, query, filters, need, matches
                    )
                found = {m.file_id for m in matches}
                matches += [m for m in named if m.file_id not in found]
            else:
                matches = self.catalog.tag_matches(expr, filters, need)
            for m in matches:
                s = pool.setdefault(m.file_id, Scored(m.file_id))
                s.lexical = m.score
                s.lexical_chunk = m.chunk_id if m.chunk_id >= 0 else None
        if vec is not None:
            self._score_dense(space, vec, list(pool.values()))
        if mode == "lexical":
            ranked = sorted(
                (s for s in pool.values() if s.lexical > 0), key=lambda s: (-s.lexical, s.file_id)
            )
            for s in ranked:
                s.fused = s.lexical
        elif mode == "dense":
            ranked = sorted(pool.values(), key=lambda s: (-(s.cosine or 0.0), s.file_id))
            for s in ranked:
                s.fused = s.cosine or 0.0
        else:
            ranked = fuse_hybrid(list(pool.values()), lexical_weight(query.exact, name == IMAGE))
        threshold, calibrated = good_match_z(space.model, searched)
        top_lexical = max((s.lexical for s in ranked), default=0.0)
        # tags: labels sure at calibrated precision
        exact = query.exact or name == IMAGE
        for s in ranked:
            s.calibrated = calibrated
            if s.dense_z is not None:
                # an identifier found word for word is a match whatever its meaning scores
                s.good = s.dense_z >= threshold or (exact and s.lexical >= 0.5 * top_lexical > 0)
        return ranked[:need]

    def _dense_files(
        self, space: SpaceInfo, vec: Vectors, need: int, filters: Filters
    ) -> tuple[list[int], int]:
        """The files of the `need` nearest chunks' files, nearest first; and how many
        vectors the search covered (the filter's, or the whole index)."""
        index = self.store.hnsw_index(space)
        label_map = self._labels.get(space.name)
        rows = None
        if filters.active:  # the files that pass, then their labels from memory
            rows, _ = label_map.rows_of_files(self.catalog.filtered_files(filters))
        scan = label_map.scan(vec[0], rows)
        if scan is not None:
            owners = scan.nearest_files(need * OVERFETCH)
        else:
            allowed = None if rows is None else label_map.labels[rows]
            labels, _ = index.search(vec, need * OVERFETCH, allowed)
            known, owners, _ = label_map.owners(labels)
            owners = owners[known]  # unknown: deleted since
        files: dict[int, None] = {}
        for owner in owners.tolist():  # nearest first
            files.setdefault(owner, None)
            if len(files) == need:
                break
        return list(files), index.live_count if rows is None else len(rows)

    def _score_dense(self, space: SpaceInfo, vec: Vectors, pool: list[Scored]) -> None:
        """Each file's best chunk by cosine, over all its chunks, and its z-score.

        The pool's own rows are multiplied again, even after a whole-space scan: a product
        over other rows can round the last bit otherwise, and break ties another way."""
        if not pool:
            return
        file_ids, chunk_ids, vectors, labels = self._labels.chunk_vectors(
            space.name, space.dim, [s.file_id for s in pool]
        )
        if len(vectors) == 0:
            return
        cos = vectors @ vec[0]
        z = self._background(space).zscore(vec, cos)
        # each file's best chunk: by file, then best cosine first (stable: ties to the first)
        order = np.lexsort((-cos, file_ids))
        ordered = file_ids[order]
        best = order[np.r_[True, ordered[1:] != ordered[:-1]]]
        by_file = {s.file_id: s for s in pool}
        rows = zip(*(a[best].tolist() for a in (file_ids, chunk_ids, cos, z, labels)), strict=True)
        for fid, cid, cosine, dense_z, label in rows:  # plain Python numbers: no numpy scalars
            s = by_file[fid]
            s.cosine, s.dense_z, s.dense_chunk = cosine, dense_z, None if cid < 0 else cid
            s.dense_label = label

    def _rank_vectors(
        self, space: SpaceInfo, vec: Vectors, need: int, filters: Filters
    ) -> list[Scored]:
        files, searched = self._dense_files(space, vec, need, filters)
        pool = [Scored(fid) for fid in files]
        self._score_dense(space, vec, pool)
        pool.sort(key=lambda s: (-(s.cosine or 0.0), s.file_id))
        threshold, calibrated = good_match_z(space.model, searched)
        for s in pool:
            s.fused = s.cosine or 0.0
            s.calibrated = calibrated
            s.good = None if s.dense_z is None else s.dense_z >= threshold
        return pool

    def _page(
        self,
        ranked: list[list[Scored]],
        query: AnalysedQuery,
        offset: int,
        k: int,
        *,
        by_date: bool = False,
    ) -> list[Hit]:
        """Merge the spaces by rank, weak tails last, and make one page of hits.

        Only the page's hits are looked up and get snippets: a pool is deeper than a page.
        """
        # Each space keeps its own order; across spaces, the weak tail of one list
        # (after its last good match) never comes before another list's good ones.
        heads, tails = [], []
        for items in ranked:
            cut = 1 + max((i for i, s in enumerate(items) if s.good is not False), default=-1)
            heads.append(items[:cut])
            tails.append(items[cut:])
        merged: list[Scored] = merge_by_rank(heads) + merge_by_rank(tails)  # type: ignore[assignment]
        # a picture with words is in both spaces' lists: it is shown once, where it ranks best
        ordered: list[Scored] = []
        seen: set[int] = set()
        for s in merged:
            if s.file_id not in seen:
                seen.add(s.file_id)
                ordered.append(s)
        if by_date:
            good = [s for s in ordered if s.good]
            ordered = good or ordered
            mtime = self.catalog.modified([s.file_id for s in ordered])
            ordered.sort(key=lambda s: (-mtime.get(s.file_id, 0), s.file_id))
        page = ordered[offset : offset + k]
        chunks = self.catalog.chunk_info([s.chunk for s in page if s.chunk is not None])
        facts = self.catalog.file_facts([s.file_id for s in page])
        tags = self.catalog.tags_of([s.file_id for s in page])  # a picture found by its words too
        # the piece of a chunk that matched by meaning, where the hit shows that chunk
        pieces = self.catalog.pieces([s.shown_label for s in page if s.shown_label is not None])
        hits = []
        for s in page:
            fact = facts.get(s.file_id)
            if fact is None:
                continue  # removed since the pool was drawn
            if s.chunk is None:  # an image: the file is the hit
                info = ChunkInfo(s.file_id, fact.path, fact.kind, None, None, None, None)
            elif (chunk := chunks.get(s.chunk)) is not None:
                info = chunk
            else:
                continue
            label = s.shown_label
            piece = pieces.get(label) if label is not None else None
            hit = make_hit(info, query, s, tags.get(s.file_id, ()), piece)
            hits.append(replace(hit, within=fact.within, domain=fact.domain))
        return hits

    def _background(self, space: SpaceInfo) -> Background:
        if space.name == TEXT:
            return self._text_background(space)
        index = self.store.hnsw_index(space)
        record = self._records.get(space.name, space)  # read from the catalog this search
        cached = self._backgrounds.get(space.name)
        if cached is not None and cached[0] == record.index_generation:
            return cached[1]
        labels = index.labels()
        rng = np.random.default_rng(0)  # the same sample, so the same scores, every run
        if len(labels) > BACKGROUND_SIZE:
            labels = np.sort(rng.choice(labels, BACKGROUND_SIZE, replace=False))
        background = Background(index.vectors(labels.tolist()))
        self._backgrounds[space.name] = (record.index_generation, background)
        return background

    def _text_background(self, space: SpaceInfo) -> Background:
        cached = self._backgrounds.get(TEXT)
        if cached is None:
            encoder = self.spaces.text()
            background = reference_background(
                space.fingerprint,
                lambda texts: encoder.encode(texts, "passage"),
                self.spaces.settings.model_cache,
            )
            cached = self._backgrounds[TEXT] = (0, background)
        return cached[1]
