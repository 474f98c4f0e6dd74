"""What kind of picture an image is: a photo, a drawing, or a picture of text.

A linear probe (multinomial logistic regression) over the pooled features of the
shipped lite0 tower's ImageNet trunk, the same features its tags come from, in the
same forward pass. Trained by training/train_domain.py on pictures whose kind is
known from where they come from (see there): held-out accuracy 0.975, and 0.986 on
69 pictures made apart from the training sources. It ships beside the towers
(`weights/semsearch-domain.safetensors`, a few KB) and is named for the tower whose
features it reads; other image models give no domain.

The domain decides whose ImageNet tags are kept (`trusts_tags`) and is stored in
the catalog, where a search can filter on it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from searchengine.records import Tag

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEIGHTS_FILE = PACKAGE_DIR / "weights" / "semsearch-domain.safetensors"
PHOTO, DRAWING, TEXT = "photo", "drawing", "text"
CLASSES = [PHOTO, DRAWING, TEXT]  # the probe's rows, in this order


class DomainProbe:
    """Each picture's domain, by the largest of the probe's class scores."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, classes: list[str], model: str):
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.classes = tuple(classes)
        self.model = model

    def domains(self, features: np.ndarray) -> list[str]:
        """The domains of pooled feature rows (L2-normalised here, as in training)."""
        if len(features) == 0:
            return []
        x = np.asarray(features, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        scores = x @ self.weight.T + self.bias
        return [self.classes[i] for i in np.argmax(scores, axis=1)]


def probe_for(model: str) -> DomainProbe | None:
    """The probe that reads `model`'s pooled features, or None where there is none."""
    return _probe(model, WEIGHTS_FILE)


@lru_cache(maxsize=4)
def _probe(model: str, path: Path) -> DomainProbe | None:
    if not path.is_file():
        return None
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
    if meta.get("model") != model:
        return None
    layer = load_file(str(path))
    return DomainProbe(layer["weight"], layer["bias"], json.loads(meta["classes"]), model)


def judge(
    probe: DomainProbe | None, features: np.ndarray, tags: Sequence[tuple[Tag, ...]]
) -> tuple[list[tuple[Tag, ...]], list[str | None]]:
    """Each picture's domain from its pooled features, and the tags it keeps."""
    if probe is None:
        return list(tags), [None for _ in tags]
    domains: list[str | None] = list(probe.domains(features))
    return [t if trusts_tags(d) else () for t, d in zip(tags, domains, strict=True)], domains


def trusts_tags(domain: str | None) -> bool:
    """Whether an image of this domain keeps its ImageNet tags. ImageNet names photos;
    on drawings its confident labels were mostly wrong (evalsets/tags: the sample's
    airplane drawing was 'corkscrew' at 0.84; see bench/calibrate_tags.py --domain
    drawing), so drawings get none. Unknown domains keep them as before."""
    return domain != DRAWING
