"""`semsearch verify` and `semsearch repair`.

The catalog is the truth; every index file, and every file the catalog names,
must agree with it. `verify` reads and reports without changing anything;
`repair` drops what the catalog cannot vouch for and rebuilds every index file
from the catalog's vectors, after which `verify` is clean.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from searchengine.catalog import Catalog, SpaceInfo, is_staging
from searchengine.catalog.postgres import is_postgres_url
from searchengine.errors import CatalogError, IndexCorruptError, NoIndexError
from searchengine.store import CATALOG_NAME, Store
from searchengine.store.hnsw import HnswIndex
from searchengine.store.lock import WriterLock
from searchengine.store.shared import catalog_url

log = logging.getLogger(__name__)

EXAMPLES = 5  # paths or labels shown per problem
_COMPARE_BATCH = 5_000


@dataclass(frozen=True)
class Problem:
    """One kind of inconsistency, with how many items it touches and a few of them."""

    kind: str
    message: str
    space: str | None = None
    count: int = 1
    examples: tuple[str, ...] = ()


@dataclass
class Report:
    """What `verify` found."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong

    @property
    def clean(self) -> bool:
        return not self.problems

    def add(
        self,
        kind: str,
        message: str,
        space: str | None = None,
        items: Sequence[object] = (),
        count: int | None = None,
    ) -> None:
        examples = tuple(str(x) for x in list(items)[:EXAMPLES])
        n = count if count is not None else max(len(items), 1)
        self.problems.append(Problem(kind, message, space, n, examples))

    def to_json(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "problems": [asdict(p) for p in self.problems],
            "notes": self.notes,
        }


def verify_folder(
    index_dir: Path,
    *,
    check_sources: bool = True,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    catalog_at: str | None = None,
) -> Report:
    """Verify the index folder at `index_dir`, holding the writer lock while it does."""
    if is_postgres_url(catalog_url(catalog_at, index_dir)):
        # a shared catalog: its lock, taken exclusively, waits for every writer
        with Store(
            index_dir,
            writer=True,
            wait=wait,
            on_wait=on_wait,
            purpose="verifying",
            catalog=catalog_at,
        ) as store:
            return verify(index_dir, store.catalog, check_sources=check_sources)
    catalog = Catalog(index_dir / CATALOG_NAME, create=False)
    lock = WriterLock(index_dir, "verifying")
    try:
        lock.acquire(wait, on_wait)
        return verify(index_dir, catalog, check_sources=check_sources)
    finally:
        lock.release()
        catalog.close()


def repair_folder(
    index_dir: Path,
    *,
    check_sources: bool = True,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    catalog_at: str | None = None,
) -> tuple[list[str], Report]:
    """Repair the index folder at `index_dir`; returns what was done and a verify after it."""
    shared = is_postgres_url(catalog_url(catalog_at, index_dir))
    if not shared and not (index_dir / CATALOG_NAME).exists():
        raise NoIndexError(index_dir)
    with Store(
        index_dir,
        writer=True,
        wait=wait,
        on_wait=on_wait,
        purpose="repairing",
        catalog=catalog_at,
    ) as store:
        done = repair(store, check_sources=check_sources)
        return done, verify(index_dir, store.catalog, check_sources=check_sources)


