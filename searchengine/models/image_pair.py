"""Two image towers that live in the same text space, as one image model.

Both shipped towers were trained against the frozen e5-small query vectors, so
their image vectors are comparable, and they err differently: the first tower
(a 64 px ResNet trained from scratch on drawings) knows shapes of clip art, the
ImageNet tower (EfficientNet-Lite0) sees photos and textures. Their weighted
mean, renormalised, beats either on held-out drawings (bench/bench_clip_recall.py:
Korean recall@10 0.44 -> 0.48, English 0.37 -> 0.44) at no loss among photos.
Tags come from the part that has a classifier; text queries are e5 vectors, the
same for every part.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PIL import Image

from searchengine.errors import ConfigError
from searchengine.models.encoders import labelled
from searchengine.models.image_encoder import ImageEncoder, export_apart
from searchengine.records import Tag, Vectors


class PairedImageEncoder:
    """L2-normalised weighted mean of several image encoders' vectors."""

    def __init__(self, name: str, parts: Sequence[tuple[ImageEncoder, float]]):
        if len(parts) < 2 or any(w <= 0 for _, w in parts):
            raise ConfigError(f"image model {name!r}: needs two or more parts with weights > 0")
        prefixes = {enc.source.text_prefix for enc, _ in parts}
        if len(prefixes) != 1:
            raise ConfigError(f"image model {name!r}: its parts read queries differently")
        self.name = name
        self.parts = tuple(parts)
        names = " + ".join(f"{enc.name} x{w:g}" for enc, w in parts)
        self.source = replace(parts[0][0].source, name=name, where=f"{names}, shared text tower")
        self._tagging = next(
            (enc for enc, _ in parts if enc.source.tagger_file is not None), parts[0][0]
        )
        self._lock = threading.Lock()
        self._prepared = False

    def _prepare(self) -> None:
        """Load the parts, the first last: the others' text towers (queries are the first
        part's) are freed as each loads, so no two spare copies are ever held at once."""
        if self._prepared:
            return
        with self._lock:
            if self._prepared:
                return
            export_apart([enc for enc, _ in self.parts])  # a first run's exports, at once
            for enc, _ in self.parts[1:]:
                release = getattr(enc, "release_text_tower", None)
                if release is not None:
                    release()
            self._prepared = True

    @property
    def loaded(self) -> bool:
        return all(enc.loaded for enc, _ in self.parts)

    @property
    def dim(self) -> int:
        self._prepare()
        dims = {enc.dim for enc, _ in self.parts}
        if len(dims) != 1:
            raise ConfigError(f"image model {self.name!r}: its parts differ in size {dims}")
        return dims.pop()

    @property
    def fingerprint(self) -> str:
        self._prepare()
        h = hashlib.sha256(b"paired image encoder 1")
        for enc, weight in self.parts:
            h.update(f"{enc.fingerprint}:{weight!r};".encode())
        return h.hexdigest()[:16]

    def _mean(self, vectors: Sequence[Vectors]) -> Vectors:
        total = sum(w * v for (_, w), v in zip(self.parts, vectors, strict=True))
        out = np.asarray(total, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        self._prepare()
        return self._mean([enc.encode_images(images) for enc, _ in self.parts])

    def encode_and_tag(
        self, images: Sequence[Image.Image]
    ) -> tuple[Vectors, list[tuple[Tag, ...]]]:
        vectors, tags, _ = self.encode_and_label(images)
        return vectors, tags

    def encode_and_label(
        self, images: Sequence[Image.Image]
    ) -> tuple[Vectors, list[tuple[Tag, ...]], list[str | None]]:
        """Vectors, and the tags and domains of the part that has a classifier."""
        self._prepare()
        vectors: list[Vectors] = []
        tags: list[tuple[Tag, ...]] = [() for _ in images]
        domains: list[str | None] = [None for _ in images]
        for enc, _ in self.parts:
            if enc is self._tagging:
                v, tags, domains = labelled(enc, images)
            else:
                v = enc.encode_images(images)
            vectors.append(v)
        return self._mean(vectors), tags, domains

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        """Text queries: the parts share their text tower, so any part's vectors do."""
        return self.parts[0][0].encode_texts(texts)
