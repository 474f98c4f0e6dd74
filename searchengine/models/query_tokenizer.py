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
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

UNK_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY
CACHE_VERSION = 1


class QueryTokenizer:
    """Token ids (special tokens included) of one short text, or None: not handled."""

    def __init__(self, pieces: list[str], scores: np.ndarray, pipeline: dict[str, Any]):
        from tokenizers import Tokenizer

        self._ids = dict(zip(pieces, range(len(pieces)), strict=True))  # a repeated piece:
        self._scores: list[float] = scores.tolist()  # its last id, as in tokenizers
        self._unk_id: int = pipeline["unk_id"]
        self._unk_score = float(scores.min()) - UNK_PENALTY
        self._longest = max(len(p) for p in pieces)
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
        source = folder / "tokenizer.json"
        try:
            stat = source.stat()
            key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_VERSION}"
        except OSError:
            return None
        cache = cache_root / "query-tokenizers" / hashlib.sha256(key.encode()).hexdigest()[:16]
        try:
            pipeline = json.loads((cache / "pipeline.json").read_text(encoding="utf-8"))
            pieces = (cache / "pieces.txt").read_text(encoding="utf-8").split("\n")
            scores = np.load(cache / "scores.npy")
            if pipeline.get("supported") and len(pieces) != len(scores):
                raise ValueError("a damaged cache")
        except (OSError, ValueError, AttributeError):
            made = _split(source)
            if made is None:
                return None
            pipeline, pieces, scores = made
            shutil.rmtree(cache, ignore_errors=True)  # a damaged one: made again
            _store(cache, pipeline, pieces, scores)
        return cls(pieces, scores, pipeline) if pipeline.get("supported") else None

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
            out.extend(self._word(word))
        out.extend(self._tail)
        return out if len(out) <= max_length else None

    def _word(self, word: str) -> list[int]:
        """tokenizers' Unigram.encode_optimized, then its token_to_ids lookup."""
        if not word:
            return []
        n, ids, scores = len(word), self._ids, self._scores
        best: list[tuple[float, int, int] | None] = [None] * (n + 1)  # (score, start, id)
        best[0] = (0.0, -1, -1)
        for start in range(n):
            here = best[start]
            assert here is not None  # every position is reached (unknown characters too)
            single = False
            for end in range(start + 1, min(n, start + self._longest) + 1):
                found = ids.get(word[start:end])
                if found is None:
                    continue
                candidate = scores[found] + here[0]
                target = best[end]
                if target is None or candidate > target[0]:
                    best[end] = (candidate, start, found)
                single = single or end == start + 1
            if not single:
                candidate = self._unk_score + here[0]
                target = best[start + 1]
                if target is None or candidate > target[0]:
                    best[start + 1] = (candidate, start, self._unk_id)
        pieces: list[str] = []
        unknown: list[str] = []
        end = n
        while end > 0:
            node = best[end]
            assert node is not None
            start = node[1]
            if node[2] == self._unk_id:
                unknown.append(word[start:end])
            else:
                if unknown:
                    pieces.append("".join(reversed(unknown)))
                    unknown = []
                pieces.append(word[start:end])
            end = start
        if unknown:
            pieces.append("".join(reversed(unknown)))
        pieces.reverse()
        return [ids.get(p, self._unk_id) for p in pieces]


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
