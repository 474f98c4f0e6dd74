"""Unpacking inside a file under the limits: zip directories, inflated streams, XML.

Every container format here (zip packages, OLE compound files, zlib streams)
can claim or produce far more bytes than the file holds. A `Budget` is what one
file may unpack in all, counted as it is spent: a stream that would pass it
stops at the limit (zlib's `max_length`, a bounded `read`) instead of being
unpacked and then measured. XML is parsed without entities or network access.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, Protocol

from searchengine.errors import ExtractionError

MAX_ZIP_MEMBERS = 10_000
RATIO_FLOOR = 1024 * 1024  # below this unpacked size a high ratio is harmless


def _bomb(unpacked: int, max_bytes: int) -> ExtractionError:
    return ExtractionError(
        f"unzips to {unpacked:,} bytes, past the {max_bytes:,}-byte limit (a zip bomb?)"
    )


def _ratio_bomb(ratio: float, max_ratio: float) -> ExtractionError:
    return ExtractionError(
        f"compressed {ratio:,.0f} to 1, past the {max_ratio:,.0f} to 1 limit (a zip bomb?)"
    )


def check_zip(
    data: bytes, max_unpacked_bytes: int, max_unpack_ratio: float, what: str = "docx"
) -> None:
    """Refuse a zip that would unpack past the limits (a zip bomb), from its directory alone.

    zipfile never yields more than a member's declared size, so the declared
    sizes bound what unpacking it can cost.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExtractionError(f"not a valid .{what} file") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise ExtractionError(f"a zip of {len(members):,} parts (a zip bomb?)")
    unpacked = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if unpacked > max_unpacked_bytes:
        raise _bomb(unpacked, max_unpacked_bytes)
    if unpacked > RATIO_FLOOR and unpacked / packed > max_unpack_ratio:
        raise _ratio_bomb(unpacked / packed, max_unpack_ratio)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Budget:
    """The bytes one file may still unpack, spent as streams are read or inflated."""

    def __init__(self, packed: int, max_bytes: int, max_ratio: float):
        self.packed = max(packed, 1)
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.spent = 0

    @property
    def cap(self) -> int:
        """The most this file may unpack: the byte limit, and the ratio past 1 MB."""
        return min(self.max_bytes, max(RATIO_FLOOR, int(self.packed * self.max_ratio)))

    @property
    def left(self) -> int:
        return max(self.cap - self.spent, 0)

    def spend(self, n: int) -> None:
        """Count `n` more unpacked bytes; past the limits it is a zip bomb."""
        self.spent += n
        if self.spent > self.max_bytes:
            raise ExtractionError(
                f"unpacks past the {self.max_bytes:,}-byte limit (a decompression bomb?)"
            )
        if self.spent > self.cap:
            raise ExtractionError(
                f"unpacks past {self.cap:,} bytes, {self.max_ratio:,.0f} times its size "
                f"(the ratio limit; a decompression bomb?)"
            )

    def read(self, stream: IO[bytes]) -> bytes:
        """All of `stream`, or an error as soon as it passes what is left."""
        data = stream.read(self.left + 1)
        self.spend(len(data))
        return data

    def inflate(self, data: bytes, raw: bool) -> bytes:
        """Decompress a zlib (or raw deflate) stream, never past what is left."""
        decoder = zlib.decompressobj(-15 if raw else 15)
        try:
            out = decoder.decompress(data, self.left + 1)
        except zlib.error as exc:
            raise ExtractionError(f"a damaged compressed stream ({exc})") from None
        self.spend(len(out))  # output stops one byte past what is left: that raises here
        if not decoder.eof:
            raise ExtractionError("a truncated compressed stream (a damaged or cut-off file?)")
        return out

    def zip_member(self, zf: zipfile.ZipFile, name: str) -> bytes:
        """One member of a zip, read within the budget."""
        with zf.open(name) as stream:
            return self.read(stream)

    def metered(self, stream: IO[bytes]) -> Metered:
        """`stream`, spending this budget as a parser reads it."""
        return Metered(stream, self)


class Metered:
    """A stream that spends a budget as it is read (for parsers that pull their input)."""

    def __init__(self, raw: IO[bytes], budget: Budget):
        self.raw = raw
        self.budget = budget

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n if n >= 0 else self.budget.left + 1)
        self.budget.spend(len(data))
        return data


def open_zip(data: bytes, what: str, max_bytes: int, max_ratio: float) -> zipfile.ZipFile:
    """A zip package whose directory passed `check_zip`."""
    check_zip(data, max_bytes, max_ratio, what)
    return zipfile.ZipFile(io.BytesIO(data))


def _parser() -> Any:
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )


def parse_xml(data: bytes, what: str) -> Any:
    """The root element of an XML document, parsed without entities or network."""
    from lxml import etree

    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise ExtractionError(f"not a readable {what} (bad XML: {exc})") from None


def iter_xml(stream: Readable, what: str, tags: tuple[str, ...]) -> Iterator[Any]:
    """Elements named `tags` (Clark notation) as each one ends, for streaming big parts.

    The caller clears what it has read, so memory stays at one element's worth.
    """
    from lxml import etree

    try:
        for _, element in etree.iterparse(
            stream,
            events=("end",),
            tag=tags,
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
        ):
            yield element
    except etree.XMLSyntaxError as exc:
        raise ExtractionError(f"not a readable {what} (bad XML: {exc})") from None


def local(tag: object) -> str:
    """An element's name without its namespace."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
