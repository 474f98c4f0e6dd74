"""The encoders of an index's spaces, loaded lazily and checked against the catalog."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from searchengine.catalog import Catalog, SpaceInfo
from searchengine.config import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, Settings
from searchengine.errors import ModelMismatchError, ModelUnavailableError
from searchengine.models.encoders import Encoders, ImageEncoding, TextEncoding
from searchengine.models.image_encoder import ImageEncoder
from searchengine.models.image_pair import PairedImageEncoder
from searchengine.models.presets import IMAGE_PAIRS, resolve_image_model, resolve_text_model
from searchengine.models.sources import ImageSource, TextSource
from searchengine.models.text_encoder import TextEncoder

log = logging.getLogger(__name__)

TEXT = "text"
IMAGE = "image"

# Texts that tell whether a CLIP's text tower is the text model itself.
SHARED_TOWER_PROBES = ("a red car parked on the street", "강아지가 공원에서 뛰어논다", "빵과 커피")


def load_text_encoder(
    model: str, settings: Settings, on_status: Callable[[str], None] | None = None
) -> TextEncoder:
    """The text encoder a model spec names (loaded lazily, on first encode)."""
    src = resolve_text_model(model, settings.model_cache, on_status)
    return TextEncoder(
        src,
        batch_size=settings.text_batch,
        engine=settings.text_engine,  # type: ignore[arg-type]  # checked by TextEncoder
        precision=settings.text_precision,  # type: ignore[arg-type]  # checked there too
        model_cache=settings.model_cache,
        threads=settings.encode_threads,
        on_status=on_status,
    )


def load_image_encoder(
    model: str, settings: Settings, on_status: Callable[[str], None] | None = None
) -> ImageEncoder | PairedImageEncoder:
    """The image encoder a model spec names (loaded lazily, on first encode)."""
    if model in IMAGE_PAIRS:
        parts = [(_image_encoder(p, settings, on_status), w) for p, w in IMAGE_PAIRS[model]]
        return PairedImageEncoder(model, parts)
    return _image_encoder(model, settings, on_status)


def _image_encoder(
    model: str, settings: Settings, on_status: Callable[[str], None] | None
) -> ImageEncoder:
    return ImageEncoder(
        resolve_image_model(model, settings.model_cache),
        settings.image_batch,
        threads=settings.encode_threads,
        on_status=on_status,
    )


def shared_text_tower(text: TextEncoding, image: ImageEncoding) -> str | None:
    """The text model's fingerprint if the CLIP's text tower gives its query vectors.

    A tower that is the text model's own folder, read with its query prefix (the shipped
    towers), is known to without loading it: the probes would load a second copy of the
    text model, with torch, into an indexing run (1.6 GB of its peak, measured on a few
    files). Any other tower is measured on the probes."""
    if text.dim != image.dim:
        return None
    tower, source = getattr(image, "source", None), getattr(text, "source", None)
    if (
        isinstance(tower, ImageSource)
        and tower.text_tower is not None
        and isinstance(source, TextSource)
        and tower.text_tower == source.location
        and tower.text_prefix == source.query_prefix
    ):
        log.info("the image model's text tower is the text model's folder: queries share vectors")
        return text.fingerprint
    a = image.encode_texts(SHARED_TOWER_PROBES)
    b = text.encode(SHARED_TOWER_PROBES, "query")
    if float(np.min(np.sum(a * b, axis=1))) < 0.999:
        return None
    log.info("the image model's text tower is the text model: text queries share vectors")
    return text.fingerprint


class Spaces:
    """Builds each space's encoder on first use, refusing one the index was not built with.

    Encoders given in `encoders` are used instead of loading the settings' models,
    and are checked against the catalog all the same. `cache` holds encoders an
    earlier `Spaces` loaded: each is reused if it is the model this space wants.
    """

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        on_status: Callable[[str], None] | None = None,
        encoders: Encoders | None = None,
        cache: Encoders | None = None,
    ):
        self.catalog = catalog
        self.settings = settings
        self.on_status = on_status
        self.given = encoders or Encoders()
        self.cache = cache or Encoders()
        self._text: TextEncoding | None = None
        self._image: ImageEncoding | None = None
        self._loading = threading.Lock()  # one thread loads a model; the others wait for it
        recorded = {s.name: s for s in catalog.spaces()}
        text_default = self.given.text.name if self.given.text else DEFAULT_TEXT_MODEL
        image_default = self.given.image.name if self.given.image else DEFAULT_IMAGE_MODEL
        self.text_model = self._choose(TEXT, settings.text_model, text_default, recorded)
        self.image_model = self._choose(IMAGE, settings.image_model, image_default, recorded)

    def _choose(
        self, space: str, asked: str | None, default: str, recorded: dict[str, SpaceInfo]
    ) -> str:
        rec = recorded.get(space)
        if rec is None:
            return asked or default
        if asked is not None and asked != rec.model:
            raise ModelMismatchError(
                f"this index's {space} space was built with {rec.model!r}, not {asked!r}; "
                "open another index folder, or delete "
                f"{self.catalog.path.parent if self.catalog.path else self.catalog.name} to rebuild"
            )
        return rec.model

    def text(self) -> TextEncoding:
        with self._loading:
            if self._text is None:
                cached = self.cache.text
                if self.given.text is not None:
                    enc: TextEncoding = self.given.text
                    where = "given"
                elif cached is not None and cached.name == self.text_model:
                    enc, where = cached, "already loaded"
                else:
                    enc = load_text_encoder(self.text_model, self.settings, self.on_status)
                    where = enc.source.where
                self._check(TEXT, enc.name, enc.fingerprint, enc.dim, where)
                self._text = enc
            return self._text

    def prepare_text(self, passages: int) -> None:
        """Load the text model and what encoding at least `passages` passages takes (on
        indexing's encoding thread, while the first files are read); an error here is
        raised again, and shown, where the model is first used."""
        try:
            prepare = getattr(self.text(), "prepare_batches", None)
            if prepare is not None:
                prepare(passages)
        except Exception:  # noqa: BLE001 - the first real use reports it
            log.debug("text model preload failed", exc_info=True)

    def texts_done(self) -> None:
        """An indexing run has encoded its texts: the text model frees what only big
        batches need (its torch copy), before the image model loads beside it."""
        with self._loading:
            enc = self._text
        release = getattr(enc, "release_batches", None)
        if release is not None:
            release()

    def image(self) -> ImageEncoding:
        with self._loading:
            if self._image is None:
                cached = self.cache.image
                if self.given.image is not None:
                    enc: ImageEncoding = self.given.image
                    where = "given"
                elif cached is not None and cached.name == self.image_model:
                    enc, where = cached, "already loaded"
                else:
                    enc = load_image_encoder(self.image_model, self.settings, self.on_status)
                    where = enc.source.where
                self._check(IMAGE, enc.name, enc.fingerprint, enc.dim, where)
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
                "mixing them would give wrong results: re-encode this index with it "
                f"(`semsearch reembed --{space}-model {model}`), or build a new index in "
                "another folder"
            )

    def record(self, space: str) -> SpaceInfo:
        """The space's catalog record, created from its encoder on first write."""
        if space == TEXT:
            t = self.text()
            record = self.catalog.ensure_space(TEXT, t.name, t.fingerprint, t.dim)
            # what the run's passages were computed in (a given encoder may not say)
            used: set[str] = getattr(t, "passage_precisions", set())
            if used and not used <= set((record.precision or "").split("+")):
                record = self.catalog.note_precision(TEXT, used) or record
            return record
        existing = self.catalog.space(IMAGE)
        if existing is not None:
            return existing
        i = self.image()
        return self.catalog.ensure_space(
            IMAGE,
            i.name,
            i.fingerprint,
            i.dim,
            query_fingerprint=self.shared_tower(i),
            precision="fp32",  # the image towers always run in fp32
        )

    def shared_tower(self, image: ImageEncoding) -> str | None:
        """The text model's fingerprint if `image`'s text tower gives its query vectors."""
        try:
            text = self.text()
        except ModelUnavailableError:
            return None
        return shared_text_tower(text, image)

    def image_query_from_text(self) -> bool:
        """Whether a text query's text-space vector is also its image-space vector."""
        rec = self.catalog.space(IMAGE)
        if rec is None or rec.query_fingerprint is None:
            return False
        try:
            return self.text().fingerprint == rec.query_fingerprint
        except ModelUnavailableError:
            return False

    def loaded(self) -> Encoders:
        """The encoders loaded so far (or cached before), for the next `Spaces` of this index."""
        return Encoders(text=self._text or self.cache.text, image=self._image or self.cache.image)
