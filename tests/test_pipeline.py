"""Indexing with real SQLite and real hnswlib, through `searchengine.Index`.

The pipeline's logic runs on the deterministic fake encoders (`encoders`,
`fake_settings`); the tests of the model plumbing use a tiny real BERT and CLIP
(`settings`).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeImageEncoder, FakeTextEncoder
from helpers import draw_image, paths, run_index, search
from PIL import Image

from indexer import pipeline
from indexer.pipeline import FLUSH_BATCHES
from searchengine import Encoders, Index
from searchengine.models.encoders import TextRole
from searchengine.records import Vectors


class CountingText(FakeTextEncoder):
    """The fake text encoder, remembering the texts of each `encode` call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[TextRole, list[str]]] = []

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors:
        self.calls.append((role, list(texts)))
        return super().encode(texts, role)


class CountingImage(FakeImageEncoder):
    """The fake image encoder, remembering how many pictures each call carried."""

    def __init__(self) -> None:
        super().__init__()
        self.image_calls: list[int] = []

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        self.image_calls.append(len(images))
        return super().encode_images(images)


def _counts(settings, encoders) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with Index.open(settings=settings, encoders=encoders) as index:
        return index.status().counts


def _indexed_paths(settings, encoders) -> set[str]:  # type: ignore[no-untyped-def]
    """Every indexed file: a dense search ranks every vector of a small index."""
    with Index.open(settings=settings, encoders=encoders) as index:
        return {h.path for h in index.search("car", k=100, mode="dense")}


def test_index_then_search_finds_the_right_file(corpus: Path, settings) -> None:
    summary = run_index(corpus, settings)
    assert (summary.added, summary.skipped) == (6, [])
    assert summary.chunks == 4 and summary.images == 2
    text = (corpus / "dog.md").read_text(encoding="utf-8")
    assert paths(search(settings, text, spaces={"text"}))[0] == "dog.md"
    hits = search(settings, (corpus / "car.txt").read_text(), spaces={"text"})
    assert paths(hits)[0] == "car.txt"
    assert hits[0].snippet.startswith("buy a car")
    assert {h.kind for h in search(settings, "red", spaces={"image"})} == {"image"}


def test_second_run_over_unchanged_folder_encodes_nothing(
    corpus: Path, settings, monkeypatch
) -> None:
    from searchengine.models.image_encoder import ImageEncoder
    from searchengine.models.text_encoder import TextEncoder

    run_index(corpus, settings)
    loads: list[str] = []
    for cls in (TextEncoder, ImageEncoder):
        real_load = cls._load

        def counting(self, real_load=real_load):  # type: ignore[no-untyped-def]
            if not self.loaded:
                loads.append(self.name)
            real_load(self)

        monkeypatch.setattr(cls, "_load", counting)
    again = run_index(corpus, settings)
    assert again.encoded == 0 and again.added == 0 and again.unchanged == 6
    assert loads == []  # no model was even loaded for it


