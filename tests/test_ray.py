"""Indexing on a Ray cluster (`semsearch index FOLDER --ray`): the same index as a
local run, and nothing lost or duplicated when a worker or the driver dies.

The cluster is a real local one with two CPUs, so two workers, started once for
the module in this process (`ray.init(num_cpus=2)`); the driver-kill test runs
its driver in a subprocess that joins it by address. The plumbing tests use the
tiny real models (`tiny`); the comparison on sample_corpus/ uses the real
default models (e2e). Each runs its Ray run on SQLite and on PostgreSQL (the
`pg_catalog` fixture), and compares it with a local run on SQLite: the same
files, chunks, tags and vectors, committed in the same order, and the same
rankings by meaning. (Hybrid rankings are compared with a local run on the same
kind of catalog: each has its own full-text search.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import netguard
import numpy as np
import pytest
from helpers import make_corpus, minimal_pdf
from safety_helpers import Corpus, assert_same_rankings, rankings
from sqlalchemy import func, select

import indexer.pipeline
import indexer.ray_index
import indexer.ray_pool
from bench.bench_ocr import cjk_font
from bench.bench_picture_ocr import screenshot
from indexer.ray_index import plan_batches
from searchengine import Index
from searchengine.catalog.schema import Chunk, File, ImageTag, Vector
from searchengine.config import Settings
from searchengine.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
QUERIES = ["car price engine", "walk the puppy", "banana recipe kitchen", "자동차 구입 비용"]
IMAGE_QUERIES = ["red", "blue picture"]


@pytest.fixture(scope="module")
def ray_cluster():  # type: ignore[no-untyped-def]
    """A local Ray cluster of two CPUs on loopback, for the whole module."""
    try:
        ray = indexer.ray_pool.import_ray(loopback=True)  # subprocesses inherit the setting
    except ConfigError:
        if os.environ.get("CI"):
            raise
        pytest.skip("ray is not installed (pip install 'semsearch[ray]')")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=200 * 1024 * 1024,
    )
    yield ray
    ray.shutdown()


def test_the_cluster_keeps_to_loopback(ray_cluster) -> None:  # type: ignore[no-untyped-def]
    """Its node address is 127.0.0.1 and no process of it listens on another address."""
    assert ray_cluster.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert not netguard.scan(Path(os.environ[netguard.ENV_LOG]))


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the module: the tiny BERT's ONNX export is made once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def tiny(settings: Settings, model_cache: Path) -> Settings:
    """The tiny real models, small batches (so that a small folder makes many)."""
    return replace(settings, model_cache=model_cache, text_batch=2, image_batch=2)


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite_only("the postgres variant runs")),
        "postgres",
    ]
)
def catalog(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Where the Ray run's catalog lives: None (SQLite in its index folder) or a URL."""
    monkeypatch.delenv("SEMSEARCH_CATALOG", raising=False)  # each run names its own
    if request.param == "sqlite":
        return None
    try:
        return str(request.getfixturevalue("pg_catalog"))
    except pytest.FixtureLookupError:
        pytest.skip("pg_catalog fixture not available yet")


def _twin(settings: Settings, name: str, catalog: str | None = None) -> Settings:
    """The same settings, for another index (and catalog)."""
    return replace(settings, index_dir=settings.index_dir.parent / name, catalog=catalog)


