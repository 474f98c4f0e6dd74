"""The collection map and the outliers, on an index built by the real pipeline (fake encoders)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import draw_image

from searchengine import Encoders, Index, Settings
from searchengine.cli.main import main
from searchengine.errors import ConfigError
from searchengine.explore.autoencoder import reconstruction_errors
from searchengine.explore.layout import pca_2d
from searchengine.explore.outliers import NEW_OUTLIERS_FILE, nearest

TOPICS = ["car engine road drive price", "dog puppy walk park bark", "banana fruit sweet kitchen"]


def planted_corpus(root: Path) -> Path:
    """Twelve documents on three topics, one near-duplicate pair, and one odd one out."""
    root.mkdir(parents=True)
    for n in range(12):
        words = TOPICS[n % 3].split()
        text = " ".join(words[(n + i) % len(words)] for i in range(12))
        (root / f"doc{n:02}.txt").write_text(text, encoding="utf-8")
    (root / "doc00-copy.txt").write_text((root / "doc00.txt").read_text(), encoding="utf-8")
    (root / "odd-one-out.txt").write_text("quarterly invoice " * 6, encoding="utf-8")
    for n, colour in enumerate([(220, 20, 20), (210, 30, 25), (230, 25, 15), (20, 20, 220)]):
        draw_image(root / f"pic{n}.png", colour)
    return root


@pytest.fixture
def index(fake_settings: Settings, encoders: Encoders, tmp_path: Path):
    with Index.open(settings=fake_settings, encoders=encoders) as idx:
        idx.add(planted_corpus(tmp_path / "planted"))
        yield idx


def test_the_planted_outlier_comes_first(index: Index) -> None:
    report = index.outliers(k=3)
    text = report.spaces["text"]
    assert Path(text[0].path).name == "odd-one-out.txt", [Path(o.path).name for o in text[:3]]
    assert text[0].z > 1.5 and text[0].score > text[-1].score
    assert Path(report.spaces["image"][0].path).name == "pic3.png"  # the one blue picture
    groups = [sorted(Path(str(m["path"])).name for m in g) for g in report.duplicates]
    assert ["doc00-copy.txt", "doc00.txt"] in groups


def test_map_places_every_item_once(index: Index) -> None:
    layout = index.map("pca")
    assert layout.method == "pca" and len(layout) == 18
    assert len(set(layout.ids.tolist())) == 18
    assert layout.kinds.count("image") == 4
    text_x = layout.xy[[k == "text" for k in layout.kinds], 0]
    image_x = layout.xy[[k == "image" for k in layout.kinds], 0]
    assert text_x.max() <= 1.0 < image_x.min()  # each space in its own square


@pytest.mark.sqlite_only("index generations saved by the one writer")
def test_tsne_is_cached_per_generation(index: Index, tmp_path: Path) -> None:
    assert index.map("tsne", cached_only=True).method == "pca"  # nothing cached yet
    first = index.map("tsne")
    assert first.method == "tsne"
    cached = list((index.path / "map").glob("tsne-text-*.npz"))
    assert len(cached) == 1
    again = index.map("tsne", cached_only=True)
    assert again.method == "tsne" and np.allclose(again.xy, first.xy)
    planted = tmp_path / "planted"
    for n in range(8):  # more than a fifth of the documents are new: a new layout
        (planted / f"new{n}.txt").write_text("banana fruit " * (n + 1), encoding="utf-8")
    index.add(planted)
    assert index.map("tsne", cached_only=True).method == "pca"  # a new generation
    assert len(index.map("tsne")) == 26
    assert len(list((index.path / "map").glob("tsne-text-*.npz"))) == 1  # the old one went


def test_a_few_new_items_join_the_last_layout(index: Index, tmp_path: Path) -> None:
    before = index.map("tsne")
    (tmp_path / "planted" / "new.txt").write_text(
        (tmp_path / "planted" / "doc01.txt").read_text(), encoding="utf-8"
    )
    index.add(tmp_path / "planted")
    after = index.map("tsne", cached_only=True)  # no t-SNE run: placed at once
    assert after.method == "tsne" and len(after) == len(before) + 1
    where = {(p.id): (p.x, p.y) for p in after.points()}
    new_id = next(p.id for p in after.points() if p.path.endswith("new.txt"))
    twin_id = next(p.id for p in after.points() if p.path.endswith("doc01.txt"))
    to_twin = np.hypot(*np.subtract(where[new_id], where[twin_id]))
    others = [np.hypot(*np.subtract(xy, where[twin_id])) for i, xy in where.items() if i != new_id]
    assert to_twin < np.median(others) / 2  # beside its twin (a copy of the same text)


def test_pca_and_neighbours_on_plain_vectors() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors[:, 0] *= 10
    xy = pca_2d(vectors)
    assert xy.shape == (50, 2) and abs(np.corrcoef(xy[:, 0], vectors[:, 0])[0, 1]) > 0.95
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, dists = nearest(vectors, 3)
    assert labels.shape == (50, 3) and not (labels == np.arange(50)[:, None]).any()
    exact = 1 - vectors @ vectors.T
    np.fill_diagonal(exact, np.inf)
    assert np.allclose(np.sort(exact, axis=1)[:, :3], dists, atol=1e-4)


def test_cli_map_and_outliers(
    index: Index, fake_settings: Settings, tmp_path: Path, capsys, monkeypatch
) -> None:
    from fakes import FakeImageEncoder, FakeTextEncoder

    from searchengine.cli import app as cli_app

    fakes = Encoders(text=FakeTextEncoder(), image=FakeImageEncoder())
    real_open = cli_app.Index.open
    monkeypatch.setattr(
        cli_app.Index, "open", lambda *a, **kw: real_open(*a, **{**kw, "encoders": fakes})
    )
    png = tmp_path / "map.png"
    args = ["--index", str(fake_settings.index_dir)]
    assert main([*args, "map", "--png", str(png), "--method", "pca"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "18 items" in capsys.readouterr().out
    assert main([*args, "outliers", "-k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert Path(report["spaces"]["text"][0]["path"]).name == "odd-one-out.txt"
    assert main([*args, "outliers", "-k", "3"]) == 0
    assert "odd-one-out.txt" in capsys.readouterr().out.splitlines()[1]


def test_serve_refuses_other_hosts_without_a_token(fake_settings: Settings, capsys) -> None:
    assert main(["--index", str(fake_settings.index_dir), "serve", "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err


def test_the_autoencoder_finds_the_planted_outlier_too(index: Index, capsys) -> None:
    report = index.outliers(method="autoencoder")
    assert report.method == "autoencoder"
    text = [Path(o.path).name for o in report.spaces["text"]]
    assert text[0] == "odd-one-out.txt", text[:3]
    again = index.outliers(method="autoencoder")  # seeded: the same scores
    assert [o.score for o in again.spaces["text"]] == [o.score for o in report.spaces["text"]]
    with pytest.raises(ConfigError, match="unknown method"):
        index.outliers(method="isolation-forest")
    assert main(["--index", str(index.path), "outliers", "--method", "autoencoder"]) == 0
    out = capsys.readouterr().out
    assert "reconstruction error" in out and "odd-one-out.txt" in out.splitlines()[1]


def test_the_autoencoder_learns_what_the_rows_share() -> None:
    """Rows in a 16-dimensional subspace of 64 (as many as the middle layer holds):
    trained, it rebuilds them (a wrong gradient would not), and a row off the subspace
    is rebuilt worst (torch's version of it gave the same: 0.013 and 41x)."""
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((16, 64))
    rows = rng.standard_normal((400, 16)) @ basis
    rows[-1] = rng.standard_normal(64) * 3
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    untrained = reconstruction_errors(rows, steps=0)
    trained = reconstruction_errors(rows)
    assert np.median(trained[:-1]) < 0.05 * np.median(untrained[:-1])
    assert trained[-1] > 10 * np.median(trained[:-1])
    assert np.array_equal(trained, reconstruction_errors(rows))  # seeded


@pytest.mark.subprocess
def test_the_autoencoder_imports_no_torch() -> None:
    """It runs after every index run that added something, most of which never load torch
    (ONNX Runtime encodes): torch's import there cost seconds and 0.6 GB."""
    code = (
        "import sys, numpy as np\n"
        "from searchengine.explore.autoencoder import reconstruction_errors\n"
        "reconstruction_errors(np.eye(40, 8, dtype=np.float32), steps=3)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_status_lists_the_unusual_new_items_of_a_run(
    fake_settings: Settings, encoders: Encoders, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "many"
    root.mkdir()
    for n in range(60):  # three topics, each document eight draws from its five words
        words = rng.choice(TOPICS[n % 3].split(), 8)
        (root / f"doc{n:02}.txt").write_text(" ".join(words), encoding="utf-8")
    (root / "odd-one-out.txt").write_text("quarterly invoice " * 3, encoding="utf-8")
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(root)
    with Index.open(settings=fake_settings, encoders=encoders) as index:  # the scan is done
        listed = index.status().new_outliers
        # what the scan lists: the autoencoder's own report, past z 3
        report = index.outliers(method="autoencoder", limit=100).spaces["text"]
        assert listed, "nothing stood out: the test corpus no longer tests anything"
        assert [o["id"] for o in listed] == [o.id for o in report if o.z > 3]
        Path(str(listed[0]["path"])).unlink()
        index.add(root)
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        assert listed[0]["id"] not in {o["id"] for o in index.status().new_outliers}


def test_a_run_for_a_few_paths_scans_nothing(
    fake_settings: Settings, encoders: Encoders, tmp_path: Path
) -> None:
    """A watcher indexes each saved file on its own: it must not train an autoencoder on
    every vector each time (whole runs scan; the watcher's reconciling runs are whole)."""
    root = tmp_path / "docs"
    root.mkdir()
    for n in range(30):
        (root / f"doc{n:02}.txt").write_text(f"{TOPICS[n % 3]} number {n}", encoding="utf-8")
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(root)
    scan = index.path / NEW_OUTLIERS_FILE
    assert scan.is_file()
    before = scan.stat().st_mtime_ns
    (root / "new.txt").write_text(f"{TOPICS[0]} and more", encoding="utf-8")
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        assert index.add(root, paths=[root / "new.txt"]).added == 1
    assert scan.stat().st_mtime_ns == before
