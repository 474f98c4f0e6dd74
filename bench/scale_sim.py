"""The catalog at scale, simulated with synthetic vectors and texts, no encoding (issue 13).

Synthetic data and the catalog measurements that bench_scale.py runs:

* growth: one-chunk files with a ~300-byte text go through the real write path
  (``Catalog.write_items``, ``commit`` files a transaction) to each checkpoint,
  where the insert rate, the size on disk and a searcher's reads are timed:
  ``live_labels``, ``label_owners`` (and with the float16 vectors a long-lived searcher
  keeps), ``iter_vectors`` over all (a rebuild's read), ``chunk_vectors`` of 50 files.
  Beyond ``real_until``, the same rows are bulk-filled straight into SQLite (``same_rows``
  checks it) but for ``window`` rows before each checkpoint, which go through write_items.
Also hnswlib's memory formula and brute-force neighbours, for bench_scale.py's hnsw part.

    python -m bench.scale_sim --smoke   # tiny: a check that it runs, not a measurement
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # per-core figures: one BLAS thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
from bench.bench_storage import folder_bytes  # noqa: E402

DIM = 384  # e5-small's text space; the image space is 384 too
BLOCK = 10_000  # vectors are made in seeded blocks, so any range can be made again
LATENT = 48  # "latent" vectors lie near a 48-d subspace, as sentence embeddings do
NOISE_SHARE = 0.2  # ...with this share of their energy spread over all 384 dimensions
FP = "scale-fp"
VECTORS_READ_MAX = 2_000_000  # label_owners(vectors=True) needs 15 GB at 10M: this machine's limit
ITER_MAX = 2_000_000  # beyond, iter_vectors is one batch timed x batches (each scans everything)
ROWID_READ = (  # iter_vectors' query as SQLite runs it once told to walk the rowids
    "SELECT v.id, v.data FROM vectors v NOT INDEXED JOIN spaces s ON s.name = v.space WHERE "
    "v.space = 'text' AND v.fingerprint = s.fingerprint AND length(v.data) = s.dim * 2 AND "
    "v.id > ? ORDER BY v.id LIMIT 10000"
)


def vector_block(block: int, kind: str = "latent", dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Block `block` of the synthetic set: BLOCK unit float32 vectors, always the same."""
    rng = np.random.default_rng([seed, block])
    if kind == "uniform":  # uniform on the sphere: the worst case for a graph index
        x = rng.standard_normal((BLOCK, dim), dtype=np.float32)
    else:
        basis = np.random.default_rng([seed, 2**31]).standard_normal((LATENT, dim))
        x = (rng.standard_normal((BLOCK, LATENT)) @ basis).astype(np.float32)
        sigma = np.sqrt(LATENT * NOISE_SHARE / (1 - NOISE_SHARE))
        x += sigma * rng.standard_normal((BLOCK, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def vectors(start: int, stop: int, kind: str = "latent", dim: int = DIM) -> np.ndarray:
    """Vectors start..stop of the synthetic set."""
    parts = []
    for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        lo, hi = max(start - b * BLOCK, 0), min(stop - b * BLOCK, BLOCK)
        parts.append(vector_block(b, kind, dim)[lo:hi])
    return np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)


_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "ch", "st", "er"]


def vocabulary(size: int = 50_000) -> list[str]:
    """Pseudo-words of 2-4 syllables (Latin letters: the analyser's cheap path)."""
    rng = np.random.default_rng(7)
    words: dict[str, None] = {}
    while len(words) < size:  # (the number of syllables is drawn first)
        n = int(rng.integers(2, 5))
        words["".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), n))] = None
    return list(words)


class Texts:
    """~300-byte chunk texts, words drawn by Zipf's law (a real corpus's long tail)."""

    def __init__(self, seed: int = 0, words: int = 44):
        self.words = vocabulary()
        self.rng = np.random.default_rng(seed)  # words
        self.vrng = np.random.default_rng(seed + 1_000)  # vectors
        self.per_text = words
        self._terms: list[str] = []

    def draw(self, n: int) -> list[list[int]]:
        ids = (self.rng.zipf(1.15, size=(n, self.per_text)) - 1) % len(self.words)
        return ids.tolist()  # type: ignore[no-any-return]

    def text(self, ids: list[int]) -> str:
        return " ".join(map(self.words.__getitem__, ids)) + "."

    def terms(self, ids: list[int]) -> str:
        """What `index_text(self.text(ids))` gives, from each word's terms computed once."""
        if not self._terms:
            from searchengine.lexical import index_text

            self._terms = [index_text(w) for w in self.words]
        return " ".join(t for t in map(self._terms.__getitem__, ids) if t)

    def make(self, n: int) -> list[str]:
        return [self.text(row) for row in self.draw(n)]


