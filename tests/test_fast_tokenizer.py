"""FastTokenizer (tokenizers alone) gives exactly what transformers' tokenizer gives."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest

from searchengine.models.fast_tokenizer import FastTokenizer, Unsupported

TEXTS = [
    "승용차를 사려면 무엇을 확인해야 하나요?",
    unicodedata.normalize("NFD", "자동차 구입 비용"),  # decomposed Hangul
    "walking my puppy in the park",
    "the car engine and the road tax " * 200,  # past any model's limit: truncated
    "",
    "   \t\n  ",
    "x",
    "東京タワー 🚗🐶 café naïve",
    "zero\u200bwidth space and <s> <pad> </s> <unk> written out",
    "os.path.join(dpkg-divert) v2.3.1 — “quotes” ½",
]


def _compare(folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    ours, theirs = FastTokenizer(folder), PreTrainedTokenizerFast.from_pretrained(folder)
    assert ours.model_max_length == theirs.model_max_length or ours.model_max_length is None
    for text in TEXTS:  # one text, as token_spans and prefix_tokens ask
        for special in (True, False):
            kw = {"add_special_tokens": special, "return_offsets_mapping": True}
            a, b = ours(text, **kw), theirs(text, **kw)
            assert a["input_ids"] == b["input_ids"], text
            assert a["attention_mask"] == b["attention_mask"]
            assert [tuple(x) for x in a["offset_mapping"]] == [
                tuple(x) for x in b["offset_mapping"]
            ]
    for max_length in (8, 64, 512):  # batches, as encode asks
        kw = {"padding": True, "truncation": True, "max_length": max_length}
        a, b = ours(TEXTS, return_tensors="np", **kw), theirs(TEXTS, return_tensors="np", **kw)
        assert a["input_ids"].dtype == b["input_ids"].dtype
        assert (a["input_ids"] == b["input_ids"]).all() and a["input_ids"].shape[1] <= max_length
        assert (a["attention_mask"] == b["attention_mask"]).all()


def test_the_tiny_bert_tokenizer_matches_transformers(tiny_bert_dir: Path) -> None:
    _compare(tiny_bert_dir)


@pytest.mark.e2e
def test_the_e5_tokenizer_matches_transformers(real_home: Path) -> None:
    from searchengine.models.presets import resolve_text_model

    _compare(Path(resolve_text_model("e5-small", real_home / "models").location))


def test_a_left_padding_tokenizer_goes_to_transformers(tiny_bert_dir: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    from searchengine.models.text_encoder import _load_tokenizer

    folder = tmp_path / "left"
    shutil.copytree(tiny_bert_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left"}))
    with pytest.raises(Unsupported):
        FastTokenizer(folder)
    tokenizer = _load_tokenizer(str(folder))
    assert not isinstance(tokenizer, FastTokenizer) and tokenizer.padding_side == "left"


def test_a_damaged_tokenizer_file_is_a_clear_error(tiny_bert_dir: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from searchengine.errors import ModelUnavailableError
    from searchengine.models.sources import TextSource
    from searchengine.models.text_encoder import TextEncoder

    folder = tmp_path / "damaged"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "tokenizer.json").write_text("{not json")
    encoder = TextEncoder(TextSource("tiny", str(folder), "test", "", ""), engine="torch")
    with pytest.raises(ModelUnavailableError, match="tokenizer.json"):
        encoder.encode(["x"])


# --- QueryTokenizer: a query's ids without building the Unigram model -------------------


def _unigram_folder(tmp_path: Path, seed: int) -> Path:
    """A small random Unigram tokenizer (pieces over a 5-letter alphabet, scores with many
    ties, some repeated pieces), with e5's kind of normalizer, pre-tokenizer and template."""
    import random

    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    rng = random.Random(seed)
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    for _ in range(120):
        piece = ("▁" if rng.random() < 0.3 else "") + "".join(
            rng.choice("abcde") for _ in range(rng.randint(1, 4))
        )
        vocab.append((piece, float(rng.choice([-1, -2, -2.5, -3, -4, -7]))))
    vocab += [("a", -1.0), ("b", -1.0), ("▁", -2.0)]  # "c", "d", "e" alone may be unknown
    tk = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    tk.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    tk.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    folder = tmp_path / f"unigram{seed}"
    folder.mkdir()
    tk.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 64, "pad_token": "<pad>"}')
    return folder


