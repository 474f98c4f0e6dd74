"""A query's token ids without building the tokenizer's model: Unigram (SentencePiece) only.

e5's tokenizer is a Unigram model of 250,002 pieces. `tokenizers` builds a trie
of all of them when it loads (0.6-1 s here, holding the GIL), which was the
largest single cost of a one-shot search. A query needs only the pieces that
occur inside it. So this class keeps the pieces and their scores in a compact
cache file next to the model's other caches (a joined string and a float64
array: a few tens of milliseconds to read), and runs the same Viterbi search
as `tokenizers`' Unigram model (`encode_optimized`: best path per end
position, ties to the first candidate, shorter pieces first, an unknown
character scored min_score - 10 and runs of them fused) after the tokenizer's
own normalizer and pre-tokenizer, which load in milliseconds without the model.

Anything it does not carry out exactly (another model type, byte fallback, a
post-processor other than a template, a query holding an added token's text or
longer than the model takes) is answered by None, and the caller uses the full
tokenizer. A test holds the ids equal to the full tokenizer's on the shipped
query sets and on odd text.

The pieces' search (`UnigramPieces`) and the cache (`load_pieces`) also serve
compact_tokenizer.py, which runs a whole text (offsets, added tokens, batches) so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from array import array
from pathlib import Path
from typing import Any

import numpy as np

UNK_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY
CACHE_VERSION = 1


class UnigramPieces:
    """A Unigram model's pieces and scores, and its Viterbi search over one word: what
    `QueryTokenizer` and `CompactTokenizer` (compact_tokenizer.py) both run."""

    def __init__(
        self, pieces: list[str], scores: np.ndarray, unk_id: int, *, prefixes: bool = False
    ):
        # a repeated piece: its last id, as in tokenizers
        self.ids = dict(zip(pieces, range(len(pieces)), strict=True))
        # a float array: 2 MB where a list of 250,002 floats takes 8
        self.scores = array("d", np.asarray(scores, dtype=np.float64).tobytes())
        self.unk_id = unk_id
        self.unk_score = float(np.min(scores)) - UNK_PENALTY
        self.reach: dict[str, int] = {}  # first character -> the longest piece it starts
        for piece in pieces:
            if piece and len(piece) > self.reach.get(piece[0], 0):
                self.reach[piece[0]] = len(piece)
        # `prefixes`: also the beginnings of pieces that are no piece themselves (e5:
        # 255,196 of them, ~25 MB), so that a search from one position stops at the first
        # substring that begins no piece instead of trying every length up to `reach`.
        # Text full of words no cache holds (changelogs: versions, names, addresses) went
        # through 131 lookups a word without it; worth it for passages, not for one query
        self.dead_ends: frozenset[str] | None = None
        if prefixes:
            ids = self.ids
            self.dead_ends = frozenset(
                p[:k] for p in pieces for k in range(1, len(p)) if p[:k] not in ids
            )

    def id_of(self, piece: str) -> int:
        """tokenizers' token_to_ids lookup: a piece's (last) id, else the unknown id."""
        return self.ids.get(piece, self.unk_id)

    def split(self, word: str) -> list[str]:
        """The pieces of one pre-tokenized word, as tokenizers' Unigram.encode_optimized
        cuts it: for each end position the best-scoring path, a later candidate taking it
        only with a higher score (starts in order, then shorter pieces first), a character
        that is no piece by itself scored min_score - 10 as unknown, and a run of unknown
        nodes (the unknown id, the "<unk>" piece included, as there) fused into one."""
        n = len(word)
        if not n:
            return []
        get, scores, unk_id, reach = self.ids.get, self.scores, self.unk_id, self.reach
        dead_ends = self.dead_ends
        score = [0.0] * (n + 1)  # of the best path ending at each position
        back = [-1] * (n + 1)  # where its last piece starts (-1: not reached yet)
        last = [0] * (n + 1)  # and that piece's id
        for start in range(n):
            base = score[start]  # every position is reached (unknown characters too)
            single = False
            stop = min(n, start + reach.get(word[start], 0))
            for end in range(start + 1, stop + 1):
                sub = word[start:end]
                found = get(sub)
                if found is None:
                    if dead_ends is not None and sub not in dead_ends:
                        break  # no piece begins with it, nor with anything longer
                    continue
                candidate = scores[found] + base
                if back[end] < 0 or candidate > score[end]:
                    score[end], back[end], last[end] = candidate, start, found
                if end == start + 1:
                    single = True
            if not single:
                candidate = self.unk_score + base
                end = start + 1
                if back[end] < 0 or candidate > score[end]:
                    score[end], back[end], last[end] = candidate, start, unk_id
        pieces: list[str] = []
        unknown = -1  # the end of the run of unknown nodes being walked back over
        end = n
        while end > 0:
            start = back[end]
            if last[end] == unk_id:
                if unknown < 0:
                    unknown = end
            else:
                if unknown >= 0:
                    pieces.append(word[end:unknown])
                    unknown = -1
                pieces.append(word[start:end])
            end = start
        if unknown >= 0:
            pieces.append(word[:unknown])
        pieces.reverse()
        return pieces


def load_pieces(
    folder: Path, cache_root: Path
) -> tuple[dict[str, Any], list[str], np.ndarray] | None:
    """(the tokenizer.json without its model, the pieces, their scores) of the model in
    `folder`, from (or into) its cache under `cache_root`; None when its tokenizer is
    not one `QueryTokenizer` runs exactly (see `_split`)."""
    source = folder / "tokenizer.json"
    try:
        stat = source.stat()
        key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_VERSION}"
    except OSError:
        return None
    cache = cache_root / "query-tokenizers" / hashlib.sha256(key.encode()).hexdigest()[:16]
    loaded = _read(cache)
    if loaded is None:
        made = _split(source)
        if made is None:
            return None
        shutil.rmtree(cache, ignore_errors=True)  # a damaged one: made again
        _store(cache, *made)
        loaded = made
        if made[0].get("supported"):
            # read back: the pieces then lie in memory of their own, not among the freed
            # remains of the parsed tokenizer.json, which malloc can so give back (a
            # process that made the cache held some 20 MB more for its life otherwise)
            del made, loaded
            loaded = _read(cache) or _split(source)  # (a cache it could not write)
            if loaded is None:
                return None
    pipeline, pieces, scores = loaded
    return (pipeline, pieces, scores) if pipeline.get("supported") else None


def _read(cache: Path) -> tuple[dict[str, Any], list[str], np.ndarray] | None:
    try:
        pipeline = json.loads((cache / "pipeline.json").read_text(encoding="utf-8"))
        pieces = (cache / "pieces.txt").read_text(encoding="utf-8").split("\n")
        scores = np.load(cache / "scores.npy")
        if pipeline.get("supported") and len(pieces) != len(scores):
            raise ValueError("a damaged cache")
    except (OSError, ValueError, AttributeError):
        return None
    return pipeline, pieces, scores


class QueryTokenizer:
    """Token ids (special tokens included) of one short text, or None: not handled."""

    def __init__(self, pieces: list[str], scores: np.ndarray, pipeline: dict[str, Any]):
        from tokenizers import Tokenizer

        self.model = UnigramPieces(pieces, scores, pipeline["unk_id"])
        self._scores = self.model.scores
        self._head: list[int] = pipeline["head"]
        self._tail: list[int] = pipeline["tail"]
        self._added: list[str] = pipeline["added"]
        light = {**pipeline["tokenizer"], "added_tokens": [], "post_processor": None}
        light["model"] = {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}
        self._light = Tokenizer.from_str(json.dumps(light))

    @classmethod
    def load(cls, folder: Path, cache_root: Path) -> QueryTokenizer | None:
        """For the model in `folder`, from (or into) its cache under `cache_root`; None
        when its tokenizer is not one this class runs exactly."""
        loaded = load_pieces(folder, cache_root)
        if loaded is None:
            return None
        pipeline, pieces, scores = loaded
        return cls(pieces, scores, pipeline)

    def ids(self, text: str, max_length: int) -> list[int] | None:
        if any(a in text for a in self._added):
            return None  # the full tokenizer splits an added token's text out first
        normalized = self._light.normalizer.normalize_str(text) if self._light.normalizer else text
        if self._light.pre_tokenizer is not None:
            words = [w for w, _ in self._light.pre_tokenizer.pre_tokenize_str(normalized)]
        else:
            words = [normalized]
        out = list(self._head)
        for word in words:
            out.extend(map(self.model.id_of, self.model.split(word)))
        out.extend(self._tail)
        return out if len(out) <= max_length else None


def _split(source: Path) -> tuple[dict[str, Any], list[str], np.ndarray] | None:
    """(the pipeline without the model, the pieces, their scores) of a tokenizer.json."""
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        model = data["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    pieces: list[str] = []
    scores = np.zeros(0, dtype=np.float64)
    if model.get("type") == "Unigram":
        try:
            pieces = [str(piece) for piece, _ in model["vocab"]]
            scores = np.asarray([float(score) for _, score in model["vocab"]], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            pieces = []
    template = _template(data.get("post_processor"))
    supported = bool(
        pieces
        and model.get("unk_id") is not None
        and not model.get("byte_fallback")
        and not any("\n" in p for p in pieces)
        and template is not None
        and not data.get("truncation")
        and not data.get("padding")
    )
    head, tail = template or ([], [])
    pipeline = {
        "supported": supported,
        "unk_id": model.get("unk_id"),
        "head": head,
        "tail": tail,
        "added": [t["content"] for t in data.get("added_tokens") or [] if t.get("content")],
        "tokenizer": {k: v for k, v in data.items() if k != "model"},
    }
    return pipeline, (pieces if supported else []), (scores if supported else scores[:0])


def _template(processor: Any) -> tuple[list[int], list[int]] | None:
    """The ids a TemplateProcessing puts before and after a single sequence."""
    if not isinstance(processor, dict) or processor.get("type") != "TemplateProcessing":
        return None
    special = processor.get("special_tokens") or {}
    head: list[int] = []
    tail: list[int] = []
    seen = False
    for part in processor.get("single") or []:
        if "Sequence" in part:
            if seen or part["Sequence"].get("id") != "A":
                return None
            seen = True
        elif "SpecialToken" in part:
            ids = (special.get(part["SpecialToken"].get("id")) or {}).get("ids")
            if not ids:
                return None
            (tail if seen else head).extend(int(i) for i in ids)
        else:
            return None
    return (head, tail) if seen else None


def _store(cache: Path, pipeline: dict[str, Any], pieces: list[str], scores: np.ndarray) -> None:
    """Written whole or not at all: a unique sibling, then one rename."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    except OSError:
        return  # a read-only cache: made again next time
    try:
        (tmp / "pieces.txt").write_text("\n".join(pieces), encoding="utf-8")
        np.save(tmp / "scores.npy", scores)
        (tmp / "pipeline.json").write_text(json.dumps(pipeline), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # full disk, or another process put it there first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
