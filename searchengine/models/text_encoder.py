"""BERT-family text encoder through Hugging Face transformers."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from searchengine.errors import ConfigError, ModelUnavailableError
from searchengine.models.compact_tokenizer import load_compact_tokenizer
from searchengine.models.encoders import TextRole
from searchengine.models.fast_tokenizer import (
    TOKENIZER_FILE,
    FastTokenizer,
    Unsupported,
    model_max_length,
)
from searchengine.models.query_tokenizer import QueryTokenizer
from searchengine.models.sources import TextSource
from searchengine.models.text_backends import (
    OnnxBackend,
    TorchBackend,
    cpu_has_bf16,
    load_onnx,
    release_freed_memory,
    weights_fingerprint,
)
from searchengine.records import Vectors

__all__ = ["TextEncoder", "weights_fingerprint"]

log = logging.getLogger(__name__)

Engine = Literal["auto", "onnx", "torch"]
ENGINES = ("auto", "onnx", "torch")
Precision = Literal["auto", "fp32", "bf16"]
# "auto": bf16 where it pays (torch on a GPU or on a CPU with bfloat16 instructions), else
# fp32, silently; "bf16": the same, but said where it cannot; "fp32": always
PRECISIONS = ("auto", "fp32", "bf16")
BATCH_ON_TORCH = 16  # passages in one call from which "auto" encodes them on torch
TOKENIZE_SLICE = 256  # passages tokenized at once (their ids are then kept compact)


class TextEncoder:
    """Mean-pooled, L2-normalised sentence vectors from a BERT-family model.

    The model's own conventions (e5's ``query: ``/``passage: `` prefixes) are
    applied here, so callers pass plain text. The model loads on first use,
    on ONNX Runtime where it can (`engine="auto"`, the default; see
    text_backends), else on torch. Texts are sorted by length before batching,
    so a batch pads to its own longest text rather than to the longest of all.

    With `engine="auto"`, big batches of passages (indexing) go to torch when it
    is installed: measured here, ONNX Runtime encodes a query in 7.8 ms against
    torch's 11.2 (11.3 against 21.0 on one thread) and spares a search the torch
    import, but a batch of 32 chunks runs at 23-25 chunks/s against torch's
    27-29. Both give the same vectors (the export is checked at cosine >= 0.9999)
    and the same fingerprint.
    """

    def __init__(
        self,
        source: TextSource,
        batch_size: int = 32,
        device: str | None = None,
        *,
        engine: Engine = "auto",
        precision: Precision = "fp32",
        model_cache: Path | None = None,
        threads: int = 0,
        on_status: Callable[[str], None] | None = None,
    ):
        if engine not in ENGINES:
            raise ConfigError(
                f"unknown text engine {engine!r}: use one of {', '.join(ENGINES)}",
                parameter="text_engine",
            )
        if precision not in PRECISIONS:
            raise ConfigError(
                f"unknown text precision {precision!r}: use one of {', '.join(PRECISIONS)}",
                parameter="text_precision",
            )
        self.source = source
        # what passage batches on torch compute in; "auto" becomes "bf16" or "fp32" at the
        # first batch big enough for torch
        self.precision: str = precision
        self.passage_precisions: set[str] = set()  # what the passages encoded so far ran in
        self.name = source.name
        self.batch_size = batch_size
        self.engine: str = engine
        self._requested: str = engine
        self._device = device
        self._model_cache = model_cache
        self._threads = threads
        self._on_status = on_status  # one-time work the user waits for (the ONNX export)
        self._lock = threading.Lock()
        self._backend: OnnxBackend | TorchBackend | None = None
        self._batch_backend: TorchBackend | None = None  # "auto": big passage batches
        self._tokenizer: Any = None
        self._query_tokenizer: QueryTokenizer | None = None  # a query's ids, cheaply
        self._query_tried = False  # QueryTokenizer.load was asked (it may have said None)
        self._dim = 0
        self._max_tokens = 0
        # a fast tokenizer refuses to be used by two threads at once ("Already borrowed"):
        # held for each use of it, so that chunking (token_spans) goes on while another
        # thread's batch runs through the model (the indexer encodes in the background)
        self._encoding = threading.Lock()
        self._batches = threading.Lock()  # one batch encode at a time
        self._batches_paused = False  # `release_batches`: passages on ONNX until prepared

    def _load(self) -> None:
        if self._backend is not None:
            return
        with self._lock:
            if self._backend is not None:
                return
            try:
                backend = self._load_backend()
                tokenizer, max_length = self._tokenizer_now()
            except (OSError, ValueError) as exc:
                raise self._unavailable(exc) from exc
            config = backend.config
            self._tokenizer = tokenizer
            self._dim = int(config["hidden_size"])
            limit = int(config["max_position_embeddings"])
            # XLM-R style position ids start after the padding index.
            if config["pad_token_id"] == 1 and limit == 514:
                limit = 512
            self._max_tokens = min(limit, int(max_length or limit))
            self.engine = backend.engine
            self._backend = backend
            log.info(
                "loaded text model %s from %s on %s", self.name, self.source.where, backend.engine
            )

    def _tokenizer_now(self) -> tuple[Any, int | None]:
        """(the tokenizer, or None where a one-shot query may do without it, and the
        longest input it allows). The full tokenizer of a model with a tokenizer.json
        waits for its first use, since a QueryTokenizer may answer single queries
        meanwhile: building it is the largest single cost of a one-shot search."""
        folder = Path(self.source.location)
        if (folder / TOKENIZER_FILE).is_file() and self._model_cache is not None:
            try:
                return None, model_max_length(folder)
            except Unsupported:
                pass
        tokenizer = _load_tokenizer(self.source.location, self._model_cache)
        return tokenizer, tokenizer.model_max_length

    def _full_tokenizer(self) -> Any:
        self._load()
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    try:
                        self._tokenizer = _load_tokenizer(self.source.location, self._model_cache)
                    except (OSError, ValueError) as exc:
                        raise self._unavailable(exc) from exc
        return self._tokenizer

    def _query_ids(self, text: str) -> list[int] | None:
        """A single query's ids from the QueryTokenizer, while the full tokenizer is not
        loaded (an indexing process, which loads it for its passages, never makes one)."""
        if self._tokenizer is not None or self._model_cache is None:
            return None
        with self._lock:
            if not self._query_tried:
                folder = Path(self.source.location)
                self._query_tokenizer = QueryTokenizer.load(folder, self._model_cache)
                self._query_tried = True
        query_tokenizer = self._query_tokenizer
        return query_tokenizer.ids(text, self._max_tokens) if query_tokenizer else None

    def _unavailable(self, exc: Exception) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"cannot load text model {self.name!r} from {self.source.location}: {exc}"
        )

    def _load_backend(self) -> OnnxBackend | TorchBackend:
        on_cpu = self._device in (None, "cpu")
        if self.engine != "torch" and self._model_cache is not None and on_cpu:
            if self._device is None and _cuda():
                pass  # a GPU runs torch faster than ONNX Runtime's CPU provider
            else:
                backend = load_onnx(self.source, self._model_cache, self._threads, self._on_status)
                if backend is not None:
                    return backend
                if self.engine == "onnx":
                    raise ModelUnavailableError(
                        f"text model {self.name!r} cannot run on ONNX Runtime (see the log)"
                    )
        elif self.engine == "onnx":
            raise ModelUnavailableError("the ONNX engine needs a model cache folder and the CPU")
        return TorchBackend(self.source, self._device, self._threads)

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    @property
    def dim(self) -> int:
        self._load()
        return self._dim

    @property
    def max_tokens(self) -> int:
        """Longest input the model takes, special tokens and prefix included."""
        self._load()
        return self._max_tokens

    @property
    def fingerprint(self) -> str:
        self._load()
        assert self._backend is not None
        return self._backend.fingerprint

    @property
    def tokenizer(self) -> Any:
        return self._full_tokenizer()

    def prefix_tokens(self, role: TextRole) -> int:
        """Tokens the role's prefix and the special tokens take from the budget."""
        prefix = self.source.query_prefix if role == "query" else self.source.passage_prefix
        tokenizer = self.tokenizer
        with self._encoding:
            return len(tokenizer(prefix, add_special_tokens=True)["input_ids"])

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text`, without special tokens."""
        tokenizer = self.tokenizer
        with self._encoding:
            enc = tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
            )
        return [(int(a), int(b)) for a, b in enc["offset_mapping"]]

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors:
        """Encode `texts` in batches; one row per text, L2-normalised float32."""
        self._load()
        prefix = self.source.query_prefix if role == "query" else self.source.passage_prefix
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if len(texts) == 1 and role == "query":
            ids = self._query_ids(prefix + texts[0])
            if ids is not None:  # else a case for the full tokenizer
                row = np.asarray([ids], dtype=np.int64)
                assert self._backend is not None
                with self._encoding:
                    out[:] = self._backend.run(row, np.ones_like(row))
                return out
        tokenizer = self._full_tokenizer()
        with self._batches:
            self._encode_batches(tokenizer, texts, prefix, out)
        return out

    def _encode_batches(
        self, tokenizer: Any, texts: Sequence[str], prefix: str, out: Vectors
    ) -> None:
        backend = self._backend
        assert backend is not None
        passages = prefix == self.source.passage_prefix
        big = len(texts) >= BATCH_ON_TORCH or self._batch_backend is not None
        if passages and big and not self._batches_paused:
            backend = self._for_batches() or backend  # once loaded, torch takes them all
        bf16 = passages and self._bf16_on(backend)
        if passages:
            self.passage_precisions.add("bf16" if bf16 else "fp32")
        ids: list[np.ndarray] = []
        with self._encoding:
            # a slice at a time, each row kept as int32, not the tokenizer's Python lists
            # and per-token records for all of a big document's passages at once (one
            # 8.4 MB HTML page, 4,007 passages: its run's peak 1,523 -> 1,493 MB)
            for start in range(0, len(texts), TOKENIZE_SLICE):
                part = texts[start : start + TOKENIZE_SLICE]
                got = tokenizer(
                    [prefix + t for t in part], truncation=True, max_length=self._max_tokens
                )["input_ids"]
                ids += [np.asarray(r, dtype=np.int32) for r in got]
        # sorted by tokens, not characters: a Korean character is worth about three
        # English ones, and sorting by characters padded compare_peers' 848 mixed
        # chunks to 17% more tokens than this (108,992 against 94,672)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        pad = getattr(tokenizer, "pad_token_id", None)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch, mask = _padded([ids[i] for i in rows], pad)
            if isinstance(backend, TorchBackend):
                out[rows] = backend.run(batch, mask, bf16=bf16)
            else:
                out[rows] = backend.run(batch, mask)

    def _bf16_on(self, backend: OnnxBackend | TorchBackend) -> bool:
        """Whether bf16 was asked for (or left to "auto") and pays on `backend` (torch, on
        a GPU or a CPU with bfloat16 instructions); said once where it was asked for and
        cannot. Where the CPU has no such instructions torch emulates bf16, slower than
        fp32, so "auto" stays fp32 there."""
        if self.precision == "fp32":
            return False
        why = None
        if not isinstance(backend, TorchBackend):
            if self._requested != "onnx":
                return False  # a batch too small for torch; bigger ones go there
            why = "bf16 runs on torch only: text stays fp32 on ONNX Runtime"
        elif backend.device.startswith("cpu") and not cpu_has_bf16():
            why = "bf16 asked for, but this CPU has no bfloat16 instructions: fp32"
        if why is None:
            self.precision = "bf16"
            return True
        if self.precision == "bf16":  # asked for by name: say why not
            log.info(why)
            if self._on_status is not None:
                self._on_status(why)
        self.precision = "fp32"
        return False

    @property
    def batch_engine(self) -> str:
        """What encodes big batches of passages: "torch" once auto has moved them there."""
        return "torch" if self._batch_backend is not None else self.engine

    def prepare_batches(self, passages: int = BATCH_ON_TORCH) -> None:
        """Load what encoding `passages` passages in one call takes (the tokenizer, and
        the torch model where auto sends a batch that big there) before it is needed."""
        self._full_tokenizer()
        self._batches_paused = False
        if passages >= BATCH_ON_TORCH:
            self._for_batches()

    def release_batches(self) -> None:
        """Free the torch model that encodes big batches (an indexing run's texts are done:
        its pictures come last, and their image model need not sit beside this one). What
        passages come until `prepare_batches` is called again (a picture's words) are
        encoded on ONNX Runtime, as queries are."""
        with self._batches:
            self._batches_paused = True
            if self._batch_backend is None:
                return
            self._batch_backend = None
        gc.collect()  # the model's modules refer to each other
        release_freed_memory()

    def _for_batches(self) -> TorchBackend | None:
        """The torch model for indexing batches, when `engine="auto"` runs queries on ONNX."""
        if self.engine != "onnx" or self._requested != "auto":
            return None
        if self._batch_backend is None:
            try:
                batch = TorchBackend(self.source, self._device, self._threads)
            except ImportError:
                self._requested = "onnx"  # no torch here: ONNX Runtime does it all
                return None
            if batch.fingerprint != self.fingerprint:  # weights changed under the export
                self._requested = "onnx"
                return None
            if isinstance(self._backend, OnnxBackend):  # one copy of the embedding table
                batch.share_embeddings(self._backend.table)
                # ...and no ONNX session beside torch until a query asks for one
                self._backend.release_session()
            self._batch_backend = batch
        return self._batch_backend


def _padded(
    rows: Sequence[Sequence[int] | np.ndarray], pad: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids right-padded to the longest row, and their attention mask."""
    width = max(len(r) for r in rows)
    if pad is None and any(len(r) != width for r in rows):
        raise ValueError("this tokenizer has no pad token to pad a batch with")
    ids = np.full((len(rows), width), pad or 0, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for n, r in enumerate(rows):
        ids[n, : len(r)] = r
        mask[n, : len(r)] = 1
    return ids, mask


def _load_tokenizer(location: str, model_cache: Path | None = None) -> Any:
    """The model's tokenizer: a Unigram tokenizer.json without its 250k-piece trie where
    there is a model cache to keep the pieces in (compact_tokenizer.py: e5's holds 52 MB
    instead of 281 for the life of an indexing process, with the same ids and offsets);
    else the tokenizer.json run by `tokenizers` alone (fast_tokenizer.py: transformers'
    import is half a second of a one-shot search); else transformers' `AutoTokenizer`."""
    folder = Path(location)
    if model_cache is not None:
        compact = load_compact_tokenizer(folder, model_cache)
        if compact is not None:
            return compact
    if (folder / TOKENIZER_FILE).is_file():
        try:
            return FastTokenizer(folder)
        except Unsupported as exc:
            log.info("tokenizer of %s through transformers: %s", location, exc)
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(location)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(location)


def _cuda() -> bool:
    """Whether torch would run on a GPU here; asked of torch only where an NVIDIA driver
    is present, so a CPU-only search never imports it."""
    if not (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi")):
        return False
    import torch

    return bool(torch.cuda.is_available())