@pytest.mark.parametrize("seed", range(4))
def test_query_ids_match_the_unigram_model(tmp_path: Path, seed: int) -> None:
    """Random pieces with tied scores, unknown characters (fused), repeated pieces: the
    same ids as tokenizers' own Viterbi, or None (then the full tokenizer answers)."""
    import random

    from searchengine.models.query_tokenizer import QueryTokenizer

    folder = _unigram_folder(tmp_path, seed)
    ours, full = QueryTokenizer.load(folder, tmp_path / "cache"), FastTokenizer(folder)
    assert ours is not None
    rng = random.Random(seed)
    for _ in range(400):
        text = "".join(rng.choice("abcdexyz  ") for _ in range(rng.randint(0, 30)))
        ids = ours.ids(text, 64)
        expected = full(text)["input_ids"]
        assert ids == (expected if len(expected) <= 64 else None), text
    assert ours.ids("ab <s> cd", 64) is None  # an added token's text: the full tokenizer's
    assert QueryTokenizer.load(folder, tmp_path / "cache") is not None  # from its cache now


def test_a_damaged_query_tokenizer_cache_is_made_again(tmp_path: Path) -> None:
    from searchengine.models.query_tokenizer import QueryTokenizer

    folder = _unigram_folder(tmp_path, 0)
    expected = QueryTokenizer.load(folder, tmp_path / "cache")
    assert expected is not None
    (pieces,) = (tmp_path / "cache").rglob("pieces.txt")
    pieces.write_text("\n".join(pieces.read_text(encoding="utf-8").split("\n")[:-5]))
    again = QueryTokenizer.load(folder, tmp_path / "cache")  # cut short: read from the source
    assert again is not None and again.ids("abcde ab", 64) == expected.ids("abcde ab", 64)
    assert len(pieces.read_text(encoding="utf-8").split("\n")) == len(again._scores)  # mended


def test_a_wordpiece_tokenizer_has_no_query_tokenizer(tiny_bert_dir: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from searchengine.models.query_tokenizer import QueryTokenizer

    assert QueryTokenizer.load(tiny_bert_dir, tmp_path) is None
    assert QueryTokenizer.load(tiny_bert_dir, tmp_path) is None  # remembered, still None


@pytest.mark.e2e
def test_e5_query_ids_match_on_the_shipped_queries(real_home: Path) -> None:
    from searchengine.models.presets import resolve_text_model
    from searchengine.models.query_tokenizer import QueryTokenizer

    root = Path(__file__).resolve().parent.parent
    texts = [*TEXTS]
    for tsv in sorted((root / "evalsets").rglob("*.tsv")):
        for line in tsv.read_text(encoding="utf-8").splitlines():
            texts.extend(field for field in line.split("\t") if len(field) > 1)
    assert len(texts) > 1000
    folder = Path(resolve_text_model("e5-small", real_home / "models").location)
    ours, full = QueryTokenizer.load(folder, real_home / "models"), FastTokenizer(folder)
    assert ours is not None
    for text in texts:
        ids = ours.ids("query: " + text, 512)
        expected = full("query: " + text)["input_ids"]
        assert ids == (expected if len(expected) <= 512 and "<s>" not in text else None), text


@pytest.mark.e2e
def test_a_one_shot_query_never_builds_the_full_tokenizer(real_home: Path) -> None:
    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_encoder import TextEncoder

    src = resolve_text_model("e5-small", real_home / "models")
    light = TextEncoder(src, model_cache=real_home / "models")
    query = light.encode(["승용차를 사려면"], "query")
    assert light._tokenizer is None  # the query went through the QueryTokenizer
    both = light.encode(["승용차를 사려면", "x"], "query")  # a batch: the full tokenizer
    assert light._tokenizer is not None
    assert np.allclose(query[0], both[0], atol=1e-6)
    indexer = TextEncoder(src, model_cache=real_home / "models")
    indexer.encode(["자동차 구입 가이드", "예산과 보험"])  # passages: the full tokenizer
    again = indexer.encode(["승용차를 사려면"], "query")
    assert not indexer._query_tried  # an indexing process never makes a QueryTokenizer
    assert np.allclose(query, again, atol=1e-6)
