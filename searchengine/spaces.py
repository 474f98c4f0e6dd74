"""The encoders of an index's spaces, loaded lazily and checked against the catalog."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from .catalog import Catalog, SpaceInfo
from .config import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, Settings
from .encode_image import ImageEncoder
from .encode_text import TextEncoder
from .errors import ModelMismatchError, ModelUnavailableError
from .models import resolve_image_model, resolve_text_model

log = logging.getLogger(__name__)

TEXT = "text"
IMAGE = "image"

# Texts that tell whether a CLIP's text tower is the text model itself.
SHARED_TOWER_PROBES = ("a red car parked on the street", "강아지가 공원에서 뛰어논다", "빵과 커피")


class Spaces:
    """Builds each space's encoder on first use, refusing one the index was not built with."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        on_status: Callable[[str], None] | None = None,
    ):
        self.catalog = catalog
        self.settings = settings
        self.on_status = on_status
        self._text: TextEncoder | None = None
        self._image: ImageEncoder | None = None
        recorded = {s.name: s for s in catalog.spaces()}
        self.text_model = self._choose(TEXT, settings.text_model, DEFAULT_TEXT_MODEL, recorded)
        self.image_model = self._choose(IMAGE, settings.image_model, DEFAULT_IMAGE_MODEL, recorded)

    def _choose(
        self, space: str, asked: str | None, default: str, recorded: dict[str, SpaceInfo]
    ) -> str:
        rec = recorded.get(space)
        if rec is None:
            return asked or default
        if asked is not None and asked != rec.model:
            raise ModelMismatchError(
                f"this index's {space} space was built with {rec.model!r}, not {asked!r}; "
                f"use another --index folder, or delete {self.catalog.path.parent} to rebuild"
            )
        return rec.model

    def text(self) -> TextEncoder:
        if self._text is None:
            src = resolve_text_model(self.text_model, self.settings.model_cache, self.on_status)
            enc = TextEncoder(src, batch_size=self.settings.text_batch)
            self._check(TEXT, enc.name, enc.fingerprint, enc.dim, src.where)
            self._text = enc
        return self._text

    def image(self) -> ImageEncoder:
        if self._image is None:
            src = resolve_image_model(self.image_model, self.settings.model_cache)
            enc = ImageEncoder(src, batch_size=self.settings.image_batch)
            self._check(IMAGE, enc.name, enc.fingerprint, enc.dim, src.where)
            self._image = enc
        return self._image

    def _check(self, space: str, model: str, fingerprint: str, dim: int, where: str) -> None:
        rec = self.catalog.space(space)
        if rec is None:
            return
        if rec.fingerprint != fingerprint or rec.dim != dim:
            raise ModelMismatchError(
                f"this index's {space} vectors were made by {rec.model!r} with fingerprint "
                f"{rec.fingerprint}, but {model!r} loads here ({where}) as {fingerprint}; "
                f"mixing them would give wrong results: rebuild in a new --index folder"
            )

    def record(self, space: str) -> SpaceInfo:
        """The space's catalog record, created from its encoder on first write."""
        if space == TEXT:
            t = self.text()
            return self.catalog.ensure_space(TEXT, t.name, t.fingerprint, t.dim)
        existing = self.catalog.space(IMAGE)
        if existing is not None:
            return existing
        i = self.image()
        return self.catalog.ensure_space(
            IMAGE, i.name, i.fingerprint, i.dim, query_fingerprint=self._shared_text_tower()
        )

    def _shared_text_tower(self) -> str | None:
        """The text model's fingerprint if the CLIP's text tower gives its query vectors."""
        try:
            text = self.text()
        except ModelUnavailableError:
            return None
        image = self.image()
        if text.dim != image.dim:
            return None
        a = image.encode_texts(SHARED_TOWER_PROBES)
        b = text.encode(SHARED_TOWER_PROBES, "query")
        if float(np.min(np.sum(a * b, axis=1))) < 0.999:
            return None
        log.info("the image model's text tower is the text model: text queries share vectors")
        return text.fingerprint

    def image_query_from_text(self) -> bool:
        """Whether a text query's text-space vector is also its image-space vector."""
        rec = self.catalog.space(IMAGE)
        if rec is None or rec.query_fingerprint is None:
            return False
        try:
            return self.text().fingerprint == rec.query_fingerprint
        except ModelUnavailableError:
            return False