def formula_bytes(n: int, dim: int, m: int) -> float:
    """hnswlib's layout (hnswalg.h): level 0 (vector, 2M links, count, label), upper levels
    (1/(M-1) a vector, M links each), a level, a pointer, a mutex, a label-map entry."""
    level0 = dim * 4 + (2 * m * 4 + 4) + 8
    upper = (m * 4 + 4) / (m - 1)
    bookkeeping = 4 + 8 + 40 + 40  # element level, pointer, std::mutex, unordered_map node
    return n * (level0 + upper + bookkeeping)


def brute_top10(queries: np.ndarray, n: int, kind: str) -> np.ndarray:
    """The true 10 nearest labels (0-based) of each query among the first n vectors."""
    top_s, top_i = [], []
    for b in range(0, n, BLOCK):
        s = queries @ vector_block(b // BLOCK, kind)[: n - b].T
        j = np.argpartition(-s, min(10, s.shape[1] - 1), axis=1)[:, :10]
        top_s.append(np.take_along_axis(s, j, 1))
        top_i.append(j + b)
    s, i = np.concatenate(top_s, 1), np.concatenate(top_i, 1)
    return np.take_along_axis(i, np.argsort(-s, axis=1)[:, :10], 1)


def rss_bytes(field: str = "VmRSS") -> int:  # VmHWM: the peak since clear_refs was given 5
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(x.split()[1]) * 1024 for x in status if x.startswith(field + ":"))


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((x.split(":", 1)[1].strip() for x in info if x.startswith("model name")), "?")
    ram = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.machine()}, {os.cpu_count()} cpus ({model}), {ram:.1f} GiB RAM, load {load}"


def open_catalog(target: str, *, durable: bool = False):  # type: ignore[no-untyped-def]
    """The project's `Catalog` on `target`: a SQLite path, or an SQLAlchemy URL."""
    from searchengine.catalog import Catalog

    if "://" not in target:
        return Catalog(Path(target), durable=durable)
    return Catalog(url=target)


def catalog_bytes(target: str) -> int:
    if "://" not in target:
        return folder_bytes(Path(target).parent)
    import psycopg

    with psycopg.connect(target.replace("+psycopg", "")) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def new_items(texts: Texts, start: int, n: int, folder: str) -> list[Any]:
    """n one-chunk text files, numbered from `start`, with their (stored-precision) vectors."""
    from searchengine.catalog import NewItem
    from searchengine.lexical import index_text
    from searchengine.records import Chunk

    vecs = texts.vrng.standard_normal((n, DIM), dtype=np.float32)  # the catalog rounds to float16
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    out = []
    for i, text in enumerate(texts.make(n)):
        f = start + i
        chunk = Chunk(text, 0, len(text))
        path = f"{folder}/d{f // 1000:05d}/file{f:08d}.txt"
        terms = (index_text(text),)  # the indexer analyses; the catalog stores what it is given
        out.append(
            NewItem(
                path, "text", len(text), f, sha(f), "text", [chunk], vecs[i : i + 1], terms=terms
            )
        )
    return out


def sha(f: int) -> str:
    return hashlib.sha256(f.to_bytes(8, "little")).hexdigest()


