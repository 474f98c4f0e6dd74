"""A model's tokenizer.json, run by the `tokenizers` library without transformers.

What the text encoder asks of its tokenizer (ids and attention masks of padded,
truncated batches; the character offsets of a text's tokens) is the Rust
tokenizer's own work. transformers' `PreTrainedTokenizerFast` only passes it on,
but importing transformers costs a one-shot search about half a second. This
class passes it on the same way (right-side truncation to `max_length` counting
the special tokens, padding to the longest text with the pad token), and a test
holds its output identical to transformers' on Korean, English, long and odd text.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

TOKENIZER_FILE = "tokenizer.json"


class Unsupported(ValueError):
    """A tokenizer setting this class does not carry out (transformers then runs it)."""


class FastTokenizer:
    """The tokenizer in a model folder's tokenizer.json, with its tokenizer_config.json."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self.model_max_length = model_max_length(folder)
        try:
            self._tk = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise ValueError(f"unreadable {folder / TOKENIZER_FILE}: {exc}") from exc
        pad = pad_token(folder)
        self._pad = (pad, self._tk.token_to_id(pad)) if pad else None
        self._lock = threading.Lock()  # truncation and padding are settings of the one Tokenizer

    @property
    def pad_token_id(self) -> int | None:
        return self._pad[1] if self._pad else None

    def __call__(
        self,
        text: str | list[str],
        *,
        add_special_tokens: bool = True,
        return_offsets_mapping: bool = False,
        truncation: bool = False,
        padding: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
    ) -> dict[str, Any]:
        texts = [text] if isinstance(text, str) else list(text)
        with self._lock:
            if truncation and (max_length or self.model_max_length):
                self._tk.enable_truncation(int(max_length or self.model_max_length or 0))
            else:
                self._tk.no_truncation()
            if padding and len(texts) > 1:
                if self._pad is None or self._pad[1] is None:
                    raise ValueError("this tokenizer has no pad token to pad a batch with")
                self._tk.enable_padding(pad_id=self._pad[1], pad_token=self._pad[0])
            else:
                self._tk.no_padding()
            encodings = self._tk.encode_batch(texts, add_special_tokens=add_special_tokens)
        ids = [e.ids for e in encodings]
        return shaped(text, ids, encodings, return_offsets_mapping, return_tensors)


def shaped(
    text: str | list[str],
    ids: list[list[int]],
    encodings: list[Any],
    return_offsets_mapping: bool,
    return_tensors: str | None,
) -> dict[str, Any]:
    """A call's output as transformers gives it: `ids` and the encodings' attention masks
    (and offsets), lists or int64 arrays, one text's rows unwrapped when one text was
    given (compact_tokenizer.py's ids are not its encodings' own, hence `ids`)."""
    out: dict[str, Any] = {
        "input_ids": ids,
        "attention_mask": [e.attention_mask for e in encodings],
    }
    if return_offsets_mapping:
        out["offset_mapping"] = [e.offsets for e in encodings]
    if return_tensors == "np":
        out = {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
    elif return_tensors is not None:
        raise ValueError(f"return_tensors={return_tensors!r} is not supported here")
    if isinstance(text, str) and return_tensors is None:
        out = {k: v[0] for k, v in out.items()}
    return out


def pad_token(folder: Path) -> str | None:
    """The pad token of a model folder: tokenizer_config.json's, else
    special_tokens_map.json's (either as text or as {"content": ...})."""
    config = _read_json(folder / "tokenizer_config.json")
    special = _read_json(folder / "special_tokens_map.json")
    return _content(config.get("pad_token")) or _content(special.get("pad_token"))


def model_max_length(folder: Path) -> int | None:
    """The longest input tokenizer_config.json allows (None: no limit of its own), as
    `FastTokenizer` reads it; raises Unsupported for a setting it does not carry out."""
    config = _read_json(folder / "tokenizer_config.json")
    for side in ("padding_side", "truncation_side"):
        if config.get(side, "right") != "right":
            raise Unsupported(f"{side} {config[side]!r}")
    limit = config.get("model_max_length")
    return int(limit) if isinstance(limit, int | float) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _content(token: Any) -> str | None:  # "<pad>", or {"content": "<pad>", ...}
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) and token else None
