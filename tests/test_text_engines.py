"""The text model on ONNX Runtime gives torch's vectors, and falls back to torch.

The tiny real BERT runs everywhere; the real e5-small runs in the e2e set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from searchengine.errors import ConfigError, ModelUnavailableError
from searchengine.models import text_backends
from searchengine.models.compact_tokenizer import CompactTokenizer
from searchengine.models.presets import resolve_text_model
from searchengine.models.sources import TextSource
from searchengine.models.text_encoder import TextEncoder

TEXTS = [
    "승용차를 사려면 무엇을 확인해야 하나요?",
    "자동차 구입 비용 보고서",
    "walking my puppy in the park",
    "the car engine and the road tax " * 20,  # long: others in its batch get padded
    "x",
    "강아지 산책",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(a * b, axis=1))


def source(folder: Path) -> TextSource:
    return TextSource("tiny", str(folder), "test", "query: ", "passage: ")


def test_onnx_gives_the_torch_vectors(tiny_bert_dir: Path, tmp_path: Path) -> None:
    onnx = TextEncoder(source(tiny_bert_dir), batch_size=4, model_cache=tmp_path)
    torch_ = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch")
    for role in ("query", "passage"):
        a, b = onnx.encode(TEXTS, role), torch_.encode(TEXTS, role)  # type: ignore[arg-type]
        assert onnx.engine == "onnx" and torch_.engine == "torch"
        assert cosines(a, b).min() >= 0.9999
    assert onnx.fingerprint == torch_.fingerprint  # an index built by one accepts the other
    assert (onnx.dim, onnx.max_tokens) == (torch_.dim, torch_.max_tokens)


def test_auto_encodes_big_passage_batches_on_torch(tiny_bert_dir: Path, tmp_path: Path) -> None:
    many = [f"{t} {i}" for i in range(3) for t in TEXTS]  # 18 passages: a real batch
    auto = TextEncoder(source(tiny_bert_dir), batch_size=4, model_cache=tmp_path)
    onnx = TextEncoder(source(tiny_bert_dir), batch_size=4, model_cache=tmp_path, engine="onnx")
    auto.encode(["one query"], "query")
    assert (auto.engine, auto.batch_engine) == ("onnx", "onnx")  # queries: no torch load
    a, b = auto.encode(many), onnx.encode(many)
    assert (auto.engine, auto.batch_engine) == ("onnx", "torch")
    assert onnx.batch_engine == "onnx" and cosines(a, b).min() >= 0.9999
    assert auto.fingerprint == onnx.fingerprint
    # one copy of the input embeddings: torch reads the export's memory-mapped table
    table = auto._backend.table  # type: ignore[union-attr]
    weight = auto._batch_backend.model.get_input_embeddings().weight  # type: ignore[union-attr]
    assert np.shares_memory(weight.detach().numpy(), table)
    plain = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch")
    assert np.array_equal(a, plain.encode(many))  # the same vectors, bit for bit


def test_torch_batches_free_the_onnx_session_until_a_query(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """An indexing process holds one text engine: once torch encodes the batches, the
    ONNX session is freed (small batches go to torch too), and a query opens it again."""
    many = [f"{t} {i}" for i in range(3) for t in TEXTS]
    auto = TextEncoder(source(tiny_bert_dir), batch_size=4, model_cache=tmp_path)
    query = auto.encode(["one query"], "query")
    onnx_backend = auto._backend
    assert onnx_backend is not None and onnx_backend.session is not None  # type: ignore[union-attr]
    auto.encode(many)
    assert auto.batch_engine == "torch" and onnx_backend.session is None  # type: ignore[union-attr]
    few = auto.encode(TEXTS[:2])  # below BATCH_ON_TORCH, but torch is loaded: torch
    assert onnx_backend.session is None  # type: ignore[union-attr]
    plain = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch")
    assert np.array_equal(few, plain.encode(TEXTS[:2]))
    again = auto.encode(["one query"], "query")  # the session opens again
    assert onnx_backend.session is not None  # type: ignore[union-attr]
    assert np.array_equal(query, again)


def test_a_call_tokenized_a_slice_at_a_time_keeps_each_passage_its_vector(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big document's passages are tokenized a slice at a time (their ids kept as
    compact arrays): each row is still its own passage's vector, sorted into batches by
    length across the slices and put back in order."""
    many = [f"{t} {i}" for i in range(4) for t in TEXTS]  # 24 passages, lengths mixed
    enc = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch")
    whole = enc.encode(many)
    monkeypatch.setattr("searchengine.models.text_encoder.TOKENIZE_SLICE", 5)
    sliced = enc.encode(many)
    assert np.array_equal(sliced, whole)
    alone = np.concatenate([enc.encode([t]) for t in many[:7]])
    assert cosines(sliced[:7], alone).min() >= 0.9999  # row i is passage i