def test_touch_without_change_is_not_reencoded(corpus: Path, fake_settings, encoders) -> None:
    run_index(corpus, fake_settings, encoders)
    st = (corpus / "car.txt").stat()
    os.utime(corpus / "car.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    again = run_index(corpus, fake_settings, encoders)
    assert again.encoded == 0 and again.unchanged == 6


def test_edit_rename_and_delete_are_reflected(corpus: Path, fake_settings, encoders) -> None:
    run_index(corpus, fake_settings, encoders)
    (corpus / "car.txt").write_text("weather report: rain and snow at the train station.")
    (corpus / "dog.md").rename(corpus / "sub" / "puppy.md")
    (corpus / "red.png").unlink()
    summary = run_index(corpus, fake_settings, encoders)
    assert (summary.updated, summary.moved, summary.removed, summary.added) == (1, 1, 1, 0)
    assert summary.encoded == 1  # only the edited file; the moved one kept its vectors
    names = paths(
        search(
            fake_settings,
            "weather report: rain and snow at the train station.",
            10,
            encoders=encoders,
        )
    )
    assert names[0] == "car.txt"
    assert "puppy.md" in names and "dog.md" not in names and "red.png" not in names
    counts = _counts(fake_settings, encoders)
    assert counts["vectors_text"] == 4 and counts["vectors_image"] == 1
    dog = search(
        fake_settings,
        (corpus / "sub" / "puppy.md").read_text(),
        spaces={"text"},
        encoders=encoders,
    )
    assert dog[0].path == str(corpus / "sub" / "puppy.md")


def test_delete_everything_leaves_an_empty_searchable_index(
    corpus: Path, fake_settings, encoders
) -> None:
    run_index(corpus, fake_settings, encoders)
    shutil.rmtree(corpus)
    corpus.mkdir()
    summary = run_index(corpus, fake_settings, encoders)
    assert summary.removed == 6
    assert search(fake_settings, "car", k=50, encoders=encoders) == []


def test_bad_files_are_skipped_with_reasons_and_the_run_goes_on(
    corpus: Path, fake_settings, encoders
) -> None:
    (corpus / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (corpus / "program.txt").write_bytes(bytes(range(256)) * 20)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "euckr.txt").write_bytes("자동차 구입 비용 보고서 그리고 세금".encode("cp949"))
    os.symlink(corpus / "nowhere.txt", corpus / "dangling.txt")
    summary = run_index(corpus, fake_settings, encoders)
    reasons = {Path(p).name: r for p, r in summary.skipped}
    assert reasons["broken.jpg"].startswith("not a readable image")
    assert reasons["program.txt"] == "binary content, not text"
    assert reasons["empty.md"] == "empty file"
    assert reasons["dangling.txt"].startswith("cannot stat")
    assert "euckr.txt" not in reasons
    assert summary.added == 7  # the 6 good files and the CP949 one
    hits = search(
        fake_settings, "자동차 구입 비용 보고서 그리고 세금", spaces={"text"}, encoders=encoders
    )
    assert paths(hits)[0] == "euckr.txt"
    assert "자동차" in hits[0].snippet  # decoded, not mojibake
    # an unchanged bad file is reported again without being read again
    again = run_index(corpus, fake_settings, encoders)
    assert {Path(p).name for p, _ in again.skipped} == set(reasons)
    assert again.encoded == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped(corpus: Path, fake_settings, encoders) -> None:
    secret = corpus / "secret.txt"
    secret.write_text("the car keys")
    secret.chmod(0)
    try:
        summary = run_index(corpus, fake_settings, encoders)
    finally:
        secret.chmod(0o644)
    assert any(Path(p).name == "secret.txt" for p, _ in summary.skipped)


def test_a_file_fixed_after_a_skip_is_indexed(corpus: Path, fake_settings, encoders) -> None:
    (corpus / "later.txt").write_bytes(b"")
    assert run_index(corpus, fake_settings, encoders).skipped
    (corpus / "later.txt").write_text("the dog and the puppy")
    summary = run_index(corpus, fake_settings, encoders)
    assert summary.skipped == [] and summary.updated == 1


def test_the_encoders_get_whole_batches_not_one_file_at_a_time(
    tmp_path: Path, fake_settings
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    notes = 40
    for n in range(notes):
        (folder / f"note{n}.txt").write_text(
            " ".join(["the car and the dog walk in the park"] * 3) + f" number {n}"
        )
    for n in range(6):
        draw_image(folder / f"img{n}.png", (40 * n, 100, 200))
    settings = replace(fake_settings, text_batch=4)
    text, image = CountingText(), CountingImage()
    summary = run_index(folder, settings, Encoders(text=text, image=image))
    assert summary.chunks == notes and summary.images == 6
    # the folder's chunks; the reference passages of good-match scores are encoded after them
    batches = [
        len(texts)
        for role, texts in text.calls
        if role == "passage" and all("park number" in t for t in texts)
    ]
    assert sum(batches) == summary.chunks
    # a batch is encoded and committed once FLUSH_BATCHES encoder batches are pending
    flushes = math.ceil((summary.chunks + summary.images) / (FLUSH_BATCHES * settings.text_batch))
    assert len(batches) == flushes >= 2
    assert sum(image.image_calls) == 6 and len(image.image_calls) <= flushes


def test_long_text_is_chunked_with_offsets(tmp_path: Path, settings) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    sentences = [f"sentence {i} is about the car and the dog." for i in range(60)]
    text = " ".join(sentences)
    (folder / "long.txt").write_text(text)
    summary = run_index(folder, settings)
    assert summary.chunks > 3
    hits = search(settings, sentences[45], spaces={"text"})
    assert hits[0].start is not None and hits[0].end is not None
    # the snippet is the span start:end, shown with "…" where it cuts the chunk
    shown = hits[0].snippet.strip("…")
    assert text[hits[0].start : hits[0].end] == shown
    assert "sentence 45" in shown


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
@pytest.mark.sqlite_only("the one writer keeps the index files")
def test_a_lost_or_damaged_index_file_is_rebuilt_from_the_catalog(
    corpus: Path, fake_settings, encoders, damage: str, caplog
) -> None:
    run_index(corpus, fake_settings, encoders)
    dog = (corpus / "dog.md").read_text()
    before = paths(search(fake_settings, dog, spaces={"text"}, encoders=encoders))
    index_file = fake_settings.index_dir / "text.hnsw"
    if damage == "delete":
        index_file.unlink()
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:200])
    else:
        index_file.write_bytes(b"\x00" * 5000)
    assert paths(search(fake_settings, dog, spaces={"text"}, encoders=encoders)) == before
    assert "rebuilding it from" in caplog.text


