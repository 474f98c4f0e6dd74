"""Answer a query: kNN per space, one hit per file, spaces fused by rank."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from .catalog import SpaceInfo
from .errors import ConfigError, ModelUnavailableError
from .images import load_image
from .records import Hit, Kind, Vectors
from .spaces import IMAGE, TEXT, Spaces
from .store import Store

log = logging.getLogger(__name__)

RRF_K = 60  # reciprocal-rank fusion constant: scores of two spaces are never compared
OVERFETCH = 5  # chunks fetched per wanted file, so grouping by file still fills k
SNIPPET_CHARS = 160
_WS = re.compile(r"\s+")


class Searcher:
    """Searches one index folder; notes explain spaces that could not be searched."""

    def __init__(self, store: Store, spaces: Spaces):
        self.store = store
        self.catalog = store.catalog
        self.spaces = spaces
        self.notes: list[str] = []
        self._records = {s.name: s for s in self.catalog.spaces()}

    def _refresh(self) -> None:
        # A long-lived searcher outlives a model switch (`semsearch reembed`):
        # queries must then be encoded by the new model.
        records = {s.name: s for s in self.catalog.spaces()}
        if any(
            self._records.get(name) is None or self._records[name].fingerprint != r.fingerprint
            for name, r in records.items()
        ):
            log.info("the index was switched to other models; loading them")
            # the switch was explicit: follow the catalog, not the models asked for at start
            settings = replace(self.spaces.settings, text_model=None, image_model=None)
            self.spaces = Spaces(self.catalog, settings, self.spaces.on_status)
        self._records = records

    def search(self, query: str, k: int = 10, kinds: set[Kind] | None = None) -> list[Hit]:
        """Documents and images matching the meaning of `query`."""
        if not query.strip():
            raise ConfigError("the query is empty")
        self._refresh()
        lists: list[list[Hit]] = []
        text_vec = None
        if self._wanted(TEXT, kinds):
            text_vec = self.spaces.text().encode([query], "query")
            lists.append(self._knn(self._records[TEXT], text_vec, k))
        if self._wanted(IMAGE, kinds):
            if self.spaces.image_query_from_text():
                # the CLIP's text tower is the text model: no second model to load
                if text_vec is None:
                    text_vec = self.spaces.text().encode([query], "query")
                lists.append(self._knn(self._records[IMAGE], text_vec, k))
            else:
                try:
                    vec = self.spaces.image().encode_texts([query])
                except ModelUnavailableError as exc:
                    self.notes.append(f"images not searched: {exc}")
                else:
                    lists.append(self._knn(self._records[IMAGE], vec, k))
        return fuse(lists, k)

    def search_image(self, path: Path, k: int = 10) -> list[Hit]:
        """Indexed images that look like the image at `path`."""
        if not path.is_file():
            raise ConfigError(f"no such image: {path}")
        self._refresh()
        if IMAGE not in self._records:
            self.notes.append("this index holds no images")
            return []
        image = load_image(path, self.spaces.settings.max_image_side)
        vec = self.spaces.image().encode_images([image])
        # Documents are not searched with the image vector, even when the CLIP's
        # text tower is the text model: the shipped tower was trained against
        # short caption vectors, not passages, and a car picture ranked a recipe
        # above the car guide. That needs a clip-text space (ARCHITECTURE.md).
        return self._knn(self._records[IMAGE], vec, k)

    def similar(self, path: Path, k: int = 10) -> list[Hit]:
        """Items like an already indexed file, the file itself left out."""
        absolute = os.path.abspath(path.expanduser())
        self._refresh()
        state = self.catalog.file_by_path(absolute)  # NFC or NFD, either finds it
        if state is None or state.skip_reason:
            raise ConfigError(f"not in the index: {absolute}")
        space = self._records.get(IMAGE if state.kind == "image" else TEXT)
        if space is None:
            return []
        vectors = self.catalog.file_vectors(state.id, space.name)
        query = vectors.mean(axis=0, keepdims=True)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        hits = self._knn(space, query, k + 1)
        return [h for h in hits if h.file_id != state.id][:k]

    def _wanted(self, space: str, kinds: set[Kind] | None) -> bool:
        if space not in self._records:
            return False
        return kinds is None or space in kinds

    def _knn(self, space: SpaceInfo, query: Vectors, k: int) -> list[Hit]:
        index = self.store.index(space)
        fetch = k * OVERFETCH if space.name == TEXT else k
        labels, scores = index.search(query, fetch)
        info = self.catalog.describe_labels([int(x) for x in labels])
        best: dict[int, Hit] = {}
        for label, score in zip(labels, scores, strict=True):
            row = info.get(int(label))
            if row is None:  # deleted after the index was saved
                continue
            file_id = int(row["file_id"])  # type: ignore[call-overload]
            if file_id in best:
                continue
            best[file_id] = _hit(row, float(score), space.name)
            if len(best) == k:
                break
        return list(best.values())


def _hit(row: dict[str, object], score: float, space: str) -> Hit:
    text = row.get("text")
    snippet = _WS.sub(" ", str(text)).strip() if text else ""
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[: SNIPPET_CHARS - 1].rstrip() + "…"
    kind: Kind = "image" if row["kind"] == "image" else "text"
    return Hit(
        path=str(row["path"]),
        kind=kind,
        score=score,
        space=space,
        snippet=snippet,
        page=row.get("page"),  # type: ignore[arg-type]
        start=row.get("start"),  # type: ignore[arg-type]
        end=row.get("end"),  # type: ignore[arg-type]
        file_id=int(row["file_id"]),  # type: ignore[call-overload]
    )


def fuse(lists: list[list[Hit]], k: int) -> list[Hit]:
    """Merge ranked lists by reciprocal rank; a file appears once."""
    scored: dict[str, tuple[float, int, Hit]] = {}
    for which, hits in enumerate(lists):
        for rank, hit in enumerate(hits):
            rrf = 1.0 / (RRF_K + rank + 1)
            prev = scored.get(hit.path)
            if prev is None:
                scored[hit.path] = (rrf, which, hit)
            else:
                scored[hit.path] = (prev[0] + rrf, prev[1], prev[2])
    ordered = sorted(scored.values(), key=lambda t: (-t[0], t[1]))
    return [hit for _, _, hit in ordered[:k]]
