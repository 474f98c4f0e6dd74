"""Indexing with real SQLite, real hnswlib, and a tiny real BERT and CLIP."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import draw_image, paths, run_index, search

from searchengine.store import Store


def test_index_then_search_finds_the_right_file(corpus: Path, settings) -> None:
    summary = run_index(corpus, settings)
    assert (summary.added, summary.skipped) == (6, [])
    assert summary.chunks == 4 and summary.images == 2
    text = (corpus / "dog.md").read_text(encoding="utf-8")
    assert paths(search(settings, text, kinds={"text"}))[0] == "dog.md"
    hits = search(settings, (corpus / "car.txt").read_text(), kinds={"text"})
    assert paths(hits)[0] == "car.txt"
    assert hits[0].snippet.startswith("buy a car")
    assert {h.kind for h in search(settings, "red", kinds={"image"})} == {"image"}


def test_second_run_over_unchanged_folder_encodes_nothing(corpus: Path, settings) -> None:
    run_index(corpus, settings)
    spaces: list = []
    again = run_index(corpus, settings, spaces)
    assert again.encoded == 0 and again.added == 0 and again.unchanged == 6
    # no model was even loaded for it
    assert spaces[0]._text is None and spaces[0]._image is None


def test_touch_without_change_is_not_reencoded(corpus: Path, settings) -> None:
    run_index(corpus, settings)
    st = (corpus / "car.txt").stat()
    os.utime(corpus / "car.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    again = run_index(corpus, settings)
    assert again.encoded == 0 and again.unchanged == 6


def test_edit_rename_and_delete_are_reflected(corpus: Path, settings) -> None:
    run_index(corpus, settings)
    (corpus / "car.txt").write_text("weather report: rain and snow at the train station.")
    (corpus / "dog.md").rename(corpus / "sub" / "puppy.md")
    (corpus / "red.png").unlink()
    summary = run_index(corpus, settings)
    assert (summary.updated, summary.moved, summary.removed, summary.added) == (1, 1, 1, 0)
    assert summary.encoded == 1  # only the edited file; the moved one kept its vectors
    names = paths(search(settings, "weather report: rain and snow at the train station.", 10))
    assert names[0] == "car.txt"
    assert "puppy.md" in names and "dog.md" not in names and "red.png" not in names
    with Store(settings.index_dir) as store:
        counts = store.catalog.counts()
    assert counts["vectors_text"] == 4 and counts["vectors_image"] == 1
    dog = search(settings, (corpus / "sub" / "puppy.md").read_text(), kinds={"text"})
    assert dog[0].path == str(corpus / "sub" / "puppy.md")


def test_delete_everything_leaves_an_empty_searchable_index(corpus: Path, settings) -> None:
    run_index(corpus, settings)
    shutil.rmtree(corpus)
    corpus.mkdir()
    summary = run_index(corpus, settings)
    assert summary.removed == 6
    assert search(settings, "car", k=50) == []


def test_bad_files_are_skipped_with_reasons_and_the_run_goes_on(corpus: Path, settings) -> None:
    (corpus / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (corpus / "program.txt").write_bytes(bytes(range(256)) * 20)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "euckr.txt").write_bytes("자동차 구입 비용 보고서 그리고 세금".encode("cp949"))
    os.symlink(corpus / "nowhere.txt", corpus / "dangling.txt")
    summary = run_index(corpus, settings)
    reasons = {Path(p).name: r for p, r in summary.skipped}
    assert reasons["broken.jpg"].startswith("not a readable image")
    assert reasons["program.txt"] == "binary content, not text"
    assert reasons["empty.md"] == "empty file"
    assert reasons["dangling.txt"].startswith("cannot stat")
    assert "euckr.txt" not in reasons
    assert summary.added == 7  # the 6 good files and the CP949 one
    hits = search(settings, "자동차 구입 비용 보고서 그리고 세금", kinds={"text"})
    assert paths(hits)[0] == "euckr.txt"
    assert "자동차" in hits[0].snippet  # decoded, not mojibake
    # an unchanged bad file is reported again without being read again
    again = run_index(corpus, settings)
    assert {Path(p).name for p, _ in again.skipped} == set(reasons)
    assert again.encoded == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped(corpus: Path, settings) -> None:
    secret = corpus / "secret.txt"
    secret.write_text("the car keys")
    secret.chmod(0)
    try:
        summary = run_index(corpus, settings)
    finally:
        secret.chmod(0o644)
    assert any(Path(p).name == "secret.txt" for p, _ in summary.skipped)


def test_a_file_fixed_after_a_skip_is_indexed(corpus: Path, settings) -> None:
    (corpus / "later.txt").write_bytes(b"")
    assert run_index(corpus, settings).skipped
    (corpus / "later.txt").write_text("the dog and the puppy")
    summary = run_index(corpus, settings)
    assert summary.skipped == [] and summary.updated == 1


def test_encoder_is_called_once_per_batch(tmp_path: Path, settings) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(20):
        (folder / f"note{n}.txt").write_text(
            " ".join(["the car and the dog walk in the park"] * 3) + f" number {n}"
        )
    for n in range(6):
        draw_image(folder / f"img{n}.png", (40 * n, 100, 200))
    spaces: list = []
    summary = run_index(folder, settings, spaces)
    text_enc, image_enc = spaces[0]._text, spaces[0]._image
    assert summary.chunks >= 20
    assert text_enc.calls["passage"] == math.ceil(summary.chunks / settings.text_batch)
    assert image_enc.calls["image"] == math.ceil(6 / settings.image_batch)


def test_long_text_is_chunked_with_offsets(tmp_path: Path, settings) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    sentences = [f"sentence {i} is about the car and the dog." for i in range(60)]
    text = " ".join(sentences)
    (folder / "long.txt").write_text(text)
    summary = run_index(folder, settings)
    assert summary.chunks > 3
    hits = search(settings, sentences[45], kinds={"text"})
    assert hits[0].start is not None and hits[0].end is not None
    # the snippet is the span start:end, shown with "…" where it cuts the chunk
    shown = hits[0].snippet.strip("…")
    assert text[hits[0].start : hits[0].end] == shown
    assert "sentence 45" in shown


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
def test_a_lost_or_damaged_index_file_is_rebuilt_from_the_catalog(
    corpus: Path, settings, damage: str, caplog
) -> None:
    run_index(corpus, settings)
    before = paths(search(settings, (corpus / "dog.md").read_text(), kinds={"text"}))
    index_file = settings.index_dir / "text.hnsw"
    if damage == "delete":
        index_file.unlink()
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:200])
    else:
        index_file.write_bytes(b"\x00" * 5000)
    assert paths(search(settings, (corpus / "dog.md").read_text(), kinds={"text"})) == before
    assert "rebuilding it from" in caplog.text


def test_exclude_patterns_and_the_ignore_file(corpus: Path, settings) -> None:
    from dataclasses import replace

    (corpus / ".semsearchignore").write_text("# notes\n*.html\n")
    (corpus / ".hidden.txt").write_text("the hidden car")
    summary = run_index(corpus, replace(settings, exclude=("sub/blue.jpg", "*/sub/blue.jpg")))
    indexed = {Path(p).name for p in _indexed_paths(settings)}
    assert indexed == {"car.txt", "dog.md", "korean.txt", "red.png"}
    assert summary.added == 4


def _indexed_paths(settings) -> list[str]:
    with Store(settings.index_dir) as store:
        return list(store.catalog.files_under("/"))


def test_a_single_query_is_encoded_on_one_thread_and_restores_the_pool(settings) -> None:
    import torch

    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_encoder import TextEncoder

    encoder = TextEncoder(resolve_text_model(settings.text_model, settings.model_cache))
    seen: list[int] = []
    original = encoder._encode_batches

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    encoder._encode_batches = spy  # type: ignore[method-assign]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = encoder.encode(["car engine"], "query")
        many = encoder.encode(["car engine", "dog park"], "query")
        assert seen == [1, 2] and torch.get_num_threads() == 2
        assert np.allclose(one[0], many[0], atol=1e-5)  # same vector either way
    finally:
        torch.set_num_threads(before)