def test_released_batches_go_to_onnx_until_the_next_run_prepares_them(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """`release_batches` (an indexing run's texts are done, its pictures come next) frees
    the torch model; passages go to ONNX Runtime, with the same vectors, until
    `prepare_batches` (the next run's texts) lets torch take big batches again."""
    many = [f"{t} {i}" for i in range(3) for t in TEXTS]
    auto = TextEncoder(source(tiny_bert_dir), batch_size=4, model_cache=tmp_path)
    on_torch = auto.encode(many)
    assert auto.batch_engine == "torch"
    auto.release_batches()
    assert auto._batch_backend is None and auto.batch_engine == "onnx"
    on_onnx = auto.encode(many)
    assert auto._batch_backend is None  # not loaded again for a picture's words
    assert cosines(on_torch, on_onnx).min() >= 0.9999
    auto.prepare_batches(len(many))
    assert auto.batch_engine == "torch"
    assert np.array_equal(auto.encode(many), on_torch)


def test_a_table_of_other_weights_is_not_shared(tiny_bert_dir: Path) -> None:
    backend = text_backends.TorchBackend(source(tiny_bert_dir))
    own = backend.model.get_input_embeddings().weight.detach().numpy().copy()
    assert not backend.share_embeddings(own + 1.0)  # other values
    assert not backend.share_embeddings(own[:-1])  # another shape
    assert backend.share_embeddings(own)
    assert np.shares_memory(backend.model.get_input_embeddings().weight.detach().numpy(), own)


def _in_checkpoint_map(tensors: list, checkpoint: Path) -> int:
    """How many of `tensors` lie in memory mapped from `checkpoint` (Linux's maps)."""
    spans = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and Path(fields[5]) == checkpoint.resolve():
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            spans.append((lo, hi))
    return sum(any(lo <= t.data_ptr() < hi for lo, hi in spans) for t in tensors)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_sharing_the_table_lets_the_checkpoint_map_close(tiny_bert_dir: Path) -> None:
    """Once torch reads the export's table, no weight views the checkpoint's memory map
    any more (its pages, read in whole by the fingerprint, would stay resident)."""
    checkpoint = tiny_bert_dir / "model.safetensors"
    backend = text_backends.TorchBackend(source(tiny_bert_dir))
    weights = [*backend.model.parameters(), *backend.model.buffers()]
    assert _in_checkpoint_map(weights, checkpoint) > 0  # transformers maps the file
    ids, mask = np.array([[0, 1, 2]]), np.ones((1, 3), dtype=np.int64)
    before = backend.run(ids, mask)
    table = backend.model.get_input_embeddings().weight.detach().numpy().copy()
    assert backend.share_embeddings(table)
    weights = [*backend.model.parameters(), *backend.model.buffers()]
    assert _in_checkpoint_map(weights, checkpoint) == 0
    assert np.array_equal(before, backend.run(ids, mask))


def test_preparing_loads_torch_only_for_a_batch_that_goes_there(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    auto = TextEncoder(source(tiny_bert_dir), batch_size=4, model_cache=tmp_path)
    auto.prepare_batches(3)  # an update of a few small files: ONNX Runtime does it
    assert (auto.engine, auto.batch_engine) == ("onnx", "onnx")
    auto.prepare_batches(16)
    assert auto.batch_engine == "torch"


def test_batches_sorted_by_length_keep_each_row_in_place(tiny_bert_dir: Path, tmp_path) -> None:
    encoder = TextEncoder(source(tiny_bert_dir), batch_size=2, model_cache=tmp_path)
    together = encoder.encode(TEXTS)
    alone = np.vstack([encoder.encode([t]) for t in TEXTS])
    assert cosines(together, alone).min() >= 0.9999


def test_batches_are_made_by_tokens_not_characters(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are sorted by their token count before batching (characters per token vary:
    a Korean character is worth about three English ones, a digit list one each), so
    each batch pads only to its own longest text."""
    widths: list[int] = []
    real_run = text_backends.TorchBackend.run

    def run(self, ids: np.ndarray, mask: np.ndarray, **kw):  # type: ignore[no-untyped-def]
        widths.append(ids.shape[1])
        assert np.array_equal(mask.sum(1), (ids != 0).sum(1))  # padded with the pad id, 0
        return real_run(self, ids, mask, **kw)

    monkeypatch.setattr(text_backends.TorchBackend, "run", run)
    encoder = TextEncoder(source(tiny_bert_dir), batch_size=2, engine="torch")
    texts = [
        "invoice money bank report meeting project deadline",
        "1,2,3,4,5",
        "weather rain",
        "산책",
    ]
    tokens = [len(encoder.tokenizer("passage: " + t, truncation=True)["input_ids"]) for t in texts]

    def batch_widths(order: list[int]) -> list[int]:
        return [max(tokens[i] for i in order[n : n + 2]) for n in range(0, len(order), 2)]

    by_tokens = batch_widths(sorted(range(len(texts)), key=lambda i: tokens[i]))
    by_chars = batch_widths(sorted(range(len(texts)), key=lambda i: len(texts[i])))
    assert sum(by_chars) > sum(by_tokens)  # these texts tell the two orders apart
    vectors = encoder.encode(texts)
    assert widths == by_tokens
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert cosines(vectors, alone).min() >= 0.9999  # each row back in its place


def test_the_graph_is_exported_once(tiny_bert_dir: Path, tmp_path: Path) -> None:
    said: list[str] = []
    TextEncoder(source(tiny_bert_dir), model_cache=tmp_path, on_status=said.append).encode(["w"])
    assert len(said) == 1 and "one time" in said[0]  # the user is told what the wait is
    (folder,) = (tmp_path / "onnx").iterdir()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["ok"] and meta["min_cosine"] >= 0.9999
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    again = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path, on_status=said.append)
    again.encode(["warm"])
    assert again.engine == "onnx" and (folder / "model.onnx").stat().st_mtime_ns == stamp
    assert len(said) == 1


@pytest.mark.subprocess
def test_a_query_on_onnx_imports_neither_torch_nor_transformers(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    TextEncoder(source(tiny_bert_dir), model_cache=tmp_path).encode(["warm"])  # exported
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from searchengine.models.sources import TextSource\n"
        "from searchengine.models.text_encoder import TextEncoder\n"
        f"src = TextSource('tiny', {str(tiny_bert_dir)!r}, 'test', 'query: ', 'passage: ')\n"
        f"e = TextEncoder(src, model_cache=Path({str(tmp_path)!r}), threads=1)\n"
        "e.encode(['자동차'], 'query')\n"
        "print(e.engine, 'torch' in sys.modules or 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["onnx", "False"]


def test_a_graph_that_fails_the_check_falls_back_to_torch(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_backends, "MIN_COSINE", 1.5)  # no graph can pass
    encoder = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path)
    vectors = encoder.encode(TEXTS)
    assert encoder.engine == "torch" and vectors.shape == (len(TEXTS), encoder.dim)
    (folder,) = (tmp_path / "onnx").iterdir()
    meta = json.loads((folder / "meta.json").read_text())
    assert not meta["ok"] and "cosine" in meta["reason"]
    assert not (folder / "model.onnx").exists()  # nothing half-made is kept
    again = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path)
    again.encode(["warm"])  # the failure is remembered: torch at once, no new export
    assert again.engine == "torch"
    with pytest.raises(ModelUnavailableError):
        TextEncoder(source(tiny_bert_dir), model_cache=tmp_path, engine="onnx").encode(["x"])


@pytest.mark.parametrize("damage", ["model.onnx", "embeddings.npy"])
def test_a_damaged_graph_falls_back_to_torch_then_is_exported_again(
    tiny_bert_dir: Path, tmp_path: Path, damage: str
) -> None:
    first = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path)
    expected = first.encode(TEXTS)
    (folder,) = (tmp_path / "onnx").iterdir()
    (folder / damage).write_bytes(b"cut short")
    hurt = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path)
    assert cosines(hurt.encode(TEXTS), expected).min() >= 0.9999 and hurt.engine == "torch"
    healed = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path)
    assert cosines(healed.encode(TEXTS), expected).min() >= 0.9999 and healed.engine == "onnx"


def test_no_onnxruntime_means_torch(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    encoder = TextEncoder(source(tiny_bert_dir), model_cache=tmp_path)
    encoder.encode(["x"])
    assert encoder.engine == "torch"


def test_an_unknown_engine_is_a_config_error(tiny_bert_dir: Path) -> None:
    with pytest.raises(ConfigError) as err:
        TextEncoder(source(tiny_bert_dir), engine="tpu")  # type: ignore[arg-type]
    assert err.value.parameter == "text_engine"


@pytest.mark.e2e
def test_e5_small_on_onnx_gives_the_torch_vectors(real_home: Path) -> None:
    cache = real_home / "models"
    src = resolve_text_model("e5-small", cache)
    onnx = TextEncoder(src, model_cache=cache)
    torch_ = TextEncoder(src, engine="torch")
    for role in ("query", "passage"):
        a, b = onnx.encode(TEXTS, role), torch_.encode(TEXTS, role)  # type: ignore[arg-type]
        assert onnx.engine == "onnx" and cosines(a, b).min() >= 0.9999
    assert onnx.fingerprint == torch_.fingerprint
    # with a model cache the pieces live in a dict, not tokenizers' 281 MB trie: the same
    # ids (the vectors above) and the same offsets, which chunking cuts by
    assert isinstance(onnx.tokenizer, CompactTokenizer)
    assert not isinstance(torch_.tokenizer, CompactTokenizer)
    for text in TEXTS:
        assert onnx.token_spans(text) == torch_.token_spans(text)


def test_bf16_passage_batches_on_a_cpu_that_has_it(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`precision="bf16"` runs big passage batches' products in bfloat16 where the CPU
    has the instructions (here: said it has); queries stay fp32, vectors stay close."""
    from searchengine.models import text_encoder

    monkeypatch.setattr(text_encoder, "cpu_has_bf16", lambda: True)
    many = [f"{t} {i}" for i in range(3) for t in TEXTS]
    exact = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch")
    low = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch", precision="bf16")
    a, b = exact.encode(many), low.encode(many)
    assert not np.array_equal(a, b)  # it did run in bf16 ...
    assert cosines(a, b).min() >= 0.99  # ... and lands next to fp32 (e5-small: 0.99999)
    assert np.array_equal(exact.encode(many[:3], "query"), low.encode(many[:3], "query"))
    assert low.fingerprint == exact.fingerprint and low.precision == "bf16"


def test_bf16_without_the_instructions_stays_fp32_and_says_so(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from searchengine.models import text_encoder

    monkeypatch.setattr(text_encoder, "cpu_has_bf16", lambda: False)
    said: list[str] = []
    many = [f"{t} {i}" for i in range(3) for t in TEXTS]
    low = TextEncoder(
        source(tiny_bert_dir), engine="torch", precision="bf16", on_status=said.append
    )
    exact = TextEncoder(source(tiny_bert_dir), engine="torch")
    assert np.array_equal(low.encode(many), exact.encode(many))
    assert low.precision == "fp32" and len(said) == 1 and "no bfloat16" in said[0]
    with pytest.raises(ConfigError, match="unknown text precision"):
        TextEncoder(source(tiny_bert_dir), precision="int3")  # type: ignore[arg-type]


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_precision_is_bf16_where_the_cpu_has_it_and_fp32_silently_elsewhere(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch, has_bf16: bool
) -> None:
    """The default ("auto") needs no flag: bf16 batches on a CPU with the instructions,
    exact fp32 on one without (detection forced either way), and no word about it."""
    from searchengine.models import text_encoder

    monkeypatch.setattr(text_encoder, "cpu_has_bf16", lambda: has_bf16)
    said: list[str] = []
    many = [f"{t} {i}" for i in range(3) for t in TEXTS]
    auto = TextEncoder(
        source(tiny_bert_dir), batch_size=4, engine="torch", precision="auto", on_status=said.append
    )
    exact = TextEncoder(source(tiny_bert_dir), batch_size=4, engine="torch", precision="fp32")
    assert auto.precision == "auto" and auto.passage_precisions == set()
    a, b = auto.encode(many), exact.encode(many)
    assert np.array_equal(a, b) is not has_bf16
    assert cosines(a, b).min() >= 0.99
    expected = "bf16" if has_bf16 else "fp32"
    assert auto.precision == expected and auto.passage_precisions == {expected}
    assert exact.passage_precisions == {"fp32"} and said == []
    auto.encode(many[:3], "query")  # queries are fp32 and are not passages
    assert auto.passage_precisions == {expected}


def test_cpu_has_bf16_reads_the_flags() -> None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    expected = any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
    assert text_backends.cpu_has_bf16() == expected


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_table_is_mapped_as_numpy_saved_it(tmp_path: Path, order: str) -> None:
    saved = np.asfortranarray if order == "F" else np.ascontiguousarray
    table = saved(np.arange(60, dtype=np.float32).reshape(12, 5) / 7)
    np.save(tmp_path / "t.npy", table)
    mapped = text_backends.mapped_rows(tmp_path / "t.npy")
    assert mapped.shape == (12, 5) and mapped.dtype == np.float32
    assert np.array_equal(mapped, table) and np.array_equal(mapped[[3, 0, 11]], table[[3, 0, 11]])
    assert not mapped.flags.writeable  # read-only pages: inference never writes them


def test_a_local_folder_keeps_the_prefixes_its_model_was_trained_with(tmp_path: Path) -> None:
    """A fine-tuned e5 saved under a name of its own keeps e5's prefixes: from the prompts
    the folder declares (sentence-transformers) or the checkpoint its config names; a
    folder that says nothing gets none, and an e5 name still gets them."""

    def folder(name: str, config: dict[str, object], prompts: dict[str, str] | None = None) -> str:
        path = tmp_path / name
        path.mkdir()
        (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
        if prompts is not None:
            st = {"prompts": prompts, "default_prompt_name": None}
            (path / "config_sentence_transformers.json").write_text(json.dumps(st), "utf-8")
        return str(path)

    def prefixes(spec: str) -> tuple[str, str]:
        src = resolve_text_model(spec, tmp_path / "models")
        return src.query_prefix, src.passage_prefix

    e5 = ("query: ", "passage: ")
    origin = {"_name_or_path": "intfloat/multilingual-e5-small"}
    assert prefixes(folder("my-ko-model", origin)) == e5
    declared = {"query": "Q: ", "document": "D: "}
    assert prefixes(folder("tuned", {"model_type": "bert"}, declared)) == ("Q: ", "D: ")
    assert prefixes(folder("plain-bert", {"model_type": "bert"})) == ("", "")
    assert prefixes(folder("e5-small-ko-ft", {"model_type": "bert"})) == e5
    broken = folder("broken", {"model_type": "bert"})
    (Path(broken) / "config_sentence_transformers.json").write_text("{not json", "utf-8")
    assert prefixes(broken) == ("", "")
