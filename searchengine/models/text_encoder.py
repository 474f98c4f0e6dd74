"""BERT-family text encoder through Hugging Face transformers."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from searchengine.errors import ModelUnavailableError
from searchengine.models.encoders import TextRole
from searchengine.models.sources import TextSource
from searchengine.records import Vectors

log = logging.getLogger(__name__)


def weights_fingerprint(model: Any, extra: str = "") -> str:
    """A short hash of a model's parameters, cheap enough to take at every load.

    Names, shapes and the first values of every tensor tell apart two checkpoints
    of one architecture (say a 4-bit rebuild and the full-precision original)
    without hashing hundreds of megabytes.
    """
    h = hashlib.sha256(extra.encode())
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)[:64].to("cpu").float().numpy()
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(flat.tobytes())
    return h.hexdigest()[:16]


class TextEncoder:
    """Mean-pooled, L2-normalised sentence vectors from a BERT-family model.

    The model's own conventions (e5's ``query: ``/``passage: `` prefixes) are
    applied here, so callers pass plain text. The model loads on first use.
    """

    def __init__(self, source: TextSource, batch_size: int = 32, device: str | None = None):
        self.source = source
        self.name = source.name
        self.batch_size = batch_size
        self._device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._dim = 0
        self._max_tokens = 0
        self._fingerprint = ""
        # a fast tokenizer refuses to be used by two threads at once ("Already borrowed")
        self._encoding = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the library never draws on the terminal
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.source.location)
                model = AutoModel.from_pretrained(self.source.location)
            except (OSError, ValueError) as exc:
                raise ModelUnavailableError(
                    f"cannot load text model {self.name!r} from {self.source.location}: {exc}"
                ) from exc
            device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            model.eval().to(device)
            self._device = device
            self._tokenizer = tokenizer
            self._dim = int(model.config.hidden_size)
            limit = int(getattr(model.config, "max_position_embeddings", 512))
            # XLM-R style position ids start after the padding index.
            if getattr(model.config, "pad_token_id", None) == 1 and limit == 514:
                limit = 512
            self._max_tokens = min(limit, int(tokenizer.model_max_length or limit))
            self._fingerprint = weights_fingerprint(
                model, f"{self.source.query_prefix}|{self.source.passage_prefix}"
            )
            self._model = model
            log.info("loaded text model %s from %s", self.name, self.source.where)

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
        return self._fingerprint

    @property
    def tokenizer(self) -> Any:
        self._load()
        return self._tokenizer

    def prefix_tokens(self, role: TextRole) -> int:
        """Tokens the role's prefix and the special tokens take from the budget."""
        prefix = self.source.query_prefix if role == "query" else self.source.passage_prefix
        return len(self.tokenizer(prefix, add_special_tokens=True)["input_ids"])

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
        with self._encoding:
            self._encode_batches(texts, prefix, out)
        return out

    def _encode_batches(self, texts: Sequence[str], prefix: str, out: Vectors) -> None:
        import torch

        for start in range(0, len(texts), self.batch_size):
            batch = [prefix + t for t in texts[start : start + self.batch_size]]
            enc = self._tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self._max_tokens,
                return_tensors="pt",
            ).to(self._device)
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[start : start + len(batch)] = pooled.float().cpu().numpy()