def _rows(settings: Settings) -> dict[str, object]:
    """What the catalog holds, by path: chunk texts (and where their terms stand) and
    vectors; and its duplicates."""
    with Index.open(settings=settings) as index:
        catalog = index._read_store().catalog
        with catalog.session() as s:
            dup_paths = s.execute(
                select(File.path).group_by(File.path).having(func.count() > 1)
            ).all()
            chunks = s.execute(
                select(File.path, Chunk.ordinal, Chunk.text, Chunk.term_spans).join(
                    Chunk, Chunk.file_id == File.id
                )
            ).all()
            vectors = s.execute(
                select(File.path, Chunk.ordinal, Vector.space, Vector.data)
                .join(File, File.id == Vector.file_id)
                .outerjoin(Chunk, Chunk.id == Vector.chunk_id)
                .order_by(Vector.id)
            ).all()
            files = s.execute(select(File.path, File.sha256, File.skip_reason)).all()
            tags = s.execute(
                select(File.path, ImageTag.rank, ImageTag.en).join(
                    File, File.id == ImageTag.file_id
                )
            ).all()
        counts = catalog.counts()
    return {
        "duplicate_paths": [p for (p,) in dup_paths],
        "files": sorted(files),
        "chunks": sorted(chunks),
        "tags": sorted(tags),
        # in label order: a Ray run commits in the order of a local run
        "vector_keys": [(path, ordinal, space) for path, ordinal, space, _ in vectors],
        "vectors": np.stack([np.frombuffer(d, np.float16) for *_, d in vectors]),
        "counts": counts,
    }