def test_exclude_patterns_and_the_ignore_file(corpus: Path, fake_settings, encoders) -> None:
    (corpus / ".semsearchignore").write_text("# notes\n*.html\n")
    (corpus / ".hidden.txt").write_text("the hidden car")
    summary = run_index(
        corpus, replace(fake_settings, exclude=("sub/blue.jpg", "*/sub/blue.jpg")), encoders
    )
    indexed = {Path(p).name for p in _indexed_paths(fake_settings, encoders)}
    assert indexed == {"car.txt", "dog.md", "korean.txt", "red.png"}
    assert summary.added == 4


def test_encoding_leaves_the_torch_thread_pool_alone(settings, monkeypatch) -> None:
    import torch

    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_encoder import TextEncoder

    encoder = TextEncoder(resolve_text_model(settings.text_model, settings.model_cache))
    encoder.encode(["warm up"], "query")  # loaded first
    before = torch.get_num_threads()
    changes: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", changes.append)
    one = encoder.encode(["car engine"], "query")
    many = encoder.encode(["car engine", "dog park"], "query")
    # the thread pool is process-wide: a front end sets it once, an encode never does
    assert changes == [] and torch.get_num_threads() == before
    assert np.allclose(one[0], many[0], atol=1e-5)  # same vector either way


class SlowText(FakeTextEncoder):
    """The fake text encoder, taking its time over the folder's passages (GIL released),
    and failing at its `fail_at`-th batch of them."""

    def __init__(self, events: list, fail_at: int = 0) -> None:
        super().__init__()
        self.events, self.fail_at, self.batches = events, fail_at, 0

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors:
        import threading
        import time

        if role == "passage" and all("park number" in t for t in texts):
            self.batches += 1
            if self.batches == self.fail_at:
                raise RuntimeError("the model broke")
            self.events.append(("encode", threading.current_thread().name))
            time.sleep(0.2)
            self.events.append(("encoded", threading.current_thread().name))
        return super().encode(texts, role)


def _park_notes(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"note{i:02d}.txt").write_text(f"park number {i} with trees")
    return folder


