"""What a killed writer leaves in an index folder, cleaned up by the next writer."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from searchengine.catalog import Catalog, SpaceInfo
from searchengine.errors import IndexCorruptError
from searchengine.store.hnsw import fsync_dir
from searchengine.store.hnsw_file import scan_file
from searchengine.store.shared import saver_alive

log = logging.getLogger(__name__)


def clean_leftovers(index_dir: Path, catalog: Catalog) -> None:
    """Remove what a killed writer left in `index_dir`: temporary files, a model switch
    half renamed (`SPACE.next.hnsw`, which becomes `SPACE.hnsw`)."""
    for tmp in index_dir.glob(".*.tmp"):
        if catalog.shared and saver_alive(tmp):
            continue  # another writer or searcher on this machine is saving it
        log.info("removing %s, left by an interrupted save", tmp.name)
        tmp.unlink(missing_ok=True)
    staging = {s.name for s in catalog.spaces(include_staging=True)}
    for pending in index_dir.glob("*.next.hnsw"):
        name = pending.name.removesuffix(".hnsw")
        if name in staging:
            continue  # a model switch is still under way
        space = catalog.space(name.removesuffix(".next"))
        _finish_swap(index_dir, pending, space)


def _finish_swap(index_dir: Path, pending: Path, space: SpaceInfo | None) -> None:
    # A model switch committed its catalog swap but was stopped before it
    # renamed the new index file into place: finish it if the file is the one
    # the catalog recorded, else the ordinary checks rebuild the index.
    try:
        matches = space is not None and scan_file(pending, space.dim).stamp == space.stamp
    except IndexCorruptError:
        matches = False
    if matches and space is not None:
        os.replace(pending, index_dir / f"{space.name}.hnsw")
        fsync_dir(index_dir)
        log.warning("finished the model switch of the %s space", space.name)
    else:
        pending.unlink(missing_ok=True)
