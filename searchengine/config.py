"""One settings object with named defaults.

Defaults are overridden by CLI flags; one environment variable, ``SEMSEARCH_HOME``,
moves the whole data folder (default index and model cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

ENV_HOME = "SEMSEARCH_HOME"

DEFAULT_TEXT_MODEL = "e5-small"
DEFAULT_IMAGE_MODEL = "semsearch-clip"
DEFAULT_CHUNK_OVERLAP_TOKENS = 32
DEFAULT_TEXT_BATCH = 32
DEFAULT_IMAGE_BATCH = 32
DEFAULT_K = 10
DEFAULT_MAX_IMAGE_SIDE = 1024  # images are decoded at most this large before the model sees them
DEFAULT_MAX_IMAGE_PIXELS = 200_000_000  # refuse decompression bombs past this
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 64


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
    model_cache: Path = field(default_factory=lambda: data_home() / "models")
    text_model: str | None = None  # None: what the index was built with, else the default
    image_model: str | None = None
    chunk_overlap_tokens: int = DEFAULT_CHUNK_OVERLAP_TOKENS
    chunk_tokens: int | None = None  # None: the text model's own maximum
    text_batch: int = DEFAULT_TEXT_BATCH
    image_batch: int = DEFAULT_IMAGE_BATCH
    max_image_side: int = DEFAULT_MAX_IMAGE_SIDE
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    include_hidden: bool = False
    exclude: tuple[str, ...] = ()