def bulk_fill(
    db: str, texts: Texts, start: int, stop: int, folder: str, batch: int = 20_000
) -> None:
    """Files start..stop written straight into a SQLite catalog, bypassing `write_items`:
    the same rows (files, chunks, their FTS5 terms, float16 vectors), many times faster.
    Used only to get between checkpoints; `same_rows` checks that it matches."""
    from searchengine.catalog.rows import vector_blob

    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    try:
        for at in range(start, stop, batch):
            n = min(batch, stop - at)
            ids = texts.draw(n)
            vecs = texts.vrng.standard_normal((n, DIM), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            now = time.time()
            with con:
                fid = con.execute("SELECT coalesce(max(id), 0) + 1 FROM files").fetchone()[0]
                cid = con.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()[0]
                text = [texts.text(row) for row in ids]
                paths = [f"{folder}/d{f // 1000:05d}/file{f:08d}.txt" for f in range(at, at + n)]
                con.executemany(
                    "INSERT INTO files (id, path, path_key, kind, size, mtime_ns, sha256, "
                    "indexed_at) VALUES (?, ?, ?, 'text', ?, ?, ?, ?)",
                    [
                        (fid + i, p, p, len(t), at + i, sha(at + i), now)
                        for i, (p, t) in enumerate(zip(paths, text, strict=True))
                    ],
                )
                con.executemany(
                    'INSERT INTO chunks (id, file_id, ordinal, page, start, "end", text) '
                    "VALUES (?, ?, 0, NULL, 0, ?, ?)",
                    [(cid + i, fid + i, len(t), t) for i, t in enumerate(text)],
                )
                con.executemany(
                    "INSERT INTO chunk_terms (rowid, terms) VALUES (?, ?)",
                    [(cid + i, texts.terms(row)) for i, row in enumerate(ids)],
                )
                con.executemany(
                    "INSERT INTO vectors (space, file_id, chunk_id, fingerprint, data) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [("text", fid + i, cid + i, FP, vector_blob(vecs[i])) for i in range(n)],
                )
    finally:
        con.close()


SAME_ROWS = {
    "files": "SELECT id, path, path_key, kind, size, mtime_ns, sha256, skip_reason FROM files",
    "chunks": "SELECT * FROM chunks",
    "chunk_terms": "SELECT rowid, terms FROM chunk_terms",
    "vectors": "SELECT id, space, file_id, chunk_id, fingerprint, data FROM vectors",
}


def same_rows(folder: Path, n: int = 1_000) -> bool:
    """Whether `bulk_fill` writes what `write_items` writes, for the same n files."""
    dumps = []
    for way in ("real", "bulk"):
        db = str(folder / f"{way}.db")
        cat = open_catalog(db)
        cat.ensure_space("text", "scale-bench", FP, DIM)
        if way == "real":
            write_range(cat, Texts(), 0, n, 256, "/same")
        else:
            bulk_fill(db, Texts(), 0, n, "/same", batch=300)
        cat.close()
        con = sqlite3.connect(db)
        dumps.append([con.execute(q + " ORDER BY 1").fetchall() for q in SAME_ROWS.values()])
        con.close()
    return dumps[0] == dumps[1]


def write_range(
    cat: Any, texts: Texts, start: int, stop: int, commit: int, folder: str
) -> tuple[list[float], float]:
    """Write files start..stop, `commit` a transaction: each write_items' seconds, and their
    CPU seconds in all (this process's: SQLite's work, not a PostgreSQL server's)."""
    took, cpu = [], 0.0
    for at in range(start, stop, commit):
        items = new_items(texts, at, min(commit, stop - at), folder)
        t, c = time.perf_counter(), time.process_time()
        cat.write_items(items, {"text": FP})
        took.append(time.perf_counter() - t)
        cpu += time.process_time() - c
    return took, cpu


def timed(fn: Callable[[], Any]) -> tuple[float, float]:  # wall and CPU seconds
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def searcher_reads(cat: Any, n_files: int, rng: np.random.Generator) -> dict[str, float]:
    """Seconds (wall; CPU in "..._cpu") of a searcher's and a rebuild's reads at this size."""
    files = rng.choice(n_files, size=min(50, n_files), replace=False) + 1  # file ids 1..n
    reads = {
        "live_labels_s": lambda: cat.live_labels("text"),
        "label_owners_s": lambda: cat.label_owners("text"),
        "chunk_vectors_50_s": lambda: cat.chunk_vectors("text", files.tolist()),
        "iter_vectors_s": (lambda: sum(len(x) for x, _ in cat.iter_vectors("text")))
        if n_files <= ITER_MAX
        else (lambda: next(cat.iter_vectors("text"))),  # SQLite sorts the space for each batch
    }
    if cat.path is not None:
        reads["rowid_read_s"] = lambda: rowid_read(str(cat.path))
    if n_files <= VECTORS_READ_MAX:  # its peak memory is ~2 x 768 B a vector (bytes, then array)
        reads["label_owners_vectors_s"] = lambda: cat.label_owners("text", vectors=True)
    out = {}
    for key, read in reads.items():
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS
        base = rss_bytes()
        out[key], out[key + "_cpu"] = timed(read)
        out[key[:-2] + "_peak"] = rss_bytes("VmHWM") - base
    if n_files > ITER_MAX:  # EXTRAPOLATED from one batch
        out["iter_vectors_s"], out["iter_vectors_s_cpu"] = (
            out[k] * -(-n_files // 10_000) for k in ("iter_vectors_s", "iter_vectors_s_cpu")
        )
    return out


def rowid_read(db: str) -> int:
    con, last, n = sqlite3.connect(db), 0, 0
    while rows := con.execute(ROWID_READ, (last,)).fetchall():
        np.frombuffer(b"".join(r[1] for r in rows), np.float16).astype(np.float32)
        last, n = rows[-1][0], n + len(rows)
    con.close()
    return n


def grow_catalog(
    target: str,
    checkpoints: list[int],
    commit: int,
    log: Callable[[str], None],
    real_until: int | None = None,
    window: int = 100_000,
) -> list[dict[str, Any]]:
    """Fill a catalog to each checkpoint in turn (all through `write_items`, or beyond
    `real_until` bulk-filled but for `window` rows); one row of figures per checkpoint."""
    cat = open_catalog(target)
    cat.ensure_space("text", "scale-bench", FP, DIM)
    texts, rng = Texts(), np.random.default_rng(1)
    rows: list[dict[str, Any]] = []
    done, real_rows = cat.vector_count("text"), 0  # a catalog filled before: on from there
    for point in (p for p in checkpoints if p > done):
        if real_until is not None and point > real_until:
            bulk_to = max(done, real_until, point - window)
            t = time.perf_counter()
            bulk_fill(target, texts, done, bulk_to, "/scale")
            log(f"  (bulk-filled {bulk_to - done:,} rows in {time.perf_counter() - t:.0f} s)")
            done = bulk_to
        took, cpu = write_range(cat, texts, done, point, commit, "/scale")
        real_rows += point - done
        size = catalog_bytes(target)
        row = {
            "clock": "wall" if "://" in target else "cpu",
            "vectors": point,
            "via_write_items": real_rows,
            "rows_per_s": (point - done) / sum(took),
            "rows_per_cpu_s": (point - done) / cpu,
            "commit_ms_p50": statistics.median(took) * 1e3,
            "bytes": size,
            "bytes_per_vector": size / point,
            **searcher_reads(cat, point, rng),
        }
        done = point
        rows.append(row)
        log(catalog_line(row))
    cat.close()
    if "://" not in target:
        log(f"  bytes per vector by table at {done:,}: {table_bytes(target, done)}")
    return rows


def table_bytes(db: str, n: int) -> str:
    """Where the bytes of a SQLite catalog go (its dbstat table), per vector."""
    con = sqlite3.connect(db)
    got = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    con.close()
    parts: dict[str, int] = {}
    for name, size in got:  # an index or FTS5 shadow table counts with its table
        key = next((t for t in ("vectors", "chunk_terms", "chunks", "files") if t in name), "other")
        parts[key] = parts.get(key, 0) + size
    return ", ".join(f"{k} {v / n:.0f}" for k, v in sorted(parts.items(), key=lambda x: -x[1]))


CATALOG_HEADER = (  # reads: CPU seconds on SQLite (in-process), wall seconds on PostgreSQL
    f"{'vectors':>10} {'rows/s':>6} {'/CPU s':>6} {'commit ms':>9} {'GB':>6} {'B/vec':>5} "
    f"{'live_labels s':>13} {'label_owners s/peak GB':>22} {'+vectors s/peak GB':>18} "
    f"{'iter_vectors s/rowid walk s':>27} {'chunk_vectors(50) ms':>20}"
)


def catalog_line(r: dict[str, Any]) -> str:
    c = "_cpu" if r["clock"] == "cpu" else ""
    walk = f"{'~' * (r['vectors'] > ITER_MAX)}{r['iter_vectors_s' + c]:.2f}/"
    walk += f"{r.get('rowid_read_s' + c, np.nan):.2f}"  # ~: one batch timed, x batches

    def read(key: str) -> str:  # seconds/peak GB
        return f"{r.get(key + '_s' + c, np.nan):.2f}/{r.get(key + '_peak', np.nan) / 1e9:.2f}"

    return (
        f"{r['vectors']:>10,} {r['rows_per_s']:>6.0f} {r['rows_per_cpu_s']:>6.0f} "
        f"{r['commit_ms_p50']:>9.1f} {r['bytes'] / 1e9:>6.2f} {r['bytes_per_vector']:>5.0f} "
        f"{r['live_labels_s' + c]:>13.2f} {read('label_owners'):>22} "
        f"{read('label_owners_vectors'):>18} {walk:>27} "
        f"{r['chunk_vectors_50_s' + c] * 1e3:>20.1f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a check, not a measurement")
    ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="semsearch-scale-") as tmp:
        print(f"bulk fill writes what write_items writes: {same_rows(Path(tmp))}")
        print("catalog growth (SQLite, durable=False):\n" + CATALOG_HEADER)
        grow_catalog(f"{tmp}/catalog.db", [1_000, 3_000], 256, print, real_until=1_000, window=500)
    return 0


if __name__ == "__main__":
    sys.exit(main())
