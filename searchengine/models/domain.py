"""What kind of picture an image is: a photo, a drawing, or a picture of text.

A linear probe (multinomial logistic regression) over the image model's own
L2-normalised vectors, trained by training/train_domain.py on pictures whose kind
is known from where they come from (see there), and shipped beside the towers
(`weights/semsearch-domain.safetensors`, a few KB). Because it reads the stored
vector, an image's domain costs one small matrix product at indexing time and can
be given to images indexed before it existed, without reading them again.

Only the image model it was trained for gets domains; any other gives none.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from searchengine.records import Vectors

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEIGHTS_FILE = PACKAGE_DIR / "weights" / "semsearch-domain.safetensors"
PHOTO, DRAWING, TEXT = "photo", "drawing", "text"
CLASSES = [PHOTO, DRAWING, TEXT]  # the probe's rows, in this order


class DomainProbe:
    """Each vector's domain, by the largest of the probe's class scores."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, classes: list[str], model: str):
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.classes = tuple(classes)
        self.model = model

    def domains(self, vectors: Vectors) -> list[str]:
        if len(vectors) == 0:
            return []
        x = np.asarray(vectors, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        scores = x @ self.weight.T + self.bias
        return [self.classes[i] for i in np.argmax(scores, axis=1)]


def probe_for(model: str) -> DomainProbe | None:
    """The probe trained on `model`'s vectors, or None where there is none."""
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


def image_domains(model: str, vectors: Vectors) -> list[str | None]:
    """Each image vector's domain under `model`'s probe; None for all where it has none."""
    probe = probe_for(model)
    if probe is None:
        return [None] * len(vectors)
    return list(probe.domains(vectors))


def trusts_tags(domain: str | None) -> bool:
    """Whether an image of this domain keeps its ImageNet tags. ImageNet names photos;
    on drawings its confident labels were often wrong (the sample's airplane drawing was
    'corkscrew' at 0.84), so drawings get none. Unknown domains keep them as before."""
    return domain != DRAWING