def _same_index(a: Settings, b: Settings, queries=QUERIES, in_order: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Equal catalogs (and, `in_order`, committed in the same order), rankings and a
    clean verify."""
    ra, rb = _rows(a), _rows(b)
    assert ra["duplicate_paths"] == rb["duplicate_paths"] == []
    for key in ("files", "chunks", "tags", "counts"):
        assert ra[key] == rb[key], key
    if in_order:
        assert ra["vector_keys"] == rb["vector_keys"]
    order_a, order_b = (np.argsort([repr(k) for k in r["vector_keys"]]) for r in (ra, rb))
    assert [ra["vector_keys"][i] for i in order_a] == [rb["vector_keys"][i] for i in order_b]
    np.testing.assert_allclose(ra["vectors"][order_a], rb["vectors"][order_b], atol=2e-3)
    assert_same_rankings(rankings(a, queries, "text"), rankings(b, queries, "text"))
    assert_same_rankings(rankings(a, IMAGE_QUERIES, "image"), rankings(b, IMAGE_QUERIES, "image"))
    with Index.open(settings=b) as index:
        report = index.verify()
    assert report.clean, report.to_json()


def _folder(tmp_path: Path, n: int = 40) -> Path:
    root = make_corpus(tmp_path / "folder")
    Corpus(root / "more", seed=7).add(n)
    # a picture with words: its OCR chunks travel back beside its image vector
    lines = ["Quarterly report of the delivery trucks", "배송 트럭 분기 보고서"]
    screenshot(lines, cjk_font(), size=16).save(root / "report_screenshot.png")
    # a mail with a document attached: the attachment travels back as an item of its own
    message = EmailMessage()
    message["Subject"] = "fleet budget"
    message.set_content("the budget of the delivery fleet is attached")
    pdf = minimal_pdf(["fuel costs of the delivery trucks rose in the third quarter"])
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="fuel.pdf")
    (root / "budget.eml").write_bytes(message.as_bytes())
    return root


def test_batches_are_sized_for_the_models(tmp_path: Path) -> None:
    from indexer.walk import FoundFile

    def found(name: str, kind: str, size: int = 10) -> tuple[FoundFile, str, bool]:
        return (FoundFile(str(tmp_path / name), kind, Path(name).suffix, size, 0), "", False)

    work = [found(f"{i}.txt", "text") for i in range(5)] + [found("a.png", "image")]
    work += [found("big.txt", "text", indexer.ray_index.BATCH_BYTES)]
    work += [found(f"{i}.png", "image") for i in range(3)]
    settings = Settings(index_dir=tmp_path, text_batch=2, image_batch=3)
    assert plan_batches(work, settings) == [[0, 1], [2, 3], [4, 6], [5, 7, 8], [9]]


def test_without_ray_the_option_says_how_to_install_it(
    tmp_path: Path, fake_settings, encoders, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        with pytest.raises(ConfigError, match=r"pip install 'semsearch\[ray\]'"):
            index.add(make_corpus(tmp_path / "docs"), ray=True)


def test_a_bad_address_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SEMSEARCH_HOME": str(tmp_path / "home")}
    env.pop("SEMSEARCH_CATALOG", None)
    folder = make_corpus(tmp_path / "docs")
    proc = subprocess.run(
        [sys.executable, "-m", "searchengine", "--index", str(tmp_path / "index"), "index"]
        + [str(folder), "--ray", "127.0.0.1:1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Ray at 127.0.0.1:1" in lines[0], proc.stderr


def test_a_ray_run_makes_the_index_a_local_run_makes(
    tmp_path: Path, tiny, ray_cluster, catalog
) -> None:
    folder = _folder(tmp_path)
    local, remote = _twin(tiny, "local"), _twin(tiny, "ray", catalog)
    with Index.open(settings=local) as index:
        expected = index.add(folder)
    progress: list[tuple[str, int, int | None]] = []
    with Index.open(settings=remote) as index:
        got = index.add(folder, ray=True, on_progress=lambda *p: progress.append(p))
    for field in ("added", "attached", "chunks", "images", "encoded", "skipped"):
        assert getattr(got, field) == getattr(expected, field), field
    assert got.added == len([p for p in folder.rglob("*") if p.is_file()])
    assert got.attached == 1
    assert ("extract", got.added, got.added) in progress
    assert ("write", got.added, got.added) in progress
    _same_index(local, remote)
    with Index.open(settings=remote) as index:
        again = index.add(folder, ray=True)
    assert again.encoded == 0 and again.unchanged == got.added


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path, tiny, ray_cluster, catalog, monkeypatch
) -> None:
    monkeypatch.setattr(indexer.pipeline, "FLUSH_BATCHES", 1)
    folder = _folder(tmp_path, 60)
    total = len([p for p in folder.rglob("*") if p.is_file()])
    local, remote = _twin(tiny, "local"), _twin(tiny, "ray", catalog)
    with Index.open(settings=local) as index:
        index.add(folder)

    pids: list[int] = []
    real_start = indexer.ray_pool.Pool.start

    def start(self, batches: int = 1) -> None:  # type: ignore[no-untyped-def]
        real_start(self, batches)
        if not pids:  # the workers as first started
            pids[:] = ray_cluster.get([a.pid.remote() for a in self.actors])

    monkeypatch.setattr(indexer.ray_pool.Pool, "start", start)
    killed: list[int] = []

    def on_progress(phase: str, done: int, total: int | None) -> None:
        if phase == "extract" and 8 <= done < (total or 0) and not killed:
            assert len(pids) == 2  # two workers, as the cluster has two CPUs
            os.kill(pids[0], signal.SIGKILL)  # Ray restarts it and reruns its batches
            killed.append(pids[0])

    with Index.open(settings=remote) as index:
        first = index.add(folder, ray=True, on_progress=on_progress)
    assert killed, "the worker was killed before the run ended"
    assert _gone(killed[0])
    # Ray restarted the worker and ran its batches again: nothing was lost
    assert not first.interrupted and first.added == total and first.skipped == []
    with Index.open(settings=remote) as index:
        rerun = index.add(folder, ray=True)
    assert rerun.encoded == 0 and rerun.unchanged == total
    _same_index(local, remote)


def _gone(pid: int) -> bool:
    """Whether the process has ended (a zombie not yet reaped by its raylet counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys
    from dataclasses import replace
    from pathlib import Path

    import indexer.pipeline
    from searchengine import Index
    from searchengine.config import Settings

    job = json.loads(sys.argv[1])
    indexer.pipeline.FLUSH_BATCHES = 1
    settings = Settings(**{k: Path(v) if k.endswith(("_dir", "_cache")) else v
                           for k, v in job["settings"].items()})

    def on_progress(phase, done, total):
        if phase == "write" and 0 < done < total:
            print(done, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # the driver dies after its first commit

    with Index.open(settings=settings) as index:
        index.add(job["folder"], ray=job["address"], on_progress=on_progress)
    """
)


def test_a_driver_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path, tiny, ray_cluster, catalog
) -> None:
    folder = _folder(tmp_path, 30)
    total = len([p for p in folder.rglob("*") if p.is_file()])
    local, remote = _twin(tiny, "local"), _twin(tiny, "ray", catalog)
    with Index.open(settings=local) as index:
        index.add(folder)
    fields = ("index_dir", "model_cache", "text_model", "image_model", "text_batch")
    job = {
        "settings": {k: str(getattr(remote, k)) if k != "text_batch" else 2 for k in fields},
        "folder": str(folder),
        "address": ray_cluster.get_runtime_context().gcs_address,
    }
    if catalog is not None:
        job["settings"]["catalog"] = catalog
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("SEMSEARCH_CATALOG", None)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    committed = int(proc.stdout.split()[0])
    assert 0 < committed < total

    with Index.open(settings=remote) as index:
        rest = index.add(folder, ray=True)
    assert not rest.interrupted and rest.skipped == []
    assert rest.added == total - committed and rest.unchanged == committed
    _same_index(local, remote, in_order=False)  # the rerun committed the rest later


def test_the_cli_indexes_on_ray(tmp_path: Path, tiny, ray_cluster, capsys, monkeypatch) -> None:
    from searchengine.cli.main import main

    folder = make_corpus(tmp_path / "docs")
    argv = ["--index", str(tmp_path / "cli"), "index", str(folder)]
    argv += ["--text-model", str(tiny.text_model), "--image-model", str(tiny.image_model)]
    monkeypatch.setenv("SEMSEARCH_HOME", str(tiny.model_cache.parent))  # its model cache
    assert main([*argv, "--ray", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["added"], out["skipped"], out["chunks"], out["images"]) == (6, 0, 4, 2)
    assert main([*argv, "--ray"]) == 0
    assert "nothing to encode: the index is up to date" in capsys.readouterr().out


CORPUS = REPO / "sample_corpus"
README_QUERIES = [
    "승용차",
    "walking my puppy",
    "취득세",
    "car purchase",
    "how often should I water",
]


@pytest.mark.e2e
def test_sample_corpus_on_ray_searches_as_after_a_local_run(
    tmp_path: Path, real_home: Path, ray_cluster, pg_catalog, request, monkeypatch
) -> None:
    """The real default models, two workers, a shared PostgreSQL catalog (the scale-out
    setup): the same answers as a local SQLite run. (Ray into a SQLite catalog is the
    same code on the driver's side, checked with the tiny models above.)"""
    monkeypatch.delenv("SEMSEARCH_CATALOG", raising=False)  # each run names its own
    catalog = str(pg_catalog)
    base = Settings(index_dir=tmp_path / "unused", model_cache=real_home / "models")
    local, remote = _twin(base, "local"), _twin(base, "ray", catalog)
    with Index.open(settings=local) as index:
        expected = index.add(CORPUS)
    with Index.open(settings=remote) as index:
        got = index.add(CORPUS, ray=True)
    assert got.skipped == expected.skipped == []
    for field in ("added", "chunks", "images", "encoded"):
        assert getattr(got, field) == getattr(expected, field), field
    _same_index(local, remote, README_QUERIES)
    # lexical scores are the catalog's own (FTS5 on SQLite, full-text search on
    # PostgreSQL): hybrid results are compared with a local run on PostgreSQL
    local = _twin(base, "local-pg", _another_pg_catalog(request))
    with Index.open(settings=local) as index:
        index.add(CORPUS)
    queries = sorted((REPO / "tests" / "data" / "query_images").glob("*"))
    results = []
    for settings in (local, remote):
        with Index.open(settings=settings) as index:
            hits = [list(index.search(q, k=10)) for q in README_QUERIES]
            hits += [list(index.search(image=q, k=5)) for q in queries]
        results.append([[(Path(h.path).name, h.score) for h in hs] for hs in hits])
    for want, got_ in zip(*results, strict=True):
        assert [name for name, _ in got_] == [name for name, _ in want]
        assert np.allclose([sc for _, sc in got_], [sc for _, sc in want], atol=1e-3)


def _another_pg_catalog(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("pg_server")
    name = f"ray_twin_{os.getpid()}"
    url = str(server.create_database(name, template="semsearch_template"))
    request.addfinalizer(lambda: server.drop_database(name))
    return url
