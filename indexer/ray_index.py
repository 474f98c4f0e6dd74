"""Indexing fanned out on a Ray cluster: `semsearch index FOLDER --ray [ADDRESS]`.

The driver walks the folder and plans the changes exactly as a local run does
(`indexer.pipeline`), then hands the files to read, in batches sized for the
models, to a pool of Ray actors (`indexer.ray_worker.BatchWorker`) that each
load their models once. Their outcomes come back to the driver, which takes
them in the order of the plan and commits them as the local run does: one
writer, one catalog transaction per flush, then the HNSW mirror. So the
catalog and the index files are those a local run would write, and a file is
committed once or not at all, whatever dies:

- a worker: Ray restarts it and runs its batches again (`ray_pool.MAX_RESTARTS`
  times); a batch whose worker is gone for good goes to another worker;
- the driver: what it committed stays, its actors end with its job, and
  running the command again finishes the job, as after a local run.

The workers read the files by the paths the driver found, so every node must
see the folder at the same path (a shared file system) and have semsearch
installed. Ray is imported only when a run asks for it (indexer.ray_pool).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from searchengine.config import Settings
from searchengine.models.encoders import Encoders
from searchengine.models.spaces import IMAGE, TEXT, Spaces
from searchengine.query.fusion import reference_background
from searchengine.records import Attached, Progress, Tag
from searchengine.store import Store

from . import pipeline
from .changes import StopRequested
from .chunk import vector_count
from .pipeline import IndexReport, IndexRun, PendingItem, Work, attached_item, folder_root
from .ray_pool import Address, Pool, RemoteImage, RemoteText, cluster
from .read_worker import ReadRequest

log = logging.getLogger(__name__)

BATCH_BYTES = 64 << 20  # a batch of documents closes past this much file data


def index_folder_on_ray(
    root: Path,
    store: Store,
    spaces: Spaces,
    settings: Settings,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    address: Address = True,
    workers: int | None = None,
) -> IndexReport:
    """`index_folder`, with reading, extraction and encoding done by Ray workers.

    `address`: True (or "local") starts a Ray instance on this machine for the
    call; "auto" or an address (HOST:PORT, ray://HOST:PORT) joins a cluster. A
    process already connected to Ray keeps its connection. `workers` defaults to
    one per CPU of the cluster. The workers load the models `spaces` chose (or
    are sent the encoders it was given); the driver loads none.
    """
    root = folder_root(root)
    text_model, image_model = spaces.text_model, spaces.image_model
    given = spaces.given if spaces.given.text or spaces.given.image else None
    with cluster(address) as ray:
        pool = Pool(ray, settings, text_model, image_model, given, workers)
        try:
            remote = Encoders(RemoteText(text_model, pool), RemoteImage(image_model, pool))
            on_ray = Spaces(store.catalog, settings, encoders=remote)
            summary = RayIndexRun(
                root, store, on_ray, settings, on_progress, should_stop, pool
            ).run()
            text = store.catalog.space(TEXT)
            if text is not None and not summary.interrupted:
                # the good-match reference vectors, by a worker, so the driver loads no model
                reference_background(
                    text.fingerprint,
                    lambda texts: on_ray.text().encode(texts, "passage"),
                    settings.model_cache,
                )
        finally:
            pool.close()
    return summary


class RayIndexRun(IndexRun):
    """The local run, with `process` handing the reading and encoding to the pool."""

    encodes = False

    def __init__(
        self,
        root: Path,
        store: Store,
        spaces: Spaces,
        settings: Settings,
        on_progress: Progress | None,
        should_stop: Callable[[], bool] | None,
        pool: Pool,
    ):
        super().__init__(root, store, spaces, settings, on_progress, should_stop)
        self.pool = pool

    def process(self, work: list[Work]) -> None:
        requests = [ReadRequest(f.path, f.kind, f.size, f.mtime_ns, d) for f, d, _ in work]
        received = 0

        def on_received(n: int) -> None:
            nonlocal received
            received += n
            self.progress("extract", received, len(work))

        outcomes = self.pool.run(
            requests, plan_batches(work, self.settings), on_received, self.should_stop
        )
        for (f, digest, is_update), out in zip(work, outcomes, strict=True):
            if self.should_stop():
                raise StopRequested
            if out.status == "later":
                self.skip_for_now(f, out.reason)
            elif out.status == "skip":
                self.skip(f, out.reason)
            else:
                self.pool.learn(TEXT if out.status == "text" else IMAGE, out)
                item = PendingItem(
                    f,
                    digest,
                    is_update,
                    list(out.chunks),
                    None,
                    out.vectors,
                    out.text_vectors,
                    out.tags,
                    out.terms if out.chunks else None,
                    domain=out.domain,
                    term_spans=out.term_spans if out.chunks else (),
                )
                self.pend(item, vector_count(out.chunks) + (out.status == "image"))
                for a in out.attached:
                    held = Attached(a.name, a.size, a.sha256, [])
                    child = attached_item(f, held, list(a.chunks))
                    child.vectors, child.terms = a.vectors, a.terms
                    child.term_spans = a.term_spans
                    self.pend(child, vector_count(a.chunks))
            if self.pending_units >= pipeline.FLUSH_BATCHES * self.settings.text_batch:
                self.flush()
        self.flush()

    def encode_texts(self, texts: list[PendingItem]) -> tuple[np.ndarray, str]:
        # a picture's words came back beside its image vector
        rows = [p.text_vectors if p.found.kind == IMAGE else p.vectors for p in texts]
        return _stack(rows, texts), self.spaces.text().fingerprint

    def encode_images(
        self, images: list[PendingItem]
    ) -> tuple[np.ndarray, Sequence[Sequence[Tag]], Sequence[str | None], str]:
        rows = [p.vectors for p in images]
        tags, domains = [p.tags for p in images], [p.domain for p in images]
        return _stack(rows, images), tags, domains, self.spaces.image().fingerprint


def _stack(rows: list[np.ndarray | None], items: list[PendingItem]) -> np.ndarray:
    vectors = [v for v in rows if v is not None]
    assert len(vectors) == len(items), "every outcome of a Ray worker carries its vectors"
    return np.concatenate(vectors)


def plan_batches(work: Sequence[Work], settings: Settings) -> list[list[int]]:
    """The work's indexes in batches sized for the models: `text_batch` documents
    (or BATCH_BYTES of them) or `image_batch` images, ordered by their first file."""
    done: list[list[int]] = []
    open_: dict[str, tuple[list[int], int]] = {}
    for i, (f, _, _) in enumerate(work):
        batch, size = open_.get(f.kind, ([], 0))
        batch.append(i)
        size += f.size
        limit = settings.image_batch if f.kind == IMAGE else settings.text_batch
        if len(batch) >= max(1, limit) or (f.kind != IMAGE and size >= BATCH_BYTES):
            done.append(batch)
            open_.pop(f.kind, None)
        else:
            open_[f.kind] = (batch, size)
    done.extend(batch for batch, _ in open_.values())
    return sorted(done, key=lambda b: b[0])