def test_files_are_read_while_the_batch_before_is_encoded(
    tmp_path: Path, fake_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.reader import FileReader

    events: list[tuple[str, str]] = []
    real_read = FileReader.read

    def read(self, request):  # type: ignore[no-untyped-def]
        events.append(("read", request.path))
        return real_read(self, request)

    monkeypatch.setattr(FileReader, "read", read)
    monkeypatch.setattr(pipeline, "FLUSH_BATCHES", 2)
    folder = _park_notes(tmp_path / "notes", 24)
    settings = replace(fake_settings, text_batch=4)  # a flush every 2 x 4 files
    summary = run_index(folder, settings, Encoders(text=SlowText(events)))
    assert summary.added == 24 and summary.chunks == 24
    kinds = [k for k, _ in events]
    assert {n for k, n in events if k.startswith("encode")} == {"semsearch-encode_0"}
    starts = [i for i, k in enumerate(kinds) if k == "encode"]
    overlapped = [s for s in starts if "read" in kinds[s : kinds.index("encoded", s)]]
    assert len(starts) == 24 // (2 * 4) and overlapped  # reading went on meanwhile
    assert len(_indexed_paths(settings, Encoders(text=FakeTextEncoder()))) == 24


def test_an_encoding_error_in_the_background_keeps_what_was_committed(
    tmp_path: Path, fake_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "FLUSH_BATCHES", 2)
    folder = _park_notes(tmp_path / "notes", 24)
    settings = replace(fake_settings, text_batch=4)
    with pytest.raises(RuntimeError, match="the model broke"):
        run_index(folder, settings, Encoders(text=SlowText([], fail_at=2)))
    per_flush = 2 * 4
    assert len(_indexed_paths(settings, Encoders(text=FakeTextEncoder()))) == per_flush
    again = run_index(folder, settings, Encoders(text=FakeTextEncoder()))
    assert again.added == 24 - per_flush and again.unchanged == per_flush


class PreparedText(SlowText):
    """SlowText that says when its batches' model is loaded (or fails to load)."""

    def __init__(self, events: list, broken: bool = False) -> None:
        super().__init__(events)
        self.broken = broken

    def prepare_batches(self, passages: int) -> None:
        import threading

        self.events.append(("prepare", threading.current_thread().name))
        self.passages = passages
        if self.broken:
            raise RuntimeError("no torch today")


def test_the_text_model_loads_on_the_encoding_thread_while_files_are_read(
    tmp_path: Path, fake_settings
) -> None:
    events: list[tuple[str, str]] = []
    folder = _park_notes(tmp_path / "notes", 3)
    text = PreparedText(events)
    assert run_index(folder, fake_settings, Encoders(text=text)).added == 3
    assert events[0] == ("prepare", "semsearch-encode_0")  # before the first batch
    assert text.passages == 3  # at least one per file
    assert [k for k, _ in events].count("prepare") == 1
    # a preload that fails costs nothing: the model's first real use reports, or works
    events.clear()
    (folder / "note09.txt").write_text("park number 9 with a pond")
    broken = PreparedText(events, broken=True)
    assert run_index(folder, fake_settings, Encoders(text=broken)).added == 1
    assert [k for k, _ in events] == ["prepare", "encode", "encoded"]


def test_a_folder_of_images_does_not_load_the_text_model_to_index(
    tmp_path: Path, fake_settings
) -> None:
    events: list[tuple[str, str]] = []
    folder = tmp_path / "pics"
    folder.mkdir()
    draw_image(folder / "red.png", (200, 30, 30))
    text = PreparedText(events)
    summary = run_index(folder, fake_settings, Encoders(text=text, image=FakeImageEncoder()))
    assert summary.images == 1 and events == []


class ReleasingText(PreparedText):
    """PreparedText that also says when its batch engine is freed."""

    def release_batches(self) -> None:
        self.events.append(("release", ""))


class EventImage(FakeImageEncoder):
    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        self.events.append(("images", str(len(images))))
        return super().encode_images(images)


def test_pictures_come_after_the_texts_which_free_their_batch_engine_first(
    tmp_path: Path, fake_settings
) -> None:
    """An indexing run encodes and commits its texts, lets the text model free its batch
    engine, and only then reads its pictures: the two models are never both resident,
    even where pictures sort between the documents."""
    events: list[tuple[str, str]] = []
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(3):
        draw_image(folder / f"a{i}.png", (200, 30 * i, 30))  # sort before the notes
        (folder / f"b{i}.txt").write_text(f"park number {i} with trees")
    text, image = ReleasingText(events), EventImage(events)
    summary = run_index(folder, fake_settings, Encoders(text=text, image=image))
    assert (summary.added, summary.images) == (6, 3)
    kinds = [k for k, _ in events if k in ("encoded", "release", "images")]
    assert kinds == ["encoded", "release", "images"]
    assert _indexed_paths(fake_settings, Encoders(text=text, image=image)) == {
        str(p) for p in folder.iterdir()
    }
    events.clear()  # a folder with no pictures keeps its batch engine
    assert (
        run_index(_park_notes(tmp_path / "notes", 2), fake_settings, Encoders(text=text)).added == 2
    )
    assert "release" not in [k for k, _ in events]


def test_a_long_chunk_is_one_lexical_row_and_a_vector_per_piece(
    tmp_path: Path, fake_settings
) -> None:
    """Vectors read pieces of a chunk (Settings.vector_tokens); words stay per chunk: a
    phrase at the end of a long chunk matches its own piece's vector closely, and a hit
    by meaning shows that piece."""
    folder = tmp_path / "docs"
    folder.mkdir()
    long_text = "park trees bench lawn " * 12 + "automobile crossing signal timing"  # 52 tokens
    (folder / "walk.txt").write_text(long_text)
    (folder / "short.txt").write_text("zebra crossing near the school")
    cosines, snippets = {}, {}
    for size in (None, 16):
        settings = replace(fake_settings, index_dir=tmp_path / f"index-{size}", vector_tokens=size)
        encoder = CountingText()
        summary = run_index(folder, settings, Encoders(text=encoder))
        assert summary.chunks == 2 and summary.encoded == (2 if size is None else 5)  # 4 + 1
        ours = {"park", "zebra"}  # the documents' pieces: every word once (not the background)
        encoded = [t for _, texts in encoder.calls for t in texts if ours & set(t.split())]
        both = long_text + " zebra crossing near the school"
        assert sorted(" ".join(encoded).split()) == sorted(both.split())
        with Index.open(settings=settings, encoders=Encoders(text=FakeTextEncoder())) as index:
            assert index.status().counts["chunks"] == 2
            assert not index.verify().problems
            # "cars": no word of the document, the same meaning (the fake's synonyms)
            (hit,) = [h for h in index.search("cars", mode="dense").hits if "walk" in h.path]
            cosines[size], snippets[size] = hit.extra["cosine"], hit.snippet
            hits = index.search("timing", mode="lexical").hits
            (lexical,) = [h for h in hits if h.path.endswith("walk.txt")]
            assert "timing" in lexical.snippet  # the chunk's words, shown from the chunk
    assert cosines[16] > 3 * cosines[None]  # 0.19 against 0.04
    assert snippets[None].startswith("park trees") and "automobile" not in snippets[None]
    assert "automobile crossing" in snippets[16]
