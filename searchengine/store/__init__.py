"""The index folder: the catalog, one hnswlib file per space, and the writer lock.

`folder` opens a folder (`Store`); `hnsw` wraps hnswlib; `hnsw_file` reads
an index file's header without hnswlib; `lock` is the writer lock; `verify`
checks and repairs a folder against its catalog.
"""

from searchengine.store.folder import CATALOG_NAME, LOCK_NAME, Store

__all__ = ["CATALOG_NAME", "LOCK_NAME", "Store"]
