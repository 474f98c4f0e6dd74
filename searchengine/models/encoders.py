"""What the rest of semsearch needs of an encoder: two small protocols.

`TextEncoder` and `ImageEncoder` are the real ones (transformers, open_clip);
anything with the same attributes can be injected into `searchengine.Index`,
as the tests do with a deterministic fake. Every `encode*` returns L2-normalised
float32 rows, one per input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from PIL import Image

from searchengine.records import Tag, Vectors

TextRole = Literal["query", "passage"]


class TextEncoding(Protocol):
    """A text model: sentence vectors, and the token spans the chunker cuts by."""

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def max_tokens(self) -> int: ...

    def prefix_tokens(self, role: TextRole) -> int: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors: ...


class ImageEncoding(Protocol):
    """An image model: image vectors, and text queries into the same space."""

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors: ...

    def encode_and_tag(
        self, images: Sequence[Image.Image]
    ) -> tuple[Vectors, list[tuple[Tag, ...]]]:
        """Vectors and, in the same pass, each image's confident labels (none if the
        model has no classifier)."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> Vectors: ...


def labelled(
    encoder: ImageEncoding, images: Sequence[Image.Image]
) -> tuple[Vectors, list[tuple[Tag, ...]], list[str | None]]:
    """`encode_and_label` where the encoder has it, else its tags and no domains (an
    encoder of the protocol alone, such as the tests' fakes)."""
    label = getattr(encoder, "encode_and_label", None)
    if label is not None:
        out: tuple[Vectors, list[tuple[Tag, ...]], list[str | None]] = label(images)
        return out
    vectors, tags = encoder.encode_and_tag(images)
    return vectors, list(tags), [None for _ in images]


@dataclass(frozen=True)
class Encoders:
    """Encoders given to an index instead of the ones its settings name."""

    text: TextEncoding | None = None
    image: ImageEncoding | None = None
