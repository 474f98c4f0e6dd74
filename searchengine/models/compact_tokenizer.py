"""A Unigram tokenizer.json run without building its model: FastTokenizer's output
(ids, attention masks, character offsets) in a sixth of its memory.

e5's tokenizer is a Unigram model of 250,002 pieces. When `tokenizers` loads it,
it builds a trie of hash maps over all of them: 281 MB resident for the life of an
indexing process. This class holds the pieces in one Python dict (`UnigramPieces`,
shared with QueryTokenizer and read from the same cache: 52 MB) and lets
`tokenizers` do everything but the model's own search, in a "light" `Tokenizer`
made of the tokenizer.json with a WordLevel model of one word:

* the added tokens (split out of the text with their own flags), the normalizer,
  the pre-tokenizer, the post-processor's template, truncation and padding run in
  Rust as in the full tokenizer, with the same offset bookkeeping;
* after the pre-tokenizer, a Python pre-tokenizer (`_Cutter`) cuts each word into
  the pieces the full model's Viterbi search picks (`UnigramPieces.split`, which
  runs tokenizers' `encode_optimized`, unknown characters fused as there), each
  piece a slice of the word that keeps its alignment to the original text, and
  notes their ids in order; a word's cut is remembered in a bounded dict;
* the light model turns each piece into one token (id 0: no piece is its word),
  whose offsets the light tokenizer maps back to the original text as the full one
  maps the full model's tokens: so the i-th token of id 0 is the i-th piece noted,
  and added tokens, the template's special tokens and padding, which have ids of
  their own in the light tokenizer, are mapped back to their real ids.

A text is encoded at a time (so that the pieces' ids come in order); should the
light tokens ever not add up to the pieces noted, that call goes to a
FastTokenizer, loaded then (a guard: never seen). Tokenizers this class does not
take (`load_compact_tokenizer` says None; the caller then uses FastTokenizer): not
Unigram, byte fallback, a post-processor other than a TemplateProcessing, a
truncation or padding saved in the file, whatever else QueryTokenizer's cache
refuses, an added token whose id in the file is not the one tokenizers gives it,
and what FastTokenizer refuses (left padding or truncation).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from searchengine.models.fast_tokenizer import (
    TOKENIZER_FILE,
    FastTokenizer,
    Unsupported,
    model_max_length,
    pad_token,
    shaped,
)
from searchengine.models.query_tokenizer import UnigramPieces, load_pieces

LIGHT = "\U0010ffff"  # the light model's one word (whatever a piece is, its id is 0)
SENTINEL = 1 << 30  # light ids from here: the template's special tokens, then padding
WORD_CACHE = 40_000  # words whose pieces are remembered, in each of two generations


class CompactTokenizer:
    """FastTokenizer's interface and output (ids, attention masks, character offsets)
    for a Unigram tokenizer.json, holding its pieces in one dict instead of the Rust
    model. Safe to call from several threads (a lock serialises the calls)."""

    def __init__(
        self,
        folder: Path,
        pieces: list[str],
        scores: np.ndarray,
        pipeline: dict[str, Any],
        *,
        word_cache: int = WORD_CACHE,
    ):
        from tokenizers import Tokenizer, pre_tokenizers

        self.folder = folder
        self.model_max_length = model_max_length(folder)
        self.model = UnigramPieces(pieces, scores, int(pipeline["unk_id"]), prefixes=True)
        data: dict[str, Any] = dict(pipeline["tokenizer"])
        real_added = _added_ids(data.get("added_tokens") or [], self.model, len(pieces))
        processor, specials = _light_template(data.get("post_processor"))
        data["post_processor"] = processor
        data["model"] = {"type": "WordLevel", "vocab": {LIGHT: 0}, "unk_token": LIGHT}
        try:
            self._light = Tokenizer.from_str(json.dumps(data))
        except Exception as exc:  # tokenizers raises a bare Exception
            raise ValueError(f"unusable {folder / TOKENIZER_FILE}: {exc}") from exc
        # light id -> real id: the added tokens (ids 1... in the light tokenizer), the
        # template's special tokens and padding (SENTINEL...); 0 is the next piece noted
        self._real: dict[int, int] = dict(specials)
        for light_id, token in self._light.get_added_tokens_decoder().items():
            if token.content not in real_added:
                raise ValueError(f"added token {token.content!r} without an id")
            self._real[light_id] = real_added[token.content]
        pad = pad_token(folder)
        pad_id = None
        if pad is not None:
            pad_id = real_added.get(pad, self.model.ids.get(pad))
        self._pad = (pad, pad_id) if pad is not None else None
        self._pad_light = SENTINEL + len(specials)
        if pad_id is not None:
            self._real[self._pad_light] = pad_id
        self._cutter = _Cutter(self.model, word_cache)
        inner = self._light.pre_tokenizer
        cut = pre_tokenizers.PreTokenizer.custom(self._cutter)
        self._light.pre_tokenizer = cut if inner is None else pre_tokenizers.Sequence([inner, cut])
        self._lock = threading.Lock()  # truncation, and the cutter's ids of one text
        self._fallback: FastTokenizer | None = None

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
        kw: dict[str, Any] = {
            "add_special_tokens": add_special_tokens,
            "return_offsets_mapping": return_offsets_mapping,
            "truncation": truncation,
            "padding": padding,
            "max_length": max_length,
            "return_tensors": return_tensors,
        }
        with self._lock:
            tk = self._light
            if truncation and (max_length or self.model_max_length):
                tk.enable_truncation(int(max_length or self.model_max_length or 0))
            else:
                tk.no_truncation()
            pad = padding and len(texts) > 1
            pad_text, pad_id = self._pad or (None, None)
            if pad and (pad_text is None or pad_id is None):
                raise ValueError("this tokenizer has no pad token to pad a batch with")
            # one text at a time: encode_batch's threads would each take the GIL for the
            # cutter (no faster on 2 cores), keep malloc arenas of their own (+18 MB) and
            # mix up the order of the pieces' ids
            rows: list[list[int] | None] = []
            encodings = []
            for t in texts:
                self._cutter.ids = []
                encodings.append(tk.encode(t, add_special_tokens=add_special_tokens))
                rows.append(self._ids(encodings[-1].ids, self._cutter.ids, truncation))
            ids = [row for row in rows if row is not None]
            if len(ids) < len(rows):  # never seen: the light tokens were not the cutter's
                if self._fallback is None:
                    self._fallback = FastTokenizer(self.folder)
                return self._fallback(text, **kw)
            if pad:  # as encode_batch pads: to the longest, on the right
                width = max(len(e.ids) for e in encodings)
                for e, row in zip(encodings, ids, strict=True):
                    assert pad_id is not None
                    row.extend([pad_id] * (width - len(row)))
                    e.pad(width, pad_id=self._pad_light, pad_token=pad_text)
        return shaped(text, ids, encodings, return_offsets_mapping, return_tensors)

    def _ids(self, light: list[int], pieces: list[int], truncated: bool) -> list[int] | None:
        """The real ids of an encoding's light ids: each 0 is the next piece the cutter
        made (in order: one text is pre-tokenized and tokenized in order), the others
        added and special tokens. None where the counts disagree."""
        real, it = self._real, iter(pieces)
        try:
            out = [next(it) if i == 0 else real[i] for i in light]
        except (StopIteration, KeyError):
            return None
        if not truncated and next(it, None) is not None:
            return None
        return out


def load_compact_tokenizer(
    folder: Path, cache_root: Path, *, word_cache: int = WORD_CACHE
) -> CompactTokenizer | None:
    """A CompactTokenizer for the model in `folder` (its pieces from, or into, the
    QueryTokenizer cache under `cache_root`); None where its tokenizer is not one this
    class runs exactly: the caller then uses FastTokenizer (or transformers)."""
    if not (folder / TOKENIZER_FILE).is_file():
        return None
    try:
        model_max_length(folder)
    except Unsupported:
        return None  # FastTokenizer refuses it too: transformers runs it
    loaded = load_pieces(folder, cache_root)
    if loaded is None:
        return None
    pipeline, pieces, scores = loaded
    try:
        return CompactTokenizer(folder, pieces, scores, pipeline, word_cache=word_cache)
    except ValueError:
        return None


class _Cutter:
    """The custom pre-tokenizer: each word cut into the full model's pieces, whose ids
    it appends to `ids` in order.

    A word's cut is remembered in two generations of at most `limit` words each: a
    word is looked up in the young one, then in the old one (and copied back into the
    young one); when the young one is full it becomes the old one and the old one goes.
    Frequent words so stay, and the memory is bounded (about 250 bytes a word)."""

    def __init__(self, model: UnigramPieces, limit: int):
        self.model = model
        self.limit = max(0, limit)
        # word -> (where its pieces end, () for one piece; their ids)
        self.words: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.older: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.ids: list[int] = []

    def pre_tokenize(self, pretok: Any) -> None:
        pretok.split(self._cut)

    def _cut(self, _: int, word: Any) -> list[Any]:
        text: str = word.normalized
        cut = self.words.get(text)
        if cut is None:
            cut = self.older.get(text) or self._split(text)
            if self.limit:
                if len(self.words) >= self.limit:
                    self.older, self.words = self.words, {}
                self.words[text] = cut
        ends, ids = cut
        self.ids.extend(ids)
        if not ends:
            return [word]
        out, start = [], 0
        for end in ends:
            out.append(word.slice((start, end)))
            start = end
        return out

    def _split(self, text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        pieces = self.model.split(text)
        ids = tuple(map(self.model.id_of, pieces))
        if len(pieces) < 2:
            return (), ids
        at, ends = 0, []
        for piece in pieces:
            at += len(piece)
            ends.append(at)
        return tuple(ends), ids


def _added_ids(tokens: list[dict[str, Any]], model: UnigramPieces, size: int) -> dict[str, int]:
    """Each added token's id as tokenizers gives it when it loads the file (the model's
    id for a piece it has, else the next id past the vocabulary), checked against the id
    the file states; ValueError where they differ."""
    out: dict[str, int] = {}
    for token in tokens:
        content = token.get("content")
        if not isinstance(content, str) or not content:
            continue
        if content in out:
            given = out[content]
        elif content in model.ids:
            given = model.ids[content]
        else:
            highest = max(out.values(), default=-1)
            given = highest + 1 if highest >= size else size
        if token.get("id") != given:
            raise ValueError(f"added token {content!r}: id {token.get('id')} in the file")
        out[content] = given
    return out


def _light_template(processor: Any) -> tuple[Any, dict[int, int]]:
    """The post-processor with its special tokens' ids moved to SENTINEL... (so that no
    light id means two things), and those ids -> the real ones."""
    if processor is None:
        return None, {}
    if not isinstance(processor, dict) or processor.get("type") != "TemplateProcessing":
        raise ValueError("a post-processor other than a template")
    processor = json.loads(json.dumps(processor))
    real: dict[int, int] = {}
    for token in (processor.get("special_tokens") or {}).values():
        light = []
        for i in token.get("ids") or []:
            light.append(SENTINEL + len(real))
            real[light[-1]] = int(i)
        token["ids"] = light
    return processor, real
