"""One settings object with named defaults.

Defaults are overridden by CLI flags; one environment variable, ``SEMSEARCH_HOME``,
moves the whole data folder (default index and model cache), and
``SEMSEARCH_CATALOG`` puts the catalog on a database server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

ENV_HOME = "SEMSEARCH_HOME"
ENV_CATALOG = "SEMSEARCH_CATALOG"  # a catalog URL (PostgreSQL), for --catalog

DEFAULT_TEXT_MODEL = "e5-small"
DEFAULT_IMAGE_MODEL = "semsearch-clip-duo"
DEFAULT_CHUNK_OVERLAP_TOKENS = 32
DEFAULT_VECTOR_TOKENS = 384
DEFAULT_TEXT_BATCH = 32
DEFAULT_TEXT_ENGINE = "auto"
DEFAULT_TEXT_PRECISION = "auto"
# pictures through the image towers at once: ONNX Runtime's arena keeps the activations of
# the largest batch, so 32 held the default pair at 726 MB after 128 pictures and 8 at
# 318, at 83 and 93 pictures/s (one process each, 2 cores; 4: 253 MB, 92/s)
DEFAULT_IMAGE_BATCH = 8
DEFAULT_K = 10
LOCAL_USER = "local"  # who the events of a server without named tokens belong to
DEFAULT_IMAGE_TO_DOCUMENTS = "auto"  # the way measured best for the image model, if any
DEFAULT_MAX_IMAGE_SIDE = 1024  # images are decoded at most this large before the model sees them
DEFAULT_MAX_IMAGE_PIXELS = 200_000_000  # refuse decompression bombs past this
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
DEFAULT_FILE_TIMEOUT_S = 60.0  # a file whose reading takes longer (a hostile PDF) is skipped
DEFAULT_MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # .docx: total size of the unzipped parts
DEFAULT_MAX_UNPACK_RATIO = 200  # .docx: unzipped/zipped past this (and 1 MB) is a zip bomb
DEFAULT_READER_MEMORY_BYTES = 2 * 1024**3  # address space of the file-reading process
DEFAULT_COMPACT_DELETED_RATIO = 0.2  # rebuild an index file once this share of it is deleted
DEFAULT_COMPACT_MIN_DELETED = 64  # ...and at least this many entries are
DEFAULT_VACUUM_FREE_RATIO = 0.25  # VACUUM the catalog once this share of its pages is free
DEFAULT_INDEX_SAVE_SECONDS = 30.0  # during a run, save index files at least this often
# links per vector in an index graph: 32 finds 0.937 of the true top 10 where 16 found 0.846
# (1M vectors, ef 1,600; store/hnsw.py EF_BY_SIZE) for 1.46x the build CPU and 8% more memory
DEFAULT_HNSW_M = 32
DEFAULT_HNSW_EF_CONSTRUCTION = 200  # candidates weighed when a vector joins the graph
DEFAULT_HNSW_EF_SEARCH = 64  # candidates a search keeps (at least k)
# A filter allowing at most this many vectors (or this share of the index) is
# answered by an exact scan of just those: cheaper than a graph walk that must
# step over every vector the filter rejects, and never short of results.
DEFAULT_EXACT_SCAN_MAX = 20_000
DEFAULT_EXACT_SCAN_SHARE = 0.05
DEFAULT_WORD_VECTORS_MIN_TOKENS = 5_000  # less indexed text than this: no word vectors
DEFAULT_EXPAND = False  # related words in lexical queries (measured in docs/related-words.md)
DEFAULT_OCR = "auto"  # scanned PDF pages (no text layer) are read by Tesseract; "all", "off"
DEFAULT_OCR_LANGUAGES = "kor+eng"  # Tesseract's language models, joined by "+"
DEFAULT_OCR_TIMEOUT_S = 30.0  # one Tesseract call (one page) past this: the file is skipped


def data_home() -> Path:
    """The folder that holds the default index and the model cache."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("semsearch", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told; each field has a named default."""

    index_dir: Path = field(default_factory=lambda: data_home() / "index")
    # where the catalog lives: None, the SQLite file in the index folder (or what
    # $SEMSEARCH_CATALOG says); a URL such as postgresql+psycopg://host/db, a server
    # shared by many writers and searchers, the index folder then holding caches
    catalog: str | None = None
    model_cache: Path = field(default_factory=lambda: data_home() / "models")
    text_model: str | None = None  # None: what the index was built with, else the default
    image_model: str | None = None
    chunk_overlap_tokens: int = DEFAULT_CHUNK_OVERLAP_TOKENS
    chunk_tokens: int | None = None  # None: the text model's own maximum
    # how many tokens one text vector reads: a longer chunk gets a vector per piece of
    # about equal length (words are still matched per chunk); None: a vector per chunk.
    # Measured on the Korean sets: docs/search-quality.md (issue 31)
    vector_tokens: int | None = DEFAULT_VECTOR_TOKENS
    text_batch: int = DEFAULT_TEXT_BATCH
    # what runs the text model: "auto" (ONNX Runtime, exported once into the model cache,
    # else torch), "onnx" or "torch"
    text_engine: str = DEFAULT_TEXT_ENGINE
    # what indexing batches on torch compute in: "auto" (bf16 where the CPU has bfloat16
    # instructions, AVX512-BF16 or AMX, or on a GPU; fp32 elsewhere), "bf16" (the same, but
    # said where it cannot) or "fp32" (exact). bf16: ~2x faster on such a CPU, vectors at
    # cosine ~0.99999, MRR@10 within 1% (bench/bench_bf16.py, docs/precision.md). Queries
    # are always fp32: one query is not where the time goes.
    text_precision: str = DEFAULT_TEXT_PRECISION
    encode_threads: int = 0  # threads per forward pass; 0: one per core
    image_batch: int = DEFAULT_IMAGE_BATCH
    max_image_side: int = DEFAULT_MAX_IMAGE_SIDE
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    file_timeout_s: float = DEFAULT_FILE_TIMEOUT_S  # 0: no time limit
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_unpack_ratio: float = DEFAULT_MAX_UNPACK_RATIO
    reader_memory_bytes: int = DEFAULT_READER_MEMORY_BYTES  # 0: no limit
    compact_deleted_ratio: float = DEFAULT_COMPACT_DELETED_RATIO
    compact_min_deleted: int = DEFAULT_COMPACT_MIN_DELETED
    hnsw_m: int = DEFAULT_HNSW_M
    hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION
    hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH
    exact_scan_max: int = DEFAULT_EXACT_SCAN_MAX
    exact_scan_share: float = DEFAULT_EXACT_SCAN_SHARE
    index_save_seconds: float = DEFAULT_INDEX_SAVE_SECONDS
    fsync: bool = True  # False trades power-loss safety for speed (benchmarks only)
    lock_wait_s: float = 0.0  # how long a writer waits for another one; 0: fail at once
    # how search by example finds documents: "auto" (the way measured for the image
    # model, bench/bench_image_to_docs.py; none if unmeasured), "vector" (the image's
    # vector in the text space, when its tower was trained there), "tags", "both" (the
    # vector's meaning and the tags' words, fused), or "off"
    image_to_documents: str = DEFAULT_IMAGE_TO_DOCUMENTS
    include_hidden: bool = False
    word_vectors: bool = True  # train Word2Vec and GloVe on the indexed terms after each run
    word_vectors_min_tokens: int = DEFAULT_WORD_VECTORS_MIN_TOKENS
    exclude: tuple[str, ...] = ()
    ocr: str = DEFAULT_OCR  # "auto": pages with no text layer; "all": also nearly empty ones
    ocr_languages: str = DEFAULT_OCR_LANGUAGES
    ocr_timeout_s: float = DEFAULT_OCR_TIMEOUT_S
    tesseract: str = "tesseract"  # the binary: a name on PATH or a path
    # record what people do with hits (opened, copied, ...) in the catalog, to learn
    # recommendations and a personal ranking from; never sent anywhere
    events: bool = True
    # after a run, score the new items with an autoencoder; `status` lists the unusual ones
    scan_outliers: bool = True

    def __post_init__(self) -> None:
        # a caller may pass folders as strings ("~/index"): they become paths here, once
        for name in ("index_dir", "model_cache"):
            value = getattr(self, name)
            if not isinstance(value, Path):
                object.__setattr__(self, name, Path(value).expanduser())
