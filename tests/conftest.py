"""Shared fixtures: a tiny real BERT and a tiny real CLIP built from config.

Both are real `transformers` / `open_clip` models with random weights, saved to
disk and loaded through the same code paths as the default models.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path

import netguard
import pytest
from helpers import make_corpus

from searchengine.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Every process of the session talks on loopback only (tests/netguard.py): installed at
# import, before any fixture copies os.environ into a subprocess's environment.
_NETGUARD_LOG = Path(tempfile.gettempdir()) / f"semsearch-netguard-{os.getpid()}.log"
_NETGUARD_LOG.unlink(missing_ok=True)
netguard.install(_NETGUARD_LOG)

# What a test needs, as markers (pyproject.toml lists them); `make test-fast` runs the
# tests that need none. The fixtures below imply theirs, so no test has to say it twice.
_MARKS_BY_FIXTURE = {
    "pg_server": "postgres",
    "pg_catalog": "postgres",
    "browser": "browser",
    "page": "browser",
    "ray_cluster": "ray",
    "real_home": "e2e",
    "real_env": "e2e",
    "zygote": "subprocess",  # the fork server that starts (and kills) indexers and searchers
}

# The PostgreSQL pass of `make test` (SEMSEARCH_TEST_CATALOG=postgres) runs these modules
# again, each index's catalog a database on the session's server: what reads or writes
# the catalog through the store, the indexer, the library or the server. The rest of the
# suite does not touch SQL, or tests what only SQLite has, or is covered by these.
CATALOG_MODULES = {
    "test_api",
    "test_attachments",
    "test_catalog",
    "test_concurrency",
    "test_events",
    "test_explore",
    "test_learn",
    "test_lexical",
    "test_pipeline",
    "test_query_path",
    "test_reembed",
    "test_safety_faults",
    "test_safety_resume",
    "test_search_quality",
    "test_server",
    "test_tags",
    "test_vocab",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            mark = _MARKS_BY_FIXTURE.get(fixture)
            if mark is not None and item.get_closest_marker(mark) is None:
                item.add_marker(mark)
        if getattr(item, "module", None) is not None and item.module.__name__ in CATALOG_MODULES:
            item.add_marker(pytest.mark.catalog)


@pytest.fixture(scope="session")
def _netguard():  # type: ignore[no-untyped-def]
    watcher = netguard.Watcher(_NETGUARD_LOG).start()
    yield watcher
    watcher.stop()


@pytest.fixture(autouse=True)
def _loopback_only(_netguard):  # type: ignore[no-untyped-def]
    """Fails the test during which a process of the session listened on, or talked to,
    an address outside 127.0.0.0/8 (or ::1)."""
    yield
    found = _netguard.take()
    if found:
        pytest.fail("network traffic outside loopback:\n" + "\n".join(found), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _private_data_home(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The suite's own data folder: what a test writes into the default model cache
    (ONNX exports of the tiny BERT, reference backgrounds) never lands in the user's."""
    before = os.environ.get("SEMSEARCH_HOME")
    os.environ["SEMSEARCH_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if before is None:
        os.environ.pop("SEMSEARCH_HOME", None)
    else:
        os.environ["SEMSEARCH_HOME"] = before


# The catalog matrix: `make test` runs the suite on SQLite, then again with
# SEMSEARCH_TEST_CATALOG=postgres, each test's catalog a fresh database on a
# PostgreSQL server this session starts (tests/pg_server.py). Tests of what only
# SQLite has (its file, FTS5 internals, the folder lock) are marked sqlite_only.
PG_MATRIX = os.environ.get("SEMSEARCH_TEST_CATALOG") == "postgres"
_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server():  # type: ignore[no-untyped-def]
    """A PostgreSQL server for the session, with a migrated template catalog."""
    from pg_server import PgServer, binaries

    from searchengine.catalog import Catalog

    found = binaries()
    if found is None:
        if os.environ.get("SEMSEARCH_PG_REQUIRED") or PG_MATRIX:
            pytest.fail("PostgreSQL is not installed; `make postgres` installs it")
        pytest.skip("PostgreSQL is not installed (make postgres: apt-get install postgresql)")
    server = PgServer(found).start()
    # a migrated empty catalog that new databases are copied from (postgres.TEMPLATE)
    Catalog(url=server.create_database("semsearch_template")).close()
    yield server
    server.stop()


@pytest.fixture
def pg_catalog(pg_server):  # type: ignore[no-untyped-def]
    """A fresh, migrated PostgreSQL catalog (its SQLAlchemy URL), dropped afterwards."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    url = pg_server.create_database(name, template="semsearch_template")
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="session", autouse=True)
def _catalog_matrix(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """In the PostgreSQL pass, every index folder's catalog is a database of its own on the
    session's server (`{index}` in $SEMSEARCH_CATALOG: made on first use from the migrated
    template), as each folder has its own SQLite file; subprocesses inherit it."""
    if not PG_MATRIX:
        yield
        return
    server = request.getfixturevalue("pg_server")
    before = os.environ.get("SEMSEARCH_CATALOG")
    os.environ["SEMSEARCH_CATALOG"] = server.url("{index}")
    yield
    if before is None:
        os.environ.pop("SEMSEARCH_CATALOG", None)
    else:
        os.environ["SEMSEARCH_CATALOG"] = before


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("sqlite_only")
    if PG_MATRIX and marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'its own file'}")


# Words the tiny BERT knows whole; everything else falls back to characters.
TINY_WORDS = """
the a of and to in is for on with car cars engine road drive price buy dog dogs puppy
walk park bark banana fruit yellow sweet kitchen recipe bread oven flour tax return
invoice money bank report meeting project deadline weather rain sun snow train station
자동차 승용차 강아지 바나나 구입 비용 공원 산책 날씨 회의 보고서 세금
""".split()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted(
        {ch for w in TINY_WORDS for ch in w} | set("abcdefghijklmnopqrstuvwxyz0123456789.,!?-'\"")
    )
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += chars + ["##" + c for c in chars] + sorted(set(TINY_WORDS))
    (out / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(out / "vocab.txt"), do_lower_case=True, model_max_length=64
    )
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(out)
    return out


TINY_VISION = {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16}


def _save_open_clip(out: Path, model_cfg: dict, model) -> None:  # type: ignore[no-untyped-def]
    """Write an open_clip `local-dir:` folder: config and weights."""
    from safetensors.torch import save_file

    (out / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}), encoding="utf-8"
    )
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out / "open_clip_model.safetensors"),
    )


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import open_clip
    import torch

    out = tmp_path_factory.mktemp("tiny-clip")
    model_cfg = {
        "embed_dim": 32,
        "vision_cfg": TINY_VISION,
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 2,
        },
    }
    torch.manual_seed(0)
    _save_open_clip(out, model_cfg, open_clip.CLIP(**model_cfg))
    return out


@pytest.fixture
def settings(tmp_path: Path, tiny_bert_dir: Path, tiny_clip_dir: Path) -> Settings:
    return Settings(
        index_dir=tmp_path / "index",
        model_cache=tmp_path / "models",
        text_model=str(tiny_bert_dir),
        image_model=str(tiny_clip_dir),
        text_batch=8,
        image_batch=4,
    )


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    """Settings for an index in `tmp_path`, to be used with the `encoders` fixture."""
    return Settings(index_dir=tmp_path / "index", model_cache=tmp_path / "models")


@pytest.fixture
def encoders():  # type: ignore[no-untyped-def]
    """The deterministic fake encoders of the logic tests (tests/fakes.py)."""
    from fakes import FakeImageEncoder, FakeTextEncoder

    from searchengine import Encoders

    return Encoders(text=FakeTextEncoder(), image=FakeImageEncoder())


@pytest.fixture
def index(fake_settings: Settings, encoders, corpus: Path):  # type: ignore[no-untyped-def]
    """The test corpus indexed through `Index` with the fake encoders (a test file may
    define its own `index`)."""
    from searchengine import Index

    with Index.open(settings=fake_settings, encoders=encoders) as idx:
        idx.add(corpus)
        yield idx


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "docs")


@pytest.fixture(scope="session")
def tiny_shared_clip_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """A tiny CLIP whose text tower is the tiny BERT, as the shipped model is built on e5."""
    import shutil

    import open_clip
    import torch

    out = tmp_path_factory.mktemp("tiny-shared-clip")
    for f in tiny_bert_dir.iterdir():
        if f.suffix in (".json", ".txt"):
            shutil.copy(f, out / f.name)
    model_cfg = {
        "embed_dim": 32,
        "custom_text": True,
        "vision_cfg": TINY_VISION,
        "text_cfg": {
            "hf_model_name": str(tiny_bert_dir),
            "hf_tokenizer_name": str(tiny_bert_dir),
            "hf_pooler_type": "mean_pooler",
            "hf_proj_type": None,
            "hf_model_pretrained": True,
            "context_length": 64,
        },
    }
    torch.manual_seed(1)
    _save_open_clip(
        out,
        model_cfg,
        open_clip.CustomTextCLIP(**{k: v for k, v in model_cfg.items() if k != "custom_text"}),
    )
    return out


@pytest.fixture(scope="session")
def real_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder for the tests with the real default models.

    Shared by the session, so the e5 rebuild and the CLIP assembly happen once,
    and never in the user's own data folder.
    """
    return tmp_path_factory.mktemp("semsearch-home")


@pytest.fixture(scope="session")
def real_env(real_home: Path) -> dict[str, str]:
    """The environment of a `semsearch` subprocess that uses `real_home`, hub off."""
    return {**os.environ, "SEMSEARCH_HOME": str(real_home), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def _keep_torch_threads():  # type: ignore[no-untyped-def]
    """`semsearch search` runs torch on one thread for its whole process; a test that
    calls the CLI in this process must not leave the rest of the session on one."""
    import sys

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)
