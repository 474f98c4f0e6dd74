"""Word vectors on disk: `<index>/vocab/`, one `.npz` per method and a `training.json`.

Every file is written whole to a temporary name and renamed into place, so a
reader (a search, `semsearch related`) always loads the last complete model,
even while a training run is writing the next one. Readers keep a loaded
model until its file changes. Deleting the index folder drops them with it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Literal, get_args

import numpy as np

from searchengine.errors import ConfigError, NoWordVectorsError

Method = Literal["word2vec", "cbow", "glove"]
METHODS: tuple[Method, ...] = get_args(Method)  # word2vec: skip-gram
VOCAB_FOLDER = "vocab"
RECORD_NAME = "training.json"


@dataclass(frozen=True)
class WordVectors:
    """One trained model: a vector (unit length) and a corpus count per term."""

    method: str
    words: list[str]
    vectors: np.ndarray  # (n, dim) float32, rows L2-normalised
    counts: np.ndarray  # (n,) occurrences in the indexed text

    @cached_property
    def row(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class TrainingRecord:
    """What the last training run did: trained, or skipped and why."""

    status: Literal["trained", "skipped"]
    reason: str = ""
    chunks: int = 0
    tokens: int = 0
    vocabulary: int = 0
    stamp: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    trained_at: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def vocab_dir(index_dir: Path) -> Path:
    return index_dir / VOCAB_FOLDER


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_vectors(folder: Path, wv: WordVectors) -> Path:
    """Write `wv` to `folder/<method>.npz` atomically; returns the path."""
    path = folder / f"{wv.method}.npz"

    def write(f: IO[bytes]) -> None:
        np.savez(
            f,
            words=np.asarray(wv.words, dtype=str),
            vectors=wv.vectors.astype(np.float32),
            counts=wv.counts.astype(np.int64),
        )

    _atomic_write(path, write)
    return path


def write_record(folder: Path, record: TrainingRecord) -> None:
    data = json.dumps(record.to_json(), ensure_ascii=False, indent=1).encode()

    def write(f: IO[bytes]) -> None:
        f.write(data)

    _atomic_write(folder / RECORD_NAME, write)


def read_record(folder: Path) -> TrainingRecord | None:
    try:
        data = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
        return TrainingRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def drop_vectors(folder: Path) -> None:
    """Remove every model file (the training record stays, to say why)."""
    for method in METHODS:
        (folder / f"{method}.npz").unlink(missing_ok=True)


_loaded: dict[Path, tuple[tuple[int, int], WordVectors]] = {}
_loading = threading.Lock()


def load_vectors(folder: Path, method: str) -> WordVectors:
    """The last complete model of `method` in `folder`; NoWordVectorsError when there is none."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: use one of {', '.join(METHODS)}", "method")
    path = folder / f"{method}.npz"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NoWordVectorsError(_why_none(folder)) from None
    key = (st.st_mtime_ns, st.st_size)
    with _loading:
        cached = _loaded.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
    with np.load(path, allow_pickle=False) as data:
        wv = WordVectors(method, data["words"].tolist(), unit_rows(data["vectors"]), data["counts"])
    with _loading:
        _loaded[path] = (key, wv)
    return wv


def _why_none(folder: Path) -> str:
    record = read_record(folder)
    if record is not None and record.status == "skipped":
        return f"no word vectors for this collection: {record.reason}"
    return "no word vectors for this collection yet: indexing trains them (unless turned off)"
