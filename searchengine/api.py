"""`searchengine.Index`: the one library object under every front end.

The CLI, the HTTP server, the tests and the benchmarks all reach the engine
through it::

    from searchengine import Index

    with Index.open("~/.semsearch-notes") as index:
        index.add("~/Documents/notes")
        for hit in index.search("승용차 구입 비용", k=5):
            print(hit.score, hit.path)

Reading is safe from many threads of one process. Writing (`add`, `reembed`,
`repair`) takes the folder's writer lock for the call only, so searches in
this or other processes go on meanwhile and see the change once it commits.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from indexer.pipeline import IndexReport, folder_root, index_folder
from indexer.ray_index import index_folder_on_ray
from indexer.reembed import ReembedSummary as ReembedReport
from indexer.reembed import reembed
from indexer.watch import DEFAULT_RECONCILE_S, DEFAULT_SETTLE_S, Watcher, WatchState
from searchengine.catalog import Catalog, browse
from searchengine.catalog.browse import Item
from searchengine.catalog.events import ACTIONS, UseEvent
from searchengine.config import DEFAULT_EXPAND, DEFAULT_K, Settings
from searchengine.errors import ConfigError, NoWordVectorsError
from searchengine.explore import CollectionMap, OutlierReport, compute_map, find_outliers
from searchengine.explore.layout import Method as MapMethod
from searchengine.explore.outliers import (
    DEFAULT_NEIGHBOURS,
    OUTLIER_METHODS,
    new_outliers,
    scan_new_outliers,
)
from searchengine.filters import Filters
from searchengine.learn import Learner, Suggestions
from searchengine.learn.refind import DEFAULT_REFIND_WEIGHT, PERSONAL_POOL, personal_order
from searchengine.models.encoders import Encoders
from searchengine.models.spaces import IMAGE, TEXT, Spaces
from searchengine.query.evaluate import Ranker, evaluate, read_qrels
from searchengine.query.fusion import reference_background
from searchengine.query.searcher import Searcher
from searchengine.records import MODES, SPACES, Mode, Progress, Results, Sort, Space
from searchengine.reports import EvalReport, IndexStatus, RepairReport
from searchengine.store import Store
from searchengine.store.verify import Report, repair_folder, verify_folder
from searchengine.vocab import (
    Method,
    RelatedWords,
    TrainingRecord,
    WordMap,
    WordVectors,
    load_vectors,
    related_words,
    word_map,
)
from searchengine.vocab.baseline import WordVectorRanker
from searchengine.vocab.glove import TrainingStopped
from searchengine.vocab.store import METHODS as WORD_VECTOR_METHODS
from searchengine.vocab.store import read_record, vocab_dir
from searchengine.vocab.train import train_vocab

log = logging.getLogger(__name__)

# on_progress(phase, done, total) (records.Progress): scan, extract, encode, write, eval MODE
Status = Callable[[str], None]


_heap_settled = False
MAX_USER_CHARS = 200
STOP_WAIT_S = 10.0  # close(wait=False): how long a stopped word-vector training may take


def _settle_heap() -> None:
    """Once a search has run, what it loaded (the models, torch, the label maps) stays for
    the life of the process: take it out of the garbage collector's view (`gc.freeze`).
    A full collection, about one search in a hundred, walked all of it: ~100 ms in the
    slowest searches on a loaded 2-core machine, none once frozen (issue 30)."""
    global _heap_settled
    if not _heap_settled:
        _heap_settled = True
        gc.freeze()


class Index:
    """One index folder: add folders to it, search it, look after it.

    Open it with `Index.open(path)` (the default folder when `path` is None),
    preferably as a context manager. `encoders` replaces the models the
    settings name (tests inject a deterministic fake); they are checked
    against the models the index was built with all the same.
    """

    def __init__(
        self,
        settings: Settings,
        encoders: Encoders | None = None,
        on_status: Status | None = None,
    ):
        self.settings = settings
        self.on_status = on_status
        self._given = encoders or Encoders()
        self._loaded = Encoders()  # models loaded by an earlier call, reused while they fit
        self._store: Store | None = None  # the catalog and indexes, opened for reading
        self._searcher: Searcher | None = None
        self._opening = threading.Lock()
        self._training: threading.Thread | None = None  # word vectors, after an add
        self._stop_training = threading.Event()  # close(wait=False): GloVe stops at an epoch
        self._learner: Learner | None = None  # what the events teach, made on first use
        self._scanning: threading.Thread | None = None  # outliers among new items, after an add

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        encoders: Encoders | None = None,
        on_status: Status | None = None,
    ) -> Index:
        """The index at `path` (created by the first `add`); nothing is read until used."""
        settings = settings or Settings()
        if path is not None:
            settings = replace(settings, index_dir=Path(path).expanduser())
        if settings.index_dir.exists() and not settings.index_dir.is_dir():
            raise ConfigError(f"the index folder {settings.index_dir} is a file, not a folder")
        return cls(settings, encoders, on_status)

    @property
    def path(self) -> Path:
        return self.settings.index_dir

    def close(self, *, wait: bool = True) -> None:
        """Close the catalog this index reads from; a later call opens it again.

        It first waits for the word vectors that `add` started training, unless `wait`
        is False: then the training stops at its next epoch (torch must not be at work
        in a thread when the process exits) and the next `add` or first use trains them."""
        if wait:
            self.wait_for_word_vectors()
        else:
            self._stop_training.set()
            if self._training is not None:
                # GloVe stops within an epoch; gensim's word2vec, which has no torch, is
                # left to end with the process after STOP_WAIT_S
                self._training.join(STOP_WAIT_S)
            self._training = None
            # a fresh flag for the next training: one still in word2vec keeps the old one
            # set, so it never goes on into GloVe
            self._stop_training = threading.Event()
        # the outlier scan is joined either way (seconds per 100k items): a process that
        # ended while its torch threads ran aborted ('terminate called without an active
        # exception', status -6) after an index run had committed everything
        self._finish_scan()
        self._scanning = None
        with self._opening:
            if self._learner is not None:
                self._learner.wait()
                self._learner = None
            if self._searcher is not None:
                self._keep_encoders(self._searcher.spaces)
                self._searcher = None
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading

    def search(
        self,
        query: str | None = None,
        *,
        image: str | os.PathLike[str] | None = None,
        k: int = DEFAULT_K,
        mode: Mode = "hybrid",
        spaces: Collection[Space] | None = None,
        filters: Filters | None = None,
        offset: int = 0,
        sort: Sort = "relevance",
        expand: bool = DEFAULT_EXPAND,
        kinds: Collection[Space] | None = None,
        user: str | None = None,
        personal: float = DEFAULT_REFIND_WEIGHT,
    ) -> Results:
        """Documents and images by meaning and words (`query`), or images like `image`.

        `mode` is one of MODES: hybrid (meaning and words), dense (meaning) or lexical
        (words); `spaces` keeps only text or image hits (`kinds` is its old name);
        `offset` pages through the results without repeating or skipping a hit;
        `sort="date"` lists the good matches newest first; `expand` adds the
        collection's related words, weaker, to the words. `user`: where the query is close
        to one that user asked before, what they opened after it gains up to `personal`
        on its score among the first PERSONAL_POOL hits (re-finding, learn/refind.py);
        a query unlike theirs, or a user without history, gets the plain ranking, and
        which hits are good matches stays as it was (bench/bench_recommend.py).
        """
        if kinds is not None:
            warnings.warn("search(kinds=) is now spaces=", DeprecationWarning, stacklevel=2)
            spaces = spaces if spaces is not None else kinds
        wanted = set(spaces) if spaces is not None else None
        if wanted is not None and not wanted <= set(SPACES):
            unknown = ", ".join(sorted(wanted - set(SPACES)))
            raise ConfigError(f"unknown space {unknown}: use {', '.join(SPACES)}", "spaces")
        if (query is None) == (image is None):
            raise ConfigError("give a text query or an image, one of them")
        if image is not None:
            results = self._reader().search_image(
                Path(image).expanduser(), k, wanted, offset=offset, filters=filters
            )
        else:
            assert query is not None
            mine: dict[int, float] = {}
            if user is not None and personal > 0 and sort == "relevance":
                mine = self._learn().refind(user, query, self._reader().spaces.text())
            pool = max(offset + k, PERSONAL_POOL) if mine else k
            results = self._reader().search(
                query,
                pool,
                wanted,
                offset=0 if mine else offset,
                mode=mode,
                filters=filters,
                sort=sort,
                expand=expand,
            )
            if mine:
                results = personal_order(results, mine, personal, offset, k)
        _settle_heap()
        return results

    def similar(
        self,
        path: str | os.PathLike[str],
        *,
        k: int = DEFAULT_K,
        filters: Filters | None = None,
        offset: int = 0,
    ) -> Results:
        """Items like the indexed file at `path`, the file itself left out."""
        return self._reader().similar(Path(path), k, offset=offset, filters=filters)

    def status(self) -> IndexStatus:
        """Counts, models and sizes of this index."""
        catalog = self._read_store().catalog  # no model needed to tell what is indexed
        counts = catalog.counts()
        spaces: list[dict[str, object]] = [
            {
                "name": s.name,
                "model": s.model,
                "fingerprint": s.fingerprint,
                "dim": s.dim,
                "index_generation": s.index_generation,
                "vectors": s.index_count,
                # what its vectors were computed in ("bf16+fp32": runs differed; None: an
                # index written before this was recorded)
                "precision": s.precision,
            }
            for s in catalog.spaces()
        ]
        files = sorted(self.path.iterdir()) if self.path.is_dir() else []
        sizes = {f.name: f.stat().st_size for f in files if f.is_file()}
        on_server = catalog.server_bytes()
        if on_server is not None:
            sizes["catalog database"] = on_server
        return IndexStatus(
            str(self.path.resolve()),
            counts,
            spaces,
            sizes,
            catalog.skipped(),
            new_outliers(catalog, self.path) if self.path.is_dir() else [],
        )

    def evaluate(
        self,
        qrels_path: str | os.PathLike[str],
        *,
        folder: str | os.PathLike[str] | None = None,
        modes: Sequence[str] = MODES,
        on_progress: Callable[[str, int, int], None] | None = None,
        expand: bool = DEFAULT_EXPAND,
    ) -> EvalReport:
        """recall@1/5/10, MRR@10 and nDCG@10 per mode on a qrels file's labelled queries.

        A mode may also be a word-vector method (word2vec, cbow, glove): the baseline
        that ranks files by their averaged word vectors (vocab/baseline.py).
        """
        qrels = read_qrels(
            Path(qrels_path).expanduser(), Path(folder).expanduser() if folder else None
        )
        searcher = self._reader()
        wanted = {p for rel in qrels.relevant.values() for p in rel}
        missing = sorted(p for p in wanted if searcher.catalog.file_by_path(p) is None)
        if len(missing) == len(wanted):
            raise ConfigError(f"none of the relevant files is indexed: index {qrels.folder}")
        rankers: dict[str, Ranker] = {
            m: WordVectorRanker(
                searcher.catalog,
                self._word_vectors(m),
                Filters(folders=(qrels.folder,)),
            ).rank
            for m in modes
            if m in WORD_VECTOR_METHODS
        }
        scores = evaluate(searcher, qrels, modes, on_progress, rankers=rankers, expand=expand)
        return EvalReport(qrels, scores.modes, missing, len(wanted), scores.formats)

    def verify(self, *, check_sources: bool = True) -> Report:
        """Every disagreement between the catalog, the index files and the indexed files.

        Holds the writer lock while it reads, so that no run is halfway through, and
        waits for this index's scan for outliers, whose file is half written meanwhile.
        """
        self._finish_scan()
        return verify_folder(
            self.path,
            check_sources=check_sources,
            wait=self._wait(),
            on_wait=self.on_status,
            catalog_at=self.settings.catalog,
        )

    # writing

    def add(
        self,
        folder: str | os.PathLike[str],
        *,
        on_progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        ray: str | bool | None = None,
        paths: Collection[str | os.PathLike[str]] | None = None,
        purpose: str = "indexing",
    ) -> IndexReport:
        """Bring the index up to date with `folder`: only what changed is read and encoded.

        `should_stop` is asked between files and batches; a stopped run keeps what it
        committed, and the next call finishes the job. `ray` reads and encodes on Ray
        (semsearch[ray]): True starts it here, "auto" or "HOST:PORT" joins a cluster.
        `paths` (files and folders below `folder`, as a watcher names them) looks only
        there, and trains no word vectors (a full `add` does). `purpose` is what the
        writer lock tells another writer that has to wait.
        """
        root = folder_root(Path(folder))  # before the index folder is made for it
        scope = None if paths is None else [Path(os.path.abspath(p)) for p in paths]
        # a watcher never blocks on the lock: it tries again later, and can stop meanwhile
        settings = replace(self.settings, lock_wait_s=0) if purpose == "watching" else None
        with self._writer(purpose, settings) as store:
            spaces = self._spaces(store.catalog)
            if ray:
                run = partial(index_folder_on_ray, address=ray)
            else:
                run = partial(index_folder, paths=scope)
            report = run(root, store, spaces, self.settings, on_progress, should_stop)
            if not report.interrupted and not store.shared:
                # A run killed before its save left index files behind the catalog;
                # this run may have had nothing to encode: catch them up all the same.
                for space in store.catalog.spaces():
                    store.hnsw_index(space)
            text = store.catalog.space(TEXT)
            if text is not None and not report.interrupted:
                # the reference passages of good-match scores, so the first search need not
                reference_background(
                    text.fingerprint,
                    lambda texts: spaces.text().encode(texts, "passage"),
                    self.settings.model_cache,
                )
            self._keep_encoders(spaces)
        if self.settings.word_vectors and not report.interrupted and scope is None:
            self._train_in_background()
            report.word_vectors = "training"
        # like the word vectors, after whole runs only: a watcher's run for each saved
        # file would train an autoencoder on every vector again (seconds per 100k)
        if (
            self.settings.scan_outliers
            and not report.interrupted
            and report.committed
            and scope is None
        ):
            self._scan_in_background()
        return report

    def _finish_scan(self) -> None:
        if self._scanning is not None:
            self._scanning.join()

    def _scan_in_background(self) -> None:
        """The new items an autoencoder finds unusual, for `status`: scored after `add`
        returns (seconds per 100k items), one scan at a time."""
        self._finish_scan()
        self._scanning = threading.Thread(
            target=self._scan_logged, name="semsearch-outliers", daemon=True
        )
        self._scanning.start()

    def _scan_logged(self) -> None:
        try:
            with Store.for_settings(self.settings) as store:
                found = scan_new_outliers(store.catalog, self.path)
            if found:
                log.info("%d new items are unusual (semsearch status)", len(found))
        except Exception as exc:  # a background thread has no caller to raise to
            log.warning("new items were not scanned for outliers: %s", exc)

    def watcher(
        self,
        folders: Sequence[str | os.PathLike[str]],
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        reconcile_s: float = DEFAULT_RECONCILE_S,
        on_report: Callable[[Path, IndexReport, list[Path] | None], None] | None = None,
        on_state: Callable[[WatchState], None] | None = None,
    ) -> Watcher:
        """A watcher that keeps this index level with `folders` once its `run()` is called
        (until `stop()`): everything that changed first, then each change as the folders'
        file events name it, and a full walk every `reconcile_s`. It holds the writer lock
        only while it writes, so searches go on and an `add` elsewhere waits its turn."""
        roots = [folder_root(Path(f)) for f in folders]  # a ConfigError before anything
        index_dir = Path(os.path.abspath(self.path))

        def write(
            root: Path,
            paths: list[Path] | None,
            on_progress: Progress,
            should_stop: Callable[[], bool],
        ) -> IndexReport:
            return self.add(
                root,
                paths=paths,
                on_progress=on_progress,
                should_stop=should_stop,
                purpose="watching",
            )

        return Watcher(
            roots,
            write,
            ignore=[index_dir, index_dir.resolve()],
            settle_s=settle_s,
            reconcile_s=reconcile_s,
            on_report=on_report,
            on_state=on_state,
        )

    def _train_in_background(self) -> None:
        """Word vectors for the new text, trained after `add` returns (~23 s per 10k
        chunks on 2 cores); `related` and the word-vector modes use the last complete
        ones meanwhile, and train on first use when there are none yet."""
        if self._training is not None and self._training.is_alive():
            self._training.join()  # one trainer per Index: it sees this add's text next
        self._training = threading.Thread(
            target=self._train_logged, name="semsearch-word-vectors", daemon=True
        )
        self._training.start()

    def _train_logged(self) -> None:
        try:
            self.train_word_vectors()
        except TrainingStopped:
            log.info("word vectors: stopped; the next run or first use trains them")
        except Exception as exc:  # a background thread has no caller to raise to
            log.warning("word vectors were not trained: %s", exc)

    def train_word_vectors(self) -> TrainingRecord:
        """Train the collection's word vectors now (nothing to do if its text did not
        change since the last training), or record why not; returns the record."""
        with Store.for_settings(self.settings) as store:
            return train_vocab(
                store.catalog,
                self.path,
                self.settings.word_vectors_min_tokens,
                self._stop_training.is_set,
            )

    def wait_for_word_vectors(self, timeout: float | None = None) -> bool:
        """Wait for the word vectors that `add` started training; False if still going."""
        training = self._training
        if training is not None:
            training.join(timeout)
            if training.is_alive():
                return False
            self._training = None
        return True

    def _word_vectors(self, method: str) -> WordVectors:
        """The last complete model of `method`; trained now when none was ever trained
        (a training that skipped the collection said why, and the next `add` retries)."""
        folder = vocab_dir(self.path)
        try:
            return load_vectors(folder, method)
        except NoWordVectorsError:
            if not self.settings.word_vectors or read_record(folder) is not None:
                raise
        self.wait_for_word_vectors()
        record = self.train_word_vectors()
        if record.status != "trained":
            raise NoWordVectorsError(f"no word vectors for this collection: {record.reason}")
        return load_vectors(folder, method)

    def reembed(
        self,
        space: str,
        model: str,
        *,
        on_progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ReembedReport:
        """Switch `space` ("text" or "image") to `model`: re-embed, then swap atomically.

        Searches go on with the old model until the swap; a stopped switch resumes on
        the next call.
        """
        if space not in (TEXT, IMAGE):
            raise ConfigError(f"unknown space {space!r}: use {TEXT} or {IMAGE}")
        # the new model is an argument here, not the model to open the index with
        settings = replace(self.settings, text_model=None, image_model=None)
        with self._writer("re-embedding", settings) as store:
            return reembed(store, settings, space, model, on_progress, should_stop)

    def copy_catalog(self, url: str, *, on_progress: Progress | None = None) -> dict[str, int]:
        """Copy this index's catalog into the empty catalog at `url` (a PostgreSQL server,
        to share it; or a new SQLite file), holding the writer lock meanwhile; nothing is
        encoded again. Returns the rows copied per table."""
        from searchengine.catalog.copy import copy_catalog

        with self._writer("copying") as store:
            target = Catalog(url=url)
            try:
                return copy_catalog(store.catalog, target, on_progress)
            finally:
                target.close()

    def repair(self, *, check_sources: bool = True) -> RepairReport:
        """Rebuild what `verify` finds wrong from the catalog; then verify again."""
        self._finish_scan()
        done, after = repair_folder(
            self.path,
            check_sources=check_sources,
            wait=self._wait(),
            on_wait=self.on_status,
            catalog_at=self.settings.catalog,
        )
        return RepairReport(done, after)

    # the collection's own vocabulary (searchengine/vocab/)

    def related(
        self, word: str, *, k: int = DEFAULT_K, method: Method = "word2vec"
    ) -> RelatedWords:
        """The words nearest to `word` in this collection's text, or to `a - b + c`.

        `word` is analysed as a query is (`자동차를` asks about `자동차`).
        """
        return related_words(self._word_vectors(method), word, k)

    def related_map(self, word: str, *, k: int = 30, method: Method = "word2vec") -> WordMap:
        """`word`, or `a - b + c`, and its `k` nearest words on a plane (t-SNE)."""
        return word_map(self._word_vectors(method), word, k)

    # plumbing

    def _read_store(self) -> Store:
        with self._opening:
            if self._store is None:
                self._store = Store.for_settings(self.settings)
            return self._store

    def _reader(self) -> Searcher:
        store = self._read_store()
        with self._opening:
            if self._searcher is None:
                self._searcher = Searcher(store, self._spaces(store.catalog))
            return self._searcher

    def _writer(self, purpose: str, settings: Settings | None = None) -> Store:
        return Store.for_settings(
            settings or self.settings, writer=True, on_wait=self.on_status, purpose=purpose
        )

    def _wait(self) -> float:
        wait = self.settings.lock_wait_s
        return wait if wait >= 0 else math.inf

    def _spaces(self, catalog: Catalog) -> Spaces:
        return Spaces(catalog, self.settings, self.on_status, self._given, self._loaded)

    def _keep_encoders(self, spaces: Spaces) -> None:
        """Remember the models `spaces` loaded, so this index loads each once."""
        self._loaded = spaces.loaded()

    # learning from use

    def record(
        self,
        user: str,
        item: int | str | os.PathLike[str],
        action: str = "open",
        query: str | None = None,
        *,
        rank: int | None = None,
        at: float | None = None,
    ) -> UseEvent | None:
        """Remember that `user` did `action` (one of ACTIONS: open, folder, copy, similar)
        to `item` (a catalog id, `Hit.file_id`, or an indexed path), from the search
        `query` at `rank` (1: the first hit), at `at` (Unix seconds; default now: another
        time imports events). Kept in the catalog only; None when events are turned off
        (`Settings.events`)."""
        if not isinstance(user, str) or not user.strip() or len(user) > MAX_USER_CHARS:
            raise ConfigError(f"a user is a name of 1 to {MAX_USER_CHARS} characters", "user")
        if action not in ACTIONS:
            raise ConfigError(f"unknown action {action!r}: use {', '.join(ACTIONS)}", "action")
        if rank is not None and rank < 1:
            raise ConfigError("rank counts from 1", "rank")
        if not self.settings.events:
            return None
        catalog = self._read_store().catalog
        file_id = item if isinstance(item, int) else self.item_at(item)
        event = (
            None if file_id is None else catalog.add_event(user, file_id, action, query, rank, at)
        )
        if event is None:
            raise ConfigError(f"no indexed item {item}", "item")
        return event

    def events(self, user: str | None = None) -> list[UseEvent]:
        """The recorded events (of `user`, if given), oldest first."""
        return self._read_store().catalog.events(user=user)

    def forget(self, user: str | None = None) -> int:
        """Erase the events of `user`, or of everyone (None); how many were erased. What
        they taught (recommendations, the personal ranking) is learned again without them
        before the next answer."""
        erased = self._read_store().catalog.forget_events(user)
        self._learn().forgotten()
        return erased

    def recommend(self, user: str, k: int = DEFAULT_K) -> Suggestions:
        """Items for `user`, from what people who opened what they opened also opened
        (their vectors), and from what is like what they opened (its content); nothing they
        acted on recently. A user with no history gets the most opened items."""
        if k < 1:
            raise ConfigError("k must be at least 1", "k")
        return self._learn().recommend(user, k)

    def opened_with(self, item: int, k: int = DEFAULT_K) -> Suggestions:
        """The items most often opened with `item` (a catalog id), by their learned vectors;
        none for an item no one opened."""
        if k < 1:
            raise ConfigError("k must be at least 1", "k")
        return self._learn().together(item, k)

    def wait_for_learning(self, timeout: float | None = None) -> None:
        """Wait for the training of recommendations that new events started in the
        background (the answers meanwhile come from the model before them)."""
        if self._learner is not None:
            self._learner.wait(timeout)

    def _learn(self) -> Learner:
        catalog = self._read_store().catalog
        with self._opening:
            if self._learner is None or self._learner.catalog is not catalog:
                self._learner = Learner(catalog)
            return self._learner

    # browsing (the web page and `semsearch map` / `outliers`)

    def item_at(self, path: str | os.PathLike[str]) -> int | None:
        """The catalog id of the indexed file at `path`, or None."""
        found = self._read_store().catalog.file_by_path(os.path.abspath(Path(path).expanduser()))
        return found.id if found is not None else None

    def item(self, file_id: int) -> Item | None:
        """The indexed file with this catalog id (`Hit.file_id`), or None."""
        return browse.item(self._read_store().catalog, file_id)

    def map(self, method: MapMethod = "pca", *, cached_only: bool = False) -> CollectionMap:
        """Every item on a plane: PCA, or t-SNE cached per index generation in the folder."""
        return compute_map(self._read_store().catalog, self.path, method, cached_only=cached_only)

    def outliers(
        self, *, k: int = DEFAULT_NEIGHBOURS, limit: int = 50, method: str = "knn"
    ) -> OutlierReport:
        """The items least like the rest, per space: by the distance to their k nearest
        neighbours ("knn"), or by how badly an autoencoder trained on the space rebuilds
        them ("autoencoder"); near-duplicate groups."""
        if method not in OUTLIER_METHODS:
            raise ConfigError(
                f"unknown method {method!r}: use {', '.join(OUTLIER_METHODS)}", "method"
            )
        return find_outliers(self._read_store().catalog, k=k, limit=limit, method=method)