def verify(index_dir: Path, catalog: Catalog, *, check_sources: bool = True) -> Report:
    """Every inconsistency between the catalog, the index files and the indexed files.

    The caller holds the writer lock, so that no run is halfway through a change.
    """
    report = Report()
    for problem in catalog.integrity_problems():
        report.add("catalog-damaged", f"the catalog itself is damaged: {problem}")
    known_files = {f"{s.name}.hnsw" for s in catalog.spaces(include_staging=True)}
    for space in catalog.spaces(include_staging=True):
        if is_staging(space.name):
            done = len(catalog.live_labels(space.name))
            report.notes.append(
                f"a switch of the {space.name.removesuffix('.next')} space to {space.model!r} "
                f"is under way ({done} vectors so far): run the same `semsearch reembed` "
                f"again to finish it"
            )
        else:
            _verify_space(index_dir, catalog, space, report)
    by_space: dict[str, list[str]] = {}
    for name, label, path in catalog.invalid_vectors():
        by_space.setdefault(name, []).append(f"{path} (label {label})")
    for name, items in by_space.items():
        report.add(
            "wrong-model",
            f"{len(items)} vectors in the {name} space were made by another model "
            f"or have the wrong size",
            name,
            items,
        )
    unbacked = catalog.files_without_vectors()
    if unbacked:
        report.add(
            "files-without-vectors",
            f"{len(unbacked)} indexed files have no vectors",
            items=[f.path for f in unbacked],
        )
    orphans = catalog.orphan_chunks()
    if orphans:
        report.add("orphan-chunks", f"{orphans} chunks belong to no vector", count=orphans)
    unread = catalog.files_with_broken_pieces()
    if unread:
        report.add(
            "pieces-broken",
            f"{len(unread)} indexed files have a chunk that its vectors do not read whole",
            items=[f.path for f in unread],
        )
    damage, unsearchable, stray = catalog.lexical_problems()
    if damage:
        report.add("lexical-damaged", f"the lexical (word) index is damaged: {damage}")
    if unsearchable:
        report.add(
            "lexical-missing",
            f"{unsearchable} chunks are missing from the lexical (word) index",
            count=unsearchable,
        )
    if stray:
        report.add(
            "lexical-stray",
            f"{stray} lexical index rows belong to no chunk",
            count=stray,
        )
    leftovers = [
        p.name
        for p in sorted(index_dir.iterdir())
        if p.name.endswith(".tmp") or (p.suffix == ".hnsw" and p.name not in known_files)
    ]
    if leftovers:
        report.add(
            "leftover-file",
            f"{len(leftovers)} files in the index folder belong to no space",
            items=leftovers,
        )
    if check_sources:
        missing = [f.path for f in catalog.iter_files() if f.on_disk and not os.path.exists(f.path)]
        if missing:
            report.add(
                "missing-source",
                f"{len(missing)} indexed files no longer exist on disk",
                items=missing,
            )
    return report


def _verify_space(index_dir: Path, catalog: Catalog, space: SpaceInfo, report: Report) -> None:
    name = space.name
    path = index_dir / f"{name}.hnsw"
    live = catalog.live_labels(name)
    if space.metric != "cosine":
        report.add("wrong-metric", f"the {name} space says metric {space.metric!r}", name)
    # beside a shared catalog an index file is this machine's cache: missing or behind
    # is normal (a search catches it up), unreadable or foreign is not
    cache = catalog.shared
    if not path.exists():
        if not cache and (len(live) or space.index_count):
            report.add(
                "index-missing",
                f"{path.name} is missing ({len(live)} vectors in the catalog)",
                name,
            )
        return
    try:
        idx = HnswIndex.load(path, space.dim)
    except IndexCorruptError as exc:
        report.add("index-unreadable", str(exc), name)
        return
    in_file = idx.labels()
    without_rows = np.setdiff1d(in_file, live, assume_unique=True)
    if len(without_rows) and not cache:
        report.add(
            "labels-without-rows",
            f"{path.name} holds {len(without_rows)} labels with no vector in the catalog",
            name,
            without_rows.tolist(),
        )
    without_labels = np.setdiff1d(live, in_file, assume_unique=True)
    if len(without_labels) and not cache:
        report.add(
            "rows-without-labels",
            f"{len(without_labels)} catalog vectors of the {name} space are not in {path.name} "
            f"(the next run catches up; `semsearch repair` rebuilds)",
            name,
            without_labels.tolist(),
        )
    on_disk = idx.loaded_from.stamp if idx.loaded_from else None
    if on_disk != space.stamp and not cache:
        report.add(
            "wrong-counts",
            f"the catalog recorded generation {space.index_generation} of {path.name} with "
            f"{space.index_count} live and {space.index_deleted} deleted vectors in "
            f"{space.index_bytes} bytes; the file holds {on_disk}",
            name,
        )
    differing = _differing_vectors(catalog, idx, name, np.intersect1d(in_file, live))
    if differing:
        report.add(
            "other-vectors",
            f"{len(differing)} labels in {path.name} hold other vectors than the catalog's",
            name,
            differing,
        )
    if idx.element_count:
        share = idx.deleted_count / idx.element_count
        report.notes.append(
            f"{path.name}: {idx.live_count} live vectors, {idx.deleted_count} deleted "
            f"({share:.0%}), generation {space.index_generation}"
        )


