"""Keeps one index's learned model current: trained on first use, again in the background
once enough new events came in (as the page's t-SNE map is), at once after events were
forgotten (a forgotten user's opens must stop counting then, not later).

The content half of a recommendation reads the user's events as they are now, so a
file opened a second ago already counts there; the collaborative half waits for the
next training. So does the personal ranking's re-finding term (refind.py), with the
vectors of each user's past queries encoded once and kept.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from searchengine.catalog import Catalog
from searchengine.catalog.browse import SpaceItems, space_items
from searchengine.learn.model import DEFAULT_CONTENT_MIX, Learned, score_items, together_with, train
from searchengine.learn.refind import REFIND_CLOSENESS, past_queries, refind_terms
from searchengine.models.encoders import TextEncoding
from searchengine.records import SPACES, Vectors

log = logging.getLogger(__name__)

DEFAULT_RETRAIN_EVENTS = 10  # new events that start a training in the background
DEFAULT_RECENT_DAYS = 30.0  # what a user acted on this recently is not recommended again
MAX_QUERY_VECTORS = 20_000  # query vectors kept between searches (~30 MB at 384 dims)


@dataclass(frozen=True)
class Suggestion:
    """One recommended item."""

    file_id: int
    path: str
    kind: str
    score: float
    source: str  # "together", "content" or "popular"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.file_id,
            "path": self.path,
            "kind": self.kind,
            "score": round(self.score, 6),
            "source": self.source,
        }


@dataclass(frozen=True)
class Suggestions:
    """Items for `user` (or like `item`), best first; `basis` says what they rest on:
    "history" (the user's own events), "popular" (none of theirs yet), "together"
    (people who opened the item), or "none" (no events at all)."""

    user: str | None
    basis: str
    items: tuple[Suggestion, ...]
    item: int | None = None

    def __len__(self) -> int:
        return len(self.items)

    def to_json(self) -> dict[str, object]:
        return {
            "user": self.user,
            "item": self.item,
            "basis": self.basis,
            "items": [s.to_json() for s in self.items],
        }


class Learner:
    """The learned model of one catalog's events, and what it answers."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        retrain_events: int = DEFAULT_RETRAIN_EVENTS,
        mix: float = DEFAULT_CONTENT_MIX,
        recent_days: float = DEFAULT_RECENT_DAYS,
    ):
        self.catalog = catalog
        self.retrain_events = retrain_events
        self.mix = mix
        self.recent_days = recent_days
        self._model: Learned | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._content: dict[str, SpaceItems] = {}
        self._query_vectors: dict[tuple[str, str], np.ndarray] = {}  # (model, query)

    def forgotten(self) -> None:
        """Events were erased: the next answer comes from a model trained without them."""
        with self._lock:
            self._model = None

    def model(self, *, newest_of_user: int = 0) -> Learned | None:
        """The current model (None without events); trained now when there is none or
        events were erased since, in the background when enough new ones came in or the
        asking user's newest event (`newest_of_user`, an id) is not in it yet."""
        stamp = self.catalog.event_stamp()
        with self._lock:
            model = self._model
        if stamp[0] == 0:
            with self._lock:
                self._model = None
            return None
        if model is not None and model.stamp == stamp:
            return model
        if model is None:
            return self._train(stamp)
        added = stamp[0] - model.stamp[0]
        if added != stamp[1] - model.stamp[1]:  # some were erased (or ids skipped)
            return self._train(stamp)
        if added >= self.retrain_events or newest_of_user > model.stamp[1]:
            self._train_in_background(stamp)
        return model

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a training running in the background."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def recommend(self, user: str, k: int) -> Suggestions:
        history = self.catalog.events(user=user)
        model = self.model(newest_of_user=max((e.id for e in history), default=0))
        cutoff = time.time() - self.recent_days * 86_400.0
        recent = {e.file_id for e in history if e.at >= cutoff}
        scored = score_items(
            model, user, history, self._content_spaces(), mix=self.mix, exclude=recent
        )
        basis = "history" if history else "popular" if model is not None else "none"
        found = self._suggestions(scored.file_ids, scored.scores, scored.sources, k)
        return Suggestions(user, basis, found)

    def together(self, file_id: int, k: int) -> Suggestions:
        model = self.model()
        if model is None:
            return Suggestions(None, "none", (), file_id)
        ids, cosine = together_with(model, file_id)
        return Suggestions(
            None, "together", self._suggestions(ids, cosine, ["together"] * len(ids), k), file_id
        )

    def refind(
        self,
        user: str,
        query: str,
        encoder: TextEncoding,
        *,
        closeness: float = REFIND_CLOSENESS,
    ) -> dict[int, float]:
        """file id -> the re-finding term of each item `user` acted on after a past query
        close to `query` (refind.py); empty for a user without such a query. Reads the
        events as they are now: no model to wait for."""
        encode = partial(self._encoded, encoder)
        past = past_queries(self.catalog.events(user=user), encode)
        if past is None:
            return {}
        return refind_terms(past, encode([query])[0], closeness=closeness)

    # plumbing

    def _train(self, stamp: tuple[int, int]) -> Learned:
        events = self.catalog.events()
        model = train(events, (len(events), max((e.id for e in events), default=0)))
        with self._lock:
            if self._model is None or self._model.stamp[1] <= model.stamp[1]:
                self._model = model
        log.info("learned from %d events of %d users", len(events), len(model.users))
        return model

    def _train_in_background(self, stamp: tuple[int, int]) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._train_logged, args=(stamp,), name="semsearch-learn", daemon=True
            )
            self._thread.start()

    def _train_logged(self, stamp: tuple[int, int]) -> None:
        try:
            self._train(stamp)
        except Exception as exc:  # a background thread has no caller to raise to
            log.warning("the recommendations were not retrained: %s", exc)

    def _encoded(self, encoder: TextEncoding, queries: list[str]) -> Vectors:
        """Query vectors, each encoded once per model: a user's past queries are set
        against every new one."""
        model = encoder.fingerprint
        with self._lock:
            known = {
                q: self._query_vectors[model, q]
                for q in queries
                if (model, q) in self._query_vectors
            }
        missing = [q for q in dict.fromkeys(queries) if q not in known]
        if missing:
            known.update(zip(missing, encoder.encode(missing, "query"), strict=True))
            with self._lock:
                if len(self._query_vectors) + len(missing) > MAX_QUERY_VECTORS:
                    self._query_vectors.clear()
                self._query_vectors.update(((model, q), known[q]) for q in missing)
        rows = [known[q] for q in queries]
        return np.asarray(rows, dtype=np.float32).reshape(len(queries), encoder.dim)

    def _content_spaces(self) -> list[SpaceItems]:
        out = []
        for space in SPACES:
            info = self.catalog.space(space)
            if info is None:
                continue
            held = self._content.get(space)
            if held is None or held.generation != info.index_generation:
                held = space_items(self.catalog, space)
                self._content[space] = held
            out.append(held)
        return out

    def _suggestions(
        self, ids: np.ndarray, scores: np.ndarray, sources: list[str], k: int
    ) -> tuple[Suggestion, ...]:
        self._content_spaces()
        where = {
            int(f): (items.paths[n], items.kinds[n])
            for items in self._content.values()
            for n, f in enumerate(items.ids)
        }
        out: list[Suggestion] = []
        for f, s, src in zip(ids, scores, sources, strict=True):
            if int(f) in where and len(out) < k:
                path, kind = where[int(f)]
                out.append(Suggestion(int(f), path, kind, float(s), src))
        return tuple(out)
