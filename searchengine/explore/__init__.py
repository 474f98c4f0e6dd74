"""Looking at the whole collection: a 2-D map of it, and the items least like the rest.

`layout` places every item on a plane (PCA at once, t-SNE cached per index
generation); `outliers` scores items by their distance to their nearest
neighbours and groups near-duplicates. Both read one vector per item from the
catalog (`searchengine.catalog.browse`).
"""

from searchengine.explore.layout import CollectionMap, MapPoint, compute_map
from searchengine.explore.outliers import Outlier, OutlierReport, find_outliers

__all__ = [
    "CollectionMap",
    "MapPoint",
    "Outlier",
    "OutlierReport",
    "compute_map",
    "find_outliers",
]