def _differing_vectors(
    catalog: Catalog, idx: HnswIndex, space: str, common: np.ndarray
) -> list[int]:
    differing: list[int] = []
    for at in range(0, len(common), _COMPARE_BATCH):
        labels, expected = catalog.vectors_for(space, common[at : at + _COMPARE_BATCH].tolist())
        if not len(labels):
            continue
        held = idx.vectors(labels)
        bad = ~np.all(np.isclose(held, expected, atol=1e-5), axis=1)
        differing.extend(int(x) for x in labels[bad])
    return differing


def repair(store: Store, *, check_sources: bool = True) -> list[str]:
    """Make the index folder consistent; returns what was done, one line each.

    Files the catalog cannot vouch for (vectors of another model, no vectors,
    gone from disk) are dropped, so the next `index` run reads them afresh;
    then every index file is rebuilt from the catalog and the catalog vacuumed.
    """
    # Every index is rebuilt at the end, so the drops below touch the catalog only.
    catalog = store.catalog
    done: list[str] = []
    damage = catalog.integrity_problems()
    if damage:
        catalog.reindex()
        if catalog.integrity_problems():
            raise CatalogError(
                f"the catalog itself is damaged ({damage[0]}); repair rebuilds index files "
                f"from it and cannot mend it: move {store.index_dir} away and index again"
            )
        done.append("rebuilt the catalog's own SQLite indexes")
    bad_files = {label_path for _, _, label_path in catalog.invalid_vectors()}
    if bad_files:
        catalog.remove_files(bad_files)
        done.append(f"dropped {len(bad_files)} files with vectors of another model")
    unbacked = catalog.files_without_vectors()
    if unbacked:
        catalog.drop_files(f.id for f in unbacked)
        done.append(f"dropped {len(unbacked)} indexed files that had no vectors")
    unread = catalog.files_with_broken_pieces()
    if unread:
        catalog.drop_files(f.id for f in unread)
        done.append(f"dropped {len(unread)} files whose vectors did not read a chunk whole")
    if check_sources:
        missing = [f.path for f in catalog.iter_files() if f.on_disk and not os.path.exists(f.path)]
        if missing:
            catalog.remove_files(missing)
            done.append(f"dropped {len(missing)} files that no longer exist on disk")
    orphans = catalog.drop_orphan_chunks()
    if orphans:
        done.append(f"deleted {orphans} chunks that belonged to no vector")
    fts_damage, unsearchable, stray_rows = catalog.lexical_problems()
    if fts_damage or unsearchable or stray_rows:
        from searchengine.lexical import index_text

        written = catalog.mend_lexical(index_text, from_scratch=bool(fts_damage))
        done.append(
            f"{'rebuilt' if fts_damage else 'mended'} the lexical (word) index: "
            f"{written} chunks analysed, {stray_rows} stray rows dropped"
        )
    spaces = catalog.spaces()
    for space in spaces:
        idx = store.rebuild(space)
        done.append(f"rebuilt {space.name}.hnsw from the catalog: {idx.live_count} vectors")
    store.save()
    known = {f"{s.name}.hnsw" for s in catalog.spaces(include_staging=True)}
    for stray in sorted(store.index_dir.glob("*.hnsw")):
        if stray.name not in known:
            stray.unlink()
            done.append(f"removed {stray.name}, which belongs to no space")
    catalog.vacuum()
    done.append("vacuumed the catalog")
    return done
