"""What the upkeep methods of `Index` return: status, repair and evaluation reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from searchengine.query.evaluate import Breakdown, Qrels
from searchengine.store.verify import Report


@dataclass(frozen=True)
class IndexStatus:
    """What an index holds, with which models, and how big it is."""

    index: str
    counts: dict[str, int]
    spaces: list[dict[str, object]]
    bytes: dict[str, int]
    skipped: list[tuple[str, str]]
    # new items an autoencoder found unusual after the runs that added them, most first
    new_outliers: list[dict[str, object]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "counts": self.counts,
            "spaces": self.spaces,
            "bytes": self.bytes,
            "total_bytes": self.total_bytes,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "new_outliers": self.new_outliers,
        }


@dataclass(frozen=True)
class RepairReport:
    """What `repair` did, and a verify run after it."""

    done: list[str]
    after: Report

    @property
    def clean(self) -> bool:
        return self.after.clean

    def to_json(self) -> dict[str, object]:
        return {"done": self.done, "verify": self.after.to_json()}


@dataclass(frozen=True)
class EvalReport:
    """Search quality on labelled queries: metrics per mode, per query kind and per format
    of the relevant files."""

    qrels: Qrels
    modes: Breakdown
    missing: list[str] = field(default_factory=list)  # relevant files not indexed
    relevant: int = 0
    formats: Breakdown = field(default_factory=dict)  # mode -> format -> metrics

    def to_json(self, qrels_path: str) -> dict[str, object]:
        return {
            "qrels": qrels_path,
            "folder": self.qrels.folder,
            "modes": self.modes,
            "formats": self.formats,
        }
